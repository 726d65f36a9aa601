import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import {
  ConfigError,
  DEFAULT_CACHE,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_KEYS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  formatConfigPath,
  parseConfig,
  type ParseConfigOptions,
  type VouchConfig,
} from '../../../src/config/index.js';

const FILE = '/etc/vouch/config.yaml';
const JSON_FILE = '/etc/vouch/config.json';

const MINIMAL = `
environments:
  prod:
    trustPolicy: trustpolicy.json
    trustStore: truststore
`;

/** The core keys of docs/configuration.md. */
const INTERFACE_EXAMPLE = `
server:
  address: 127.0.0.1:8443          # Gatekeeper HTTP(S) endpoints; port 0 = any free port
  grpcAddress: 127.0.0.1:9443      # gRPC; omit to disable
  tls:
    certFile: tls.crt
    keyFile: tls.key
    clientCAFile: ca.crt
  requestTimeoutMs: 2900

defaultEnvironment: prod

environments:
  prod:
    trustPolicy: trustpolicy.prod.json
    trustStore: truststore-prod
    policy: prod-decision.tar.gz
  staging:
    trustPolicy: trustpolicy.staging.json
    trustStore: truststore-staging

registries:
  "127.0.0.1:5000":
    plainHttp: true
    username: alice
    password: secret
`;

function parse(text: string, options?: ParseConfigOptions, file = FILE): VouchConfig {
  return parseConfig(text, file, options);
}

/**
 * Asserts INVALID_CONFIG (a ConfigError) with an issue at `path`, whose message line reads
 * `<file>:<line>:<col>: <path>: ` and matches `what`.
 */
function rejects(
  t: import('ava').ExecutionContext,
  text: string,
  path: string,
  what: RegExp,
  options?: ParseConfigOptions,
  file = FILE,
): void {
  const error = t.throws(() => parse(text, options, file), { instanceOf: ConfigError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.true(
    error?.issues.some((issue) => formatConfigPath(issue.path) === path),
    `expected an issue at ${path}, got: ${error?.message}`,
  );
  const start = new RegExp(`^${escape(file)}:\\d+:\\d+: ${escape(path)}: `);
  const line = error?.message.split('\n').find((l) => start.test(l));
  t.true(line !== undefined, `expected a line ${file}:L:C: ${path}: …, got: ${error?.message}`);
  t.regex(line ?? '', what);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- the interface example and defaults --------------------------------------------------------------

test('parseConfig: reads the example with the core keys', (t) => {
  const config = parse(INTERFACE_EXAMPLE);
  t.is(config.file, FILE);
  t.deepEqual(config.server.address, { host: '127.0.0.1', port: 8443 });
  t.deepEqual(config.server.grpcAddress, { host: '127.0.0.1', port: 9443 });
  t.deepEqual(config.server.tls, { certFile: '/etc/vouch/tls.crt', keyFile: '/etc/vouch/tls.key', clientCAFile: '/etc/vouch/ca.crt' });
  t.is(config.server.requestTimeoutMs, 2900);
  t.is(config.defaultEnvironment, 'prod');
  t.deepEqual([...config.environments.keys()], ['prod', 'staging']);
  t.deepEqual(config.environments.get('staging'), {
    name: 'staging',
    trustPolicy: '/etc/vouch/trustpolicy.staging.json',
    trustStore: '/etc/vouch/truststore-staging',
    cosign: undefined,
    policy: undefined,
  });
  t.is(config.environments.get('prod')?.policy, '/etc/vouch/prod-decision.tar.gz');
  t.deepEqual(config.registries.get('127.0.0.1:5000'), {
    host: '127.0.0.1:5000',
    plainHttp: true,
    username: 'alice',
    password: 'secret',
    passwordFromEnv: undefined,
    ociLayout: undefined,
  });
  t.is(config.allowedRegistries, undefined);
});

test('parseConfig: defaults for everything optional', (t) => {
  const config = parse(MINIMAL);
  t.deepEqual(config.server, {
    address: { host: '127.0.0.1', port: 8443 },
    grpcAddress: undefined,
    healthAddress: undefined,
    tls: undefined,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    mutateTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    maxKeys: DEFAULT_MAX_KEYS,
  });
  // 500 ms inside the `vouch` Provider's 2 s (deploy/base/provider.yaml; test/deploy checks the pair).
  t.is(config.server.requestTimeoutMs, 1500);
  t.is(config.server.keepAliveTimeoutMs, 5000);
  t.is(config.server.maxConnections, 1000);
  t.is(config.server.maxRequestBytes, 1024 * 1024);
  t.is(config.server.maxKeys, 1000);
  t.is(config.defaultEnvironment, 'prod', 'the only environment is the default');
  t.is(config.registries.size, 0);
  t.deepEqual(config.cache, { ...DEFAULT_CACHE });
  // The engine's defaults (src/verify), not a second set.
  t.deepEqual(config.cache, { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, undecidedTtlMs: 0, tagTtlMs: 10_000 });
  t.deepEqual(config.revocation, { offline: false, crlDirectory: undefined, timestampRevocation: 'check', allowedHosts: undefined });
});

test('parseConfig: server connection keys; mutateTimeoutMs follows requestTimeoutMs unless given', (t) => {
  const config = parse(`${MINIMAL}server: { requestTimeoutMs: 1200, keepAliveTimeoutMs: 0, maxConnections: 20 }\n`);
  t.is(config.server.requestTimeoutMs, 1200);
  t.is(config.server.mutateTimeoutMs, 1200);
  t.is(config.server.keepAliveTimeoutMs, 0);
  t.is(config.server.maxConnections, 20);
  t.is(parse(`${MINIMAL}server: { requestTimeoutMs: 1200, mutateTimeoutMs: 600 }\n`).server.mutateTimeoutMs, 600);
});

test('parseConfig: the same configuration as JSON', (t) => {
  const json = JSON.stringify({
    server: { address: '0.0.0.0:0', requestTimeoutMs: 1000 },
    defaultEnvironment: 'prod',
    environments: { prod: { trustPolicy: 'tp.json', trustStore: 'store' } },
    registries: { 'ghcr.io': { username: 'u', password: 'p' } },
  });
  const config = parse(json, {}, JSON_FILE);
  t.deepEqual(config.server.address, { host: '0.0.0.0', port: 0 });
  t.is(config.server.requestTimeoutMs, 1000);
  t.is(config.environments.get('prod')?.trustPolicy, '/etc/vouch/tp.json');
  t.is(config.registries.get('ghcr.io')?.username, 'u');
});

test('parseConfig: extension keys', (t) => {
  const config = parse(
    `${MINIMAL}
server:
  maxRequestBytes: 2048
  maxKeys: 10
allowedRegistries: [ghcr.io, "*.example.com", "127.0.0.1:5000", docker.io]
registries:
  registry.local:5000:
    ociLayout: ./layouts/local
cache:
  maxEntries: 0
  maxBytes: 1024
  undecidedTtlMs: 500
  tagTtlMs: 0
revocation:
  offline: true
  crlDirectory: crls
  timestampRevocation: skip
  allowedHosts: [crl.example.com, "*.ocsp.example.com"]
`,
  );
  t.is(config.server.maxRequestBytes, 2048);
  t.is(config.server.maxKeys, 10);
  t.deepEqual(config.allowedRegistries, ['ghcr.io', '*.example.com', '127.0.0.1:5000', 'registry-1.docker.io']);
  t.is(config.registries.get('registry.local:5000')?.ociLayout, '/etc/vouch/layouts/local');
  t.deepEqual(config.cache, { maxEntries: 0, maxBytes: 1024, undecidedTtlMs: 500, tagTtlMs: 0 });
  t.deepEqual(config.revocation, {
    offline: true,
    crlDirectory: '/etc/vouch/crls',
    timestampRevocation: 'skip',
    allowedHosts: ['crl.example.com', '*.ocsp.example.com'],
  });
});

// ---- paths ----------------------------------------------------------------------------------------------

test('parseConfig: relative paths resolve against the config file directory, absolute paths stay', (t) => {
  const config = parse(
    `
environments:
  prod: { trustPolicy: ../policies/tp.json, trustStore: /var/lib/vouch/store }
revocation: { crlDirectory: ./crl }
server: { tls: { certFile: certs/tls.crt, keyFile: /secrets/tls.key } }
`,
    {},
    '/opt/app/conf/vouch.yaml',
  );
  t.is(config.environments.get('prod')?.trustPolicy, '/opt/app/policies/tp.json');
  t.is(config.environments.get('prod')?.trustStore, '/var/lib/vouch/store');
  t.is(config.revocation.crlDirectory, '/opt/app/conf/crl');
  t.is(config.server.tls?.certFile, '/opt/app/conf/certs/tls.crt');
  t.is(config.server.tls?.keyFile, '/secrets/tls.key');
  t.is(config.server.tls?.clientCAFile, undefined);
});

test('parseConfig: a relative config file path anchors at the working directory', (t) => {
  const config = parse(MINIMAL, {}, 'deploy/vouch.yaml');
  t.is(config.file, `${process.cwd()}/deploy/vouch.yaml`);
  t.is(config.environments.get('prod')?.trustStore, `${process.cwd()}/deploy/truststore`);
});

// ---- unknown keys ------------------------------------------------------------------------------------

const unknownKeys: Array<[string, string, string]> = [
  ['top level', `${MINIMAL}serverr: {}\n`, 'serverr'],
  ['server', `${MINIMAL}server: { adress: 127.0.0.1:1 }\n`, 'server.adress'],
  ['tls', `${MINIMAL}server: { tls: { certFile: a, keyFile: b, caFile: c } }\n`, 'server.tls.caFile'],
  ['environment', 'environments:\n  prod:\n    trustPolicy: a\n    trustStore: b\n    trustPolcy: c\n', 'environments.prod.trustPolcy'],
  ['registry', `${MINIMAL}registries:\n  ghcr.io: { plainHTTP: true }\n`, 'registries["ghcr.io"].plainHTTP'],
  ['cache', `${MINIMAL}cache: { ttl: 1 }\n`, 'cache.ttl'],
  ['revocation', `${MINIMAL}revocation: { ofline: true }\n`, 'revocation.ofline'],
];

for (const [where, text, path] of unknownKeys) {
  test(`parseConfig: an unknown key in ${where} is an error naming ${path}`, (t) => {
    rejects(t, text, path, /unknown key/);
  });
}

test('parseConfig: an unknown key suggests the closest known key and gives its line', (t) => {
  const error = t.throws(() => parse('environments:\n  prod:\n    trustPolicy: a\n    trustStore: b\n    trustPolcy: c\n'));
  t.is(
    error?.message,
    '/etc/vouch/config.yaml:5:5: environments.prod.trustPolcy: unknown key (did you mean trustPolicy?); known keys here: trustPolicy, trustStore, cosign, policy',
  );
});

test('parseConfig: every issue is reported, in file order, each with its code, path and position', (t) => {
  const text = [
    'server:',
    '  adress: 127.0.0.1:1',
    '  requestTimeoutMs: 0',
    'environments:',
    '  prod: { trustPolicy: a, trustStore: 5 }',
    'cache: { maxEntries: "many" }',
    'revocation:',
    '  offline:',
    '',
  ].join('\n');
  const error = t.throws(() => parse(text), { instanceOf: ConfigError });
  t.deepEqual(
    error?.issues.map((i) => [i.code, formatConfigPath(i.path), i.line, i.column]),
    [
      ['unknown_key', 'server.adress', 2, 3],
      ['out_of_range', 'server.requestTimeoutMs', 3, 21],
      ['wrong_type', 'environments.prod.trustStore', 5, 39],
      ['wrong_type', 'cache.maxEntries', 6, 22],
      ['no_value', 'revocation.offline', 8, 11],
    ],
  );
  t.is(
    error?.message,
    [
      '/etc/vouch/config.yaml:2:3: server.adress: unknown key (did you mean address?); known keys here: address, grpcAddress, healthAddress, tls, requestTimeoutMs, mutateTimeoutMs, keepAliveTimeoutMs, maxConnections, maxRequestBytes, maxKeys',
      '/etc/vouch/config.yaml:3:21: server.requestTimeoutMs: must be from 1 to 60000, got 0',
      '/etc/vouch/config.yaml:5:39: environments.prod.trustStore: expected a string (a file path), got the number 5',
      '/etc/vouch/config.yaml:6:22: cache.maxEntries: expected an integer from 0 to 100000000, got the string "many"',
      '/etc/vouch/config.yaml:8:11: revocation.offline: has no value (give one, or remove the key to use the default)',
    ].join('\n'),
  );
});

test('parseConfig: a missing key is reported at its mapping', (t) => {
  const error = t.throws(() => parse('environments:\n  prod:\n    trustStore: b\n'), { instanceOf: ConfigError });
  t.deepEqual(
    error?.issues.map((i) => [i.code, formatConfigPath(i.path), i.line, i.column]),
    [['missing_key', 'environments.prod.trustPolicy', 3, 5]],
  );
});

test('parseConfig: an environment policy is a .wasm, a bundle .tar.gz or a .rego, resolved against the file', (t) => {
  for (const file of ['p.wasm', 'bundle.tar.gz', 'decision.rego', '/abs/p.wasm']) {
    const config = parse(`environments:\n  prod: { trustPolicy: a, trustStore: b, policy: ${file} }\n`, {}, '/opt/app/conf/vouch.yaml');
    t.is(config.environments.get('prod')?.policy, file.startsWith('/') ? file : `/opt/app/conf/${file}`);
  }
  t.is(parse(MINIMAL).environments.get('prod')?.policy, undefined);
});

test('parseConfig: an environment policy of another kind, empty or not a string is rejected', (t) => {
  rejects(
    t,
    'environments:\n  prod: { trustPolicy: a, trustStore: b, policy: p.json }\n',
    'environments.prod.policy',
    /not a decision policy file/,
  );
  rejects(t, 'environments:\n  prod: { trustPolicy: a, trustStore: b, policy: bundle.tar }\n', 'environments.prod.policy', /\.tar\.gz/);
  rejects(t, "environments:\n  prod: { trustPolicy: a, trustStore: b, policy: '' }\n", 'environments.prod.policy', /must not be empty/);
  rejects(t, 'environments:\n  prod: { trustPolicy: a, trustStore: b, policy: 3 }\n', 'environments.prod.policy', /expected a string/);
});

// ---- types --------------------------------------------------------------------------------------------

const wrongTypes: Array<[string, string, string, RegExp]> = [
  ['document', '- a\n- b\n', '(document)', /expected a mapping, got a list/],
  ['server', `${MINIMAL}server: 8443\n`, 'server', /expected a mapping, got the number 8443/],
  ['address number', `${MINIMAL}server: { address: 8443 }\n`, 'server.address', /expected a string host:port/],
  [
    'requestTimeoutMs string',
    `${MINIMAL}server: { requestTimeoutMs: "2900" }\n`,
    'server.requestTimeoutMs',
    /expected an integer from 1 to 60000, got the string "2900"/,
  ],
  ['requestTimeoutMs fraction', `${MINIMAL}server: { requestTimeoutMs: 1.5 }\n`, 'server.requestTimeoutMs', /expected an integer/],
  ['requestTimeoutMs zero', `${MINIMAL}server: { requestTimeoutMs: 0 }\n`, 'server.requestTimeoutMs', /must be from 1 to 60000, got 0/],
  ['requestTimeoutMs too big', `${MINIMAL}server: { requestTimeoutMs: 60001 }\n`, 'server.requestTimeoutMs', /must be from 1 to 60000/],
  ['mutateTimeoutMs zero', `${MINIMAL}server: { mutateTimeoutMs: 0 }\n`, 'server.mutateTimeoutMs', /must be from 1 to 60000, got 0/],
  [
    'keepAliveTimeoutMs negative',
    `${MINIMAL}server: { keepAliveTimeoutMs: -1 }\n`,
    'server.keepAliveTimeoutMs',
    /must be from 0 to 600000/,
  ],
  ['keepAliveTimeoutMs string', `${MINIMAL}server: { keepAliveTimeoutMs: 5s }\n`, 'server.keepAliveTimeoutMs', /expected an integer/],
  ['maxConnections zero', `${MINIMAL}server: { maxConnections: 0 }\n`, 'server.maxConnections', /must be from 1 to 1000000, got 0/],
  ['requestTimeoutMs negative', `${MINIMAL}server: { requestTimeoutMs: -5 }\n`, 'server.requestTimeoutMs', /must be from 1/],
  ['maxKeys zero', `${MINIMAL}server: { maxKeys: 0 }\n`, 'server.maxKeys', /must be from 1/],
  ['maxRequestBytes list', `${MINIMAL}server: { maxRequestBytes: [1] }\n`, 'server.maxRequestBytes', /got a list/],
  ['environments list', 'environments: [prod]\n', 'environments', /expected a mapping, got a list/],
  ['environment string', 'environments:\n  prod: trustpolicy.json\n', 'environments.prod', /expected a mapping, got the string/],
  [
    'trustPolicy number',
    'environments:\n  prod: { trustPolicy: 1, trustStore: b }\n',
    'environments.prod.trustPolicy',
    /expected a string \(a file path\), got the number 1/,
  ],
  ['trustStore list', 'environments:\n  prod: { trustPolicy: a, trustStore: [b] }\n', 'environments.prod.trustStore', /got a list/],
  [
    'trustPolicy empty',
    'environments:\n  prod: { trustPolicy: "", trustStore: b }\n',
    'environments.prod.trustPolicy',
    /must not be empty/,
  ],
  [
    'plainHttp yes',
    `${MINIMAL}registries:\n  ghcr.io: { plainHttp: yes }\n`,
    'registries["ghcr.io"].plainHttp',
    /expected a boolean \(true or false\), got the string "yes"/,
  ],
  ['registries list', `${MINIMAL}registries: [ghcr.io]\n`, 'registries', /expected a mapping/],
  ['allowedRegistries string', `${MINIMAL}allowedRegistries: ghcr.io\n`, 'allowedRegistries', /expected a list, got the string/],
  ['allowedRegistries item', `${MINIMAL}allowedRegistries: [ghcr.io, 5]\n`, 'allowedRegistries[1]', /expected a string, got the number 5/],
  ['defaultEnvironment number', `${MINIMAL}defaultEnvironment: 1\n`, 'defaultEnvironment', /expected a string/],
  ['cache negative', `${MINIMAL}cache: { maxEntries: -1 }\n`, 'cache.maxEntries', /must be from 0/],
  ['revocation offline', `${MINIMAL}revocation: { offline: "false" }\n`, 'revocation.offline', /expected a boolean/],
  [
    'timestampRevocation',
    `${MINIMAL}revocation: { timestampRevocation: ignore }\n`,
    'revocation.timestampRevocation',
    /expected one of "check", "skip", got the string "ignore"/,
  ],
  ['empty value', `${MINIMAL}server:\n  grpcAddress:\n`, 'server.grpcAddress', /has no value/],
];

for (const [what, text, path, message] of wrongTypes) {
  test(`parseConfig: wrong type (${what}) names ${path}`, (t) => {
    rejects(t, text, path, message);
  });
}

test('parseConfig: a wrong password type does not echo the value', (t) => {
  const error = t.throws(() => parse(`${MINIMAL}registries:\n  ghcr.io: { username: u, password: 123456 }\n`));
  t.regex(error?.message ?? '', /registries\["ghcr.io"\]\.password: expected a string, got a number/);
  t.notRegex(error?.message ?? '', /123456/);
});

// ---- required keys and environments ---------------------------------------------------------------------

test('parseConfig: environments is required', (t) => {
  rejects(
    t,
    'server: { address: 127.0.0.1:1 }\n',
    'environments',
    /required key is missing \(at least one environment must be configured\)/,
  );
});

test('parseConfig: an empty document is an error', (t) => {
  rejects(t, '# nothing here\n', '(document)', /empty/);
});

test('parseConfig: an empty environments mapping is an error', (t) => {
  rejects(t, 'environments: {}\n', 'environments', /at least one environment/);
});

test('parseConfig: trustPolicy and trustStore are required', (t) => {
  rejects(t, 'environments:\n  prod: { trustStore: b }\n', 'environments.prod.trustPolicy', /required key is missing/);
  rejects(t, 'environments:\n  prod: { trustPolicy: a }\n', 'environments.prod.trustStore', /required key is missing/);
});

for (const name of ['Prod', '-prod', '_x', 'a b', 'prod/eu', 'x'.repeat(64)]) {
  test(`parseConfig: environment name ${JSON.stringify(name.slice(0, 10))} is invalid`, (t) => {
    rejects(
      t,
      `environments:\n  ${JSON.stringify(name)}: { trustPolicy: a, trustStore: b }\n`,
      formatConfigPath(['environments', name]),
      /invalid environment name/,
    );
  });
}

test('parseConfig: environment names with digits, dots, dashes and underscores are fine', (t) => {
  const config = parse(
    'defaultEnvironment: 0prod\nenvironments:\n  0prod: { trustPolicy: a, trustStore: b }\n  eu.prod-2_x: { trustPolicy: a, trustStore: b }\n',
  );
  t.deepEqual([...config.environments.keys()], ['0prod', 'eu.prod-2_x']);
});

test('parseConfig: defaultEnvironment must name a configured environment', (t) => {
  rejects(
    t,
    `${MINIMAL}defaultEnvironment: production\n`,
    'defaultEnvironment',
    /"production" is not a configured environment \(configured: prod\)/,
  );
});

test('parseConfig: defaultEnvironment is required with more than one environment', (t) => {
  rejects(
    t,
    'environments:\n  prod: { trustPolicy: a, trustStore: b }\n  dev: { trustPolicy: a, trustStore: b }\n',
    'defaultEnvironment',
    /required when more than one environment is configured/,
  );
});

test('parseConfig: an environment named like an Object.prototype member is just a name', (t) => {
  const config = parse(MINIMAL);
  t.is(config.environments.get('constructor'), undefined);
  t.is(config.environments.get('__proto__'), undefined);
  const other = parse(
    'defaultEnvironment: constructor\nenvironments:\n  constructor: { trustPolicy: a, trustStore: b }\n  prod: { trustPolicy: a, trustStore: b }\n',
  );
  t.is(other.environments.get('constructor')?.name, 'constructor');
});

// ---- addresses -------------------------------------------------------------------------------------------

const goodAddresses: Array<[string, { host: string; port: number }]> = [
  ['127.0.0.1:8443', { host: '127.0.0.1', port: 8443 }],
  ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
  ['localhost:65535', { host: 'localhost', port: 65535 }],
  ['vouch.vouch-system.svc:443', { host: 'vouch.vouch-system.svc', port: 443 }],
  ['[::1]:9443', { host: '::1', port: 9443 }],
  ['[::]:8443', { host: '::', port: 8443 }],
];

for (const [text, expected] of goodAddresses) {
  test(`parseConfig: address ${text}`, (t) => {
    t.deepEqual(parse(`${MINIMAL}server: { address: "${text}" }\n`).server.address, expected);
  });
}

const badAddresses: Array<[string, RegExp]> = [
  ['127.0.0.1', /has no port/],
  [':8443', /has no host/],
  ['127.0.0.1:65536', /port "65536" is not a number from 0 to 65535/],
  ['127.0.0.1:http', /port "http"/],
  ['127.0.0.1:', /port ""/],
  ['::1:8443', /IPv6 address needs brackets/],
  ['[::1]8443', /expected host:port/],
  ['[nope]:8443', /is not an IPv6 address/],
  ['bad_host:80', /is not a host name or IP address/],
  ['http://127.0.0.1:80', /no scheme/],
];

for (const [text, message] of badAddresses) {
  test(`parseConfig: bad address ${text}`, (t) => {
    rejects(t, `${MINIMAL}server: { address: "${text}" }\n`, 'server.address', message);
    rejects(t, `${MINIMAL}server: { grpcAddress: "${text}" }\n`, 'server.grpcAddress', message);
  });
}

test('parseConfig: healthAddress (extension) is optional and must not clash with the other listeners', (t) => {
  t.is(parse(MINIMAL).server.healthAddress, undefined);
  const health = parse(`${MINIMAL}server: { address: "0.0.0.0:8443", healthAddress: "0.0.0.0:8080" }\n`);
  t.is(health.server.healthAddress?.port, 8080);
  rejects(
    t,
    `${MINIMAL}server: { address: "0.0.0.0:8443", healthAddress: "0.0.0.0:8443" }\n`,
    'server.healthAddress',
    /must differ from server.address/,
  );
  rejects(
    t,
    `${MINIMAL}server: { grpcAddress: "0.0.0.0:9443", healthAddress: "127.0.0.1:9443" }\n`,
    'server.healthAddress',
    /must differ from server.grpcAddress/,
  );
  rejects(t, `${MINIMAL}server: { healthAddress: "nope" }\n`, 'server.healthAddress', /./);
});

test('parseConfig: grpcAddress must not clash with address', (t) => {
  rejects(
    t,
    `${MINIMAL}server: { address: "127.0.0.1:8443", grpcAddress: "127.0.0.1:8443" }\n`,
    'server.grpcAddress',
    /must differ from server.address/,
  );
  rejects(t, `${MINIMAL}server: { address: "0.0.0.0:8443", grpcAddress: "127.0.0.1:8443" }\n`, 'server.grpcAddress', /must differ/);
  const both0 = parse(`${MINIMAL}server: { address: "127.0.0.1:0", grpcAddress: "127.0.0.1:0" }\n`);
  t.is(both0.server.grpcAddress?.port, 0);
  const otherHost = parse(`${MINIMAL}server: { address: "127.0.0.1:8443", grpcAddress: "127.0.0.2:8443" }\n`);
  t.is(otherHost.server.grpcAddress?.host, '127.0.0.2');
});

// ---- tls ----------------------------------------------------------------------------------------------------

test('parseConfig: tls needs both certFile and keyFile', (t) => {
  rejects(
    t,
    `${MINIMAL}server: { tls: { certFile: tls.crt } }\n`,
    'server.tls.keyFile',
    /required key is missing \(needed when server.tls is present\)/,
  );
  rejects(t, `${MINIMAL}server: { tls: { keyFile: tls.key } }\n`, 'server.tls.certFile', /needed when server.tls is present/);
  rejects(t, `${MINIMAL}server: { tls: { clientCAFile: ca.crt } }\n`, 'server.tls.certFile', /required/);
  rejects(t, `${MINIMAL}server: { tls: {} }\n`, 'server.tls.certFile', /required/);
  rejects(t, `${MINIMAL}server:\n  tls:\n`, 'server.tls', /has no value/);
});

test('parseConfig: tls without clientCAFile', (t) => {
  const config = parse(`${MINIMAL}server: { tls: { certFile: a.crt, keyFile: a.key } }\n`);
  t.deepEqual(config.server.tls, { certFile: '/etc/vouch/a.crt', keyFile: '/etc/vouch/a.key', clientCAFile: undefined });
});

// ---- registries ------------------------------------------------------------------------------------------

test('parseConfig: registry hosts are canonical (lowercase, Docker Hub aliases folded)', (t) => {
  const config = parse(
    `${MINIMAL}registries:\n  Registry.Example.COM: {}\n  docker.io: { plainHttp: false }\n  "[::1]:5000": { plainHttp: true }\n`,
  );
  t.deepEqual([...config.registries.keys()], ['registry.example.com', 'registry-1.docker.io', '[::1]:5000']);
  t.is(config.registries.get('registry.example.com')?.plainHttp, false);
});

test('parseConfig: two keys for the same registry host are an error', (t) => {
  rejects(
    t,
    `${MINIMAL}registries:\n  docker.io: {}\n  index.docker.io: {}\n`,
    'registries["index.docker.io"]',
    /same registry host as "docker.io"/,
  );
});

for (const [key, message] of [
  ['myregistry', /image references only name a host that contains/],
  ['ghcr.io/team', /not a registry host/],
  ['https://ghcr.io', /not a registry host/],
  ['ghcr.io:99999', /not a registry host/],
  ['bad_host.io', /not a registry host/],
] as const) {
  test(`parseConfig: registry key ${key} is not a host`, (t) => {
    rejects(t, `${MINIMAL}registries:\n  "${key}": {}\n`, formatConfigPath(['registries', key]), message);
  });
}

test('parseConfig: passwordFromEnv reads the password from the environment', (t) => {
  const config = parse(`${MINIMAL}registries:\n  ghcr.io: { username: bot, passwordFromEnv: GHCR_TOKEN }\n`, {
    env: { GHCR_TOKEN: 's3cret' },
  });
  const registry = config.registries.get('ghcr.io');
  t.is(registry?.password, 's3cret');
  t.is(registry?.passwordFromEnv, 'GHCR_TOKEN');
});

test('parseConfig: passwordFromEnv naming an unset variable is an error', (t) => {
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { username: bot, passwordFromEnv: GHCR_TOKEN }\n`,
    'registries["ghcr.io"].passwordFromEnv',
    /environment variable GHCR_TOKEN is not set/,
    {
      env: {},
    },
  );
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { username: bot, passwordFromEnv: GHCR_TOKEN }\n`,
    'registries["ghcr.io"].passwordFromEnv',
    /not set \(or empty\)/,
    {
      env: { GHCR_TOKEN: '' },
    },
  );
});

test('parseConfig: passwordFromEnv defaults to process.env', (t) => {
  const name = `VOUCH_TEST_PASSWORD_${process.pid}`;
  process.env[name] = 'from-process';
  t.teardown(() => delete process.env[name]);
  const config = parse(`${MINIMAL}registries:\n  ghcr.io: { username: bot, passwordFromEnv: ${name} }\n`);
  t.is(config.registries.get('ghcr.io')?.password, 'from-process');
});

test('parseConfig: password and passwordFromEnv together are an error', (t) => {
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { username: bot, password: x, passwordFromEnv: X }\n`,
    'registries["ghcr.io"].passwordFromEnv',
    /either password or passwordFromEnv, not both/,
    {
      env: { X: 'y' },
    },
  );
});

test('parseConfig: passwordFromEnv must be a variable name', (t) => {
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { username: bot, passwordFromEnv: "1-BAD" }\n`,
    'registries["ghcr.io"].passwordFromEnv',
    /not an environment variable name/,
  );
});

test('parseConfig: credentials come in pairs', (t) => {
  rejects(t, `${MINIMAL}registries:\n  ghcr.io: { username: bot }\n`, 'registries["ghcr.io"].username', /needs a password/);
  rejects(t, `${MINIMAL}registries:\n  ghcr.io: { password: x }\n`, 'registries["ghcr.io"].password', /needs a username/);
});

test('parseConfig: ociLayout excludes the network options', (t) => {
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { ociLayout: dir, plainHttp: true }\n`,
    'registries["ghcr.io"].plainHttp',
    /does not apply with ociLayout/,
  );
  rejects(
    t,
    `${MINIMAL}registries:\n  ghcr.io: { ociLayout: dir, username: u, password: p }\n`,
    'registries["ghcr.io"].username',
    /does not apply with ociLayout/,
  );
});

// ---- allowedRegistries -------------------------------------------------------------------------------

test('parseConfig: allowedRegistries must not be empty', (t) => {
  rejects(t, `${MINIMAL}allowedRegistries: []\n`, 'allowedRegistries', /at least one registry/);
});

for (const [pattern, message] of [
  ['ghcr.io/team', /not a registry host/],
  ['*example.com', /wildcard is only allowed as the first label/],
  ['registry.*.com', /wildcard is only allowed as the first label/],
  ['*.exa_mple.com', /is not a domain name/],
  ['*.example.com:0', /port "0"/],
] as const) {
  test(`parseConfig: allowedRegistries entry ${pattern} is invalid`, (t) => {
    rejects(t, `${MINIMAL}allowedRegistries: ["ghcr.io", "${pattern}"]\n`, 'allowedRegistries[1]', message);
  });
}

// ---- allowedTokenRealms, allowedRedirects ------------------------------------------------------------

test('parseConfig: allowedTokenRealms and allowedRedirects are canonical host patterns, absent by default', (t) => {
  const absent = parse(MINIMAL);
  t.is(absent.allowedTokenRealms, undefined);
  t.is(absent.allowedRedirects, undefined);
  const config = parse(
    `${MINIMAL}allowedTokenRealms: [Auth.Docker.IO, "*.auth.example.com", auth.docker.io]\n` +
      `allowedRedirects: ["*.s3.amazonaws.com", storage.googleapis.com, "*.blob.core.windows.net", "127.0.0.1:9000", "*"]\n`,
  );
  t.deepEqual(config.allowedTokenRealms, ['auth.docker.io', '*.auth.example.com']);
  t.deepEqual(config.allowedRedirects, ['*.s3.amazonaws.com', 'storage.googleapis.com', '*.blob.core.windows.net', '127.0.0.1:9000', '*']);
});

for (const key of ['allowedTokenRealms', 'allowedRedirects'] as const) {
  test(`parseConfig: ${key} must be a non-empty list of host patterns`, (t) => {
    rejects(t, `${MINIMAL}${key}: []\n`, key, /at least one host/);
    rejects(t, `${MINIMAL}${key}: auth.docker.io\n`, key, /expected a list, got the string/);
    rejects(t, `${MINIMAL}${key}: [auth.docker.io, 5]\n`, `${key}[1]`, /expected a string, got the number 5/);
    rejects(t, `${MINIMAL}${key}: [auth.docker.io, "https://auth.docker.io/token"]\n`, `${key}[1]`, /not a registry host/);
    rejects(t, `${MINIMAL}${key}: ["auth.*.io"]\n`, `${key}[0]`, /wildcard is only allowed as the first label/);
  });
}

test('parseConfig: revocation.allowedHosts is a non-empty list of canonical host patterns', (t) => {
  const config = parse(
    `${MINIMAL}revocation:\n  allowedHosts: [CRL.Example.COM, "crl.example.com", "*.ocsp.example.com:8080", "127.0.0.1:80"]\n`,
  );
  t.deepEqual(config.revocation.allowedHosts, ['crl.example.com', '*.ocsp.example.com:8080', '127.0.0.1:80']);
  rejects(t, `${MINIMAL}revocation:\n  allowedHosts: []\n`, 'revocation.allowedHosts', /at least one host/);
  rejects(
    t,
    `${MINIMAL}revocation:\n  allowedHosts: [crl.example.com, "http://crl.example.com/a.crl"]\n`,
    'revocation.allowedHosts[1]',
    /not a registry host/,
  );
  rejects(
    t,
    `${MINIMAL}revocation:\n  allowedHosts: ["crl.*.com"]\n`,
    'revocation.allowedHosts[0]',
    /wildcard is only allowed as the first label/,
  );
});

test('parseConfig: "*" is refused in allowedTokenRealms (it would send credentials to any realm a registry names)', (t) => {
  rejects(t, `${MINIMAL}allowedTokenRealms: [auth.docker.io, "*"]\n`, 'allowedTokenRealms[1]', /credentials/);
});

test('parseConfig: a misspelt egress key is an unknown key with a suggestion', (t) => {
  rejects(t, `${MINIMAL}allowedRedirect: [storage.googleapis.com]\n`, 'allowedRedirect', /did you mean allowedRedirects/);
});

// ---- syntax -----------------------------------------------------------------------------------------------

test('parseConfig: YAML syntax errors name the file and line:col', (t) => {
  const error = t.throws(() => parse('environments:\n  prod:\n    trustPolicy: "a\n  trustStore: b\n'), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.regex(error?.message ?? '', /^\/etc\/vouch\/config\.yaml:\d+:\d+: YAML syntax error: /);
});

test('parseConfig: bad indentation is a YAML syntax error with its line', (t) => {
  const error = t.throws(() => parse('environments:\n  prod:\n    trustPolicy: a\n   trustStore: b\n'));
  t.regex(error?.message ?? '', /^\/etc\/vouch\/config\.yaml:4:\d+: YAML syntax error/);
});

// found by fuzzing: `{"version":[[[…]]]}` 1000 deep and then 5000 deep, parsed one after the other in
// one process, aborted node ("RegExpCompiler Allocation failed - process out of memory"): the yaml
// composer recursed into a stack overflow. Nesting is now measured on the CST and bounded first.
test('parseConfig: collections nested too deeply are a syntax error, whatever the style', (t) => {
  const flow = (depth: number) => `{"version":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  const block = (depth: number) => Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' x\n';
  const compact = (depth: number) => `${'- '.repeat(depth)}x\n`;
  for (const text of [flow(1000), flow(5000), flow(100_000), block(2000), compact(50_000)]) {
    const error = t.throws(() => parse(text), { instanceOf: ConfigError });
    t.is(error?.code, 'INVALID_CONFIG');
    t.is(error?.issues[0]?.code, 'syntax');
    t.regex(error?.message ?? '', /YAML syntax error: nesting deeper than 64 levels/);
  }
  // The JSON check refuses first for .json files, with its own rule.
  t.throws(() => parseConfig(flow(5000), JSON_FILE), { message: /nesting deeper than 256 levels/ });
});

// found by fuzzing: each unknown key's position was found by scanning its mapping, so a file with
// thousands of unknown keys took quadratic time (8000 keys: 14 s)
test('parseConfig: thousands of unknown keys are each reported, in linear time', (t) => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `  unknownKey${i}: ${i}`).join('\n');
  const started = process.cpuUsage();
  const error = t.throws(() => parse(`${MINIMAL}server:\n${keys}\n`), { instanceOf: ConfigError });
  const cpuMs = process.cpuUsage(started).user / 1000; // CPU time: other work on the machine does not count
  t.true(cpuMs < 8000, `${Math.round(cpuMs)} ms`);
  t.is(error?.issues.filter((issue) => issue.code === 'unknown_key').length, 20_000);
  t.is(error?.issues[19_999]?.line, MINIMAL.split('\n').length + 20_000);
});

test('parseConfig: duplicate keys are an error', (t) => {
  const error = t.throws(() =>
    parse('environments:\n  prod: { trustPolicy: a, trustStore: b }\n  prod: { trustPolicy: c, trustStore: d }\n'),
  );
  t.regex(error?.message ?? '', /^\/etc\/vouch\/config\.yaml:3:3: YAML syntax error: Map keys must be unique/);
});

test('parseConfig: several YAML documents are an error', (t) => {
  const error = t.throws(() => parse(`${MINIMAL}---\n${MINIMAL}`));
  t.regex(error?.message ?? '', /^\/etc\/vouch\/config\.yaml:\d+:\d+: YAML syntax error/);
});

test('parseConfig: YAML anchors and aliases work', (t) => {
  const config = parse('defaultEnvironment: a\nenvironments:\n  a: &env { trustPolicy: tp.json, trustStore: store }\n  b: *env\n');
  t.is(config.environments.get('b')?.trustPolicy, '/etc/vouch/tp.json');
});

test('parseConfig: merge keys are not enabled (<< is an unknown key)', (t) => {
  rejects(
    t,
    'defaultEnvironment: a\nenvironments:\n  a: &env { trustPolicy: tp.json, trustStore: store }\n  b:\n    <<: *env\n',
    'environments.b["<<"]',
    /unknown key/,
  );
});

const jsonErrors: Array<[string, string, string]> = [
  ['trailing comma', '{\n  "environments": {},\n}\n', ':3:1: JSON syntax error: trailing comma before "}"'],
  ['bare word', '{\n  "server": tru\n}', ':2:13: JSON syntax error: unexpected "t", expected a value'],
  ['unterminated', '{"environments": {', ':1:19: JSON syntax error: expected a double-quoted member name, found end of input'],
  ['comment', '{\n  // note\n  "a": 1\n}', ':2:3: JSON syntax error: expected a double-quoted member name, found "/"'],
  ['single quotes', "{'a': 1}", ':1:2: JSON syntax error: expected a double-quoted member name, found "\'"'],
  ['trailing content', '{}\n{}', ':2:1: JSON syntax error: unexpected "{" after the end of the JSON value'],
  ['control character', '{"a": "x\ty"}', ':1:9: JSON syntax error: control character in string'],
  ['bad escape', '{"a": "\\x"}', ':1:8: JSON syntax error: invalid escape \\x'],
  ['leading zero', '{"a": 01}', ':1:8: JSON syntax error: expected "," or "}" after a member value, found "1"'],
  ['missing colon', '{"a" 1}', ':1:6: JSON syntax error: expected ":" after a member name'],
];

for (const [what, text, expected] of jsonErrors) {
  test(`parseConfig: JSON syntax error (${what}) has line:col`, (t) => {
    const error = t.throws(() => parse(text, {}, JSON_FILE), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_CONFIG');
    t.true(error?.message.startsWith(`${JSON_FILE}${expected}`), error?.message);
  });
}

test('parseConfig: JSON semantic errors name the path and the position', (t) => {
  const text = '{\n  "environments": {\n    "prod": { "trustPolicy": "a", "trustStore": "b", "trustStores": "c" }\n  }\n}\n';
  const error = t.throws(() => parse(text, {}, JSON_FILE));
  t.is(
    error?.message,
    `${JSON_FILE}:3:54: environments.prod.trustStores: unknown key (did you mean trustStore?); known keys here: trustPolicy, trustStore, cosign, policy`,
  );
});

test('parseConfig: a JSON file with a byte order mark and unicode escapes', (t) => {
  const config = parse('\ufeff{"environments": {"prod": {"trustPolicy": "tp\\u002ejson", "trustStore": "s"}}}', {}, JSON_FILE);
  t.is(config.environments.get('prod')?.trustPolicy, '/etc/vouch/tp.json');
});

// ---- formatConfigPath ---------------------------------------------------------------------------------

test('formatConfigPath: quotes segments that are not plain words', (t) => {
  t.is(formatConfigPath(['environments', 'prod', 'trustPolicy']), 'environments.prod.trustPolicy');
  t.is(formatConfigPath(['registries', '127.0.0.1:5000', 'plainHttp']), 'registries["127.0.0.1:5000"].plainHttp');
  t.is(formatConfigPath(['allowedRegistries', 2]), 'allowedRegistries[2]');
  t.is(formatConfigPath([]), '(document)');
});

// Property tests of the configuration file (src/config/parse.ts, schema.ts; docs/reliability.md
// "Fuzzing"): any text, YAML or strict JSON, gives a configuration or INVALID_CONFIG (a ConfigError with
// issues that have positions); real configurations mutated (keys dropped, retyped, repeated, `__proto__`,
// huge numbers, deep nesting, YAML tags, anchors and aliases) too; an accepted one is canonical.

import test from 'ava';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../../src/config/index.js';
import {
  assertRoughlyLinear,
  checkProperty,
  deeplyNested,
  dnsHost,
  fc,
  hostileJsonValue,
  hostileText,
  typedOutcome,
  withProtoMember,
} from '../../helpers/fuzz.js';

const BASE = {
  server: {
    address: '127.0.0.1:8443',
    grpcAddress: '127.0.0.1:9443',
    requestTimeoutMs: 2900,
    tls: { certFile: 'tls.crt', keyFile: 'tls.key' },
  },
  defaultEnvironment: 'prod',
  environments: {
    prod: { trustPolicy: 'p.json', trustStore: 'ts' },
    staging: { trustPolicy: 's.json', trustStore: 'ts2', policy: 'd.tar.gz' },
  },
  registries: { '127.0.0.1:5000': { plainHttp: true, username: 'alice', password: 'secret' } },
  allowedRegistries: ['*.example.com', '127.0.0.1:5000'],
  cache: { ttlMs: 1000 },
  plugins: {
    directory: 'plugins',
    timeoutMs: 1000,
    passEnvironment: ['AWS_REGION'],
    config: { prod: { 'vouch-test': { region: 'eu-west-1', token: { fromEnv: 'PASS' } } } },
  },
};

const parse = (text: string, file: string) => typedOutcome(() => parseConfig(text, file, { env: { PASS: 'x' } }), ['INVALID_CONFIG']);

function assertIssuesPlaced(outcome: ReturnType<typeof parse>): void {
  if (!('error' in outcome) || !(outcome.error instanceof ConfigError)) return;
  for (const issue of outcome.error.issues) {
    if (issue.line !== undefined && (!(issue.line >= 1) || !(issue.column! >= 1)))
      throw new Error(`issue at ${issue.line}:${issue.column}`);
  }
}

type Path = string[];
function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (typeof value === 'object' && value !== null && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}
function setAt(root: unknown, at: Path, replace: (old: unknown) => unknown): unknown {
  if (at.length === 0) return replace(root);
  const copy = { ...(root as Record<string, unknown>) };
  const [head, ...rest] = at;
  const next = setAt(copy[head!], rest, replace);
  if (next === undefined) delete copy[head!];
  else copy[head!] = next;
  return copy;
}

const mutated = fc
  .tuple(fc.nat(), fc.nat(5), hostileJsonValue, hostileText, dnsHost, fc.boolean())
  .chain(([pick, kind, value, text, host, asJson]) =>
    host.spellings.map((spelling) => {
      const all = paths(BASE);
      const at = all[pick % all.length]!;
      let document: unknown = BASE;
      switch (kind) {
        case 0:
          document = setAt(BASE, at, () => undefined);
          break;
        case 1:
          document = setAt(BASE, at, () => value);
          break;
        case 2:
          document = setAt(BASE, [...at.slice(0, -1), text], () => value);
          break;
        case 3:
          document = setAt(BASE, ['registries'], (old) => ({
            ...(old as object),
            [spelling]: { plainHttp: true, passwordFromEnv: pick % 2 ? 'PASS' : 'NOPE' },
          }));
          break;
        case 4:
          document = setAt(BASE, ['allowedRegistries'], () => [spelling, `*.${spelling}`, text]);
          break;
        default:
          document = setAt(BASE, at, () => 2 ** 53 + pick);
      }
      const json = JSON.stringify(document) ?? 'null';
      const text2 = asJson ? (pick % 7 === 0 ? withProtoMember(json, JSON.stringify(value) ?? '1') : json) : (stringify(document) ?? '');
      return { text: text2, file: asJson ? 'config.json' : 'config.yaml' };
    }),
  );

/** YAML features a configuration never needs, each spliced into a valid file. */
const yamlOddity = fc
  .tuple(
    fc.constantFrom(
      'x: !!binary aGVsbG8=',
      'x: !!set {a, b}',
      'x: !!timestamp 2001-12-14t21:59:43.10-05:00',
      'x: !custom tag',
      'x: &a [1, 2]\ny: *a',
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      '<<: {server: {address: "0.0.0.0:1"}}',
      '? [complex, key]\n: value',
      '%YAML 1.1\n---',
      '--- !!map',
      'x: 0x1F\ny: 1e400\nz: .nan\nw: -.inf',
      'server: {address: 127.0.0.1:8443, address: 127.0.0.1:8444}',
      'x: "\\u0000\\ud800"',
      'environments: *undefined_alias',
    ),
    fc.boolean(),
  )
  .map(([oddity, first]) => {
    const base = stringify(BASE);
    return first ? `${oddity}\n${base}` : `${base}\n${oddity}\n`;
  });

test('parseConfig: any text gives a configuration or INVALID_CONFIG', (t) => {
  checkProperty(
    t,
    [
      fc.oneof(
        hostileText,
        fc.string({ maxLength: 300 }),
        hostileJsonValue.map((v) => JSON.stringify(v) ?? ''),
      ),
      fc.constantFrom('config.yaml', 'config.json', 'config'),
    ],
    (text, file) => {
      assertIssuesPlaced(parse(text, file));
    },
  );
});

test('parseConfig: real configurations mutated give a configuration or INVALID_CONFIG; accepted ones are canonical', (t) => {
  checkProperty(t, [mutated], ({ text, file }) => {
    const outcome = parse(text, file);
    assertIssuesPlaced(outcome);
    if (!('value' in outcome)) return;
    const config = outcome.value;
    if (config.environments.size === 0) throw new Error('accepted no environments');
    for (const host of config.registries.keys())
      if (host !== host.toLowerCase() || /:0\d|:443$/.test(host)) throw new Error(`registry key ${host} not canonical`);
  });
});

test('parseConfig: YAML oddities (tags, anchors, alias bombs, merge keys, directives) give a configuration or INVALID_CONFIG', (t) => {
  checkProperty(t, [yamlOddity], (text) => {
    assertIssuesPlaced(parse(text, 'config.yaml'));
  });
});

test('parseConfig: time grows linearly with the file', (t) => {
  assertRoughlyLinear(
    t,
    'many environments',
    (n) =>
      stringify({
        environments: Object.fromEntries(Array.from({ length: n / 50 }, (_, i) => [`e${i}`, { trustPolicy: 'p', trustStore: 's' }])),
      }),
    (text: string) => parse(text, 'config.yaml'),
    { small: 5_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'a long list',
    (n) => stringify({ ...BASE, allowedRegistries: Array.from({ length: n / 20 }, (_, i) => `r${i}.example.com`) }),
    (text: string) => parse(text, 'config.yaml'),
    { small: 5_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'flow nesting',
    (n) => `x: ${deeplyNested(n / 2)}`,
    (text: string) => parse(text, 'config.yaml'),
    { small: 5_000, factor: 8 },
  );
  assertRoughlyLinear(
    t,
    'many unknown keys',
    (n) => stringify({ ...BASE, server: Object.fromEntries(Array.from({ length: n / 20 }, (_, i) => [`unknownKey${i}`, i])) }),
    (text: string) => parse(text, 'config.yaml'),
    { small: 5_000, factor: 8 },
  );
});

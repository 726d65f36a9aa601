// The `cosign` section of an environment (docs/configuration.md): validated by the one schema with
// paths and line:col, loaded by EnvironmentSet (keys and trusted root from the repository's cosign
// vectors) and reloaded like trust material.

import test from 'ava';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import {
  ConfigError,
  EnvironmentSet,
  formatConfigPath,
  loadConfig,
  parseConfig,
  type EnvironmentSetOptions,
} from '../../../src/config/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';

const FILE = '/etc/vouch/config.yaml';
const KEY = path.join(COSIGN_VECTORS, 'legacy-key/cosign.pub');
const OTHER_KEY = path.join(COSIGN_VECTORS, 'legacy-key/cosign2.pub');
const TRUSTED_ROOT = path.join(COSIGN_VECTORS, 'bundle-v03/trusted_root_pgi.json');

const issuesOf = (text: string) => {
  const error = (() => {
    try {
      parseConfig(text, FILE, { env: {} });
      return undefined;
    } catch (caught) {
      return caught;
    }
  })();
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.issues.map((i) => [i.code, formatConfigPath(i.path), i.line, i.column, i.message] as const);
};

// ---- schema ------------------------------------------------------------------------------------------

test('cosign config: keys, trusted root and identities parse, paths resolved against the file; requireTlog defaults to false', (t) => {
  const config = parseConfig(
    [
      'environments:',
      '  prod:',
      '    trustPolicy: tp.json',
      '    trustStore: store',
      '    cosign:',
      '      keys: [cosign.pub, /keys/other.pub]',
      '      trustedRoot: trusted_root.json',
      '      identities:',
      '        - { subject: release@example.com, issuer: "https://accounts.google.com" }',
      '        - subjectRegExp: "https://github\\\\.com/acme/.*"',
      '          issuer: https://token.actions.githubusercontent.com',
      '          extensions: { "1.3.6.1.4.1.57264.1.2": push }',
      '',
    ].join('\n'),
    FILE,
  );
  t.deepEqual(config.environments.get('prod')?.cosign, {
    keys: ['/etc/vouch/cosign.pub', '/keys/other.pub'],
    trustedRoot: '/etc/vouch/trusted_root.json',
    identities: [
      { subject: 'release@example.com', issuer: 'https://accounts.google.com' },
      {
        subjectRegExp: 'https://github\\.com/acme/.*',
        issuer: 'https://token.actions.githubusercontent.com',
        extensions: { '1.3.6.1.4.1.57264.1.2': 'push' },
      },
    ],
    requireTlog: false,
  });
});

test('cosign config: a cosign-only environment has no Notary part', (t) => {
  const config = parseConfig('environments:\n  prod:\n    cosign: { keys: [cosign.pub], requireTlog: false }\n', FILE);
  const prod = config.environments.get('prod');
  t.is(prod?.trustPolicy, undefined);
  t.is(prod?.trustStore, undefined);
  t.deepEqual(prod?.cosign?.keys, ['/etc/vouch/cosign.pub']);
});

test('cosign config: schema errors name the path and line:col', (t) => {
  t.deepEqual(
    issuesOf(
      [
        'environments:',
        '  prod:',
        '    cosign:',
        '      keys: cosign.pub',
        '      identities:',
        '        - { subject: a@example.com, subjectRegExp: "a.*", issuer: x }',
        '        - { subject: b@example.com }',
        '        - { subjectRegExp: "(unclosed", issuer: x, extensions: { "not-an-oid": v } }',
        '      requireTlog: "yes"',
        '      keyz: []',
        '',
      ].join('\n'),
    ),
    [
      ['wrong_type', 'environments.prod.cosign.keys', 4, 13, 'expected a list of file paths, got the string "cosign.pub"'],
      ['invalid_value', 'environments.prod.cosign.identities[0].subjectRegExp', 6, 37, 'give exactly one of subject and subjectRegExp'],
      [
        'missing_key',
        'environments.prod.cosign.identities[1].issuer',
        7,
        11,
        'required key is missing (the OIDC issuer the certificate must name)',
      ],
      [
        'invalid_value',
        'environments.prod.cosign.identities[2].subjectRegExp',
        8,
        28,
        'not a valid regular expression: Invalid regular expression: /^(?:(unclosed)$/: Unterminated group',
      ],
      [
        'invalid_value',
        'environments.prod.cosign.identities[2].extensions.not-an-oid',
        8,
        66,
        'the string "not-an-oid" is not a dotted OID',
      ],
      ['wrong_type', 'environments.prod.cosign.requireTlog', 9, 20, 'expected a boolean (true or false), got the string "yes"'],
      [
        'unknown_key',
        'environments.prod.cosign.keyz',
        10,
        7,
        'unknown key (did you mean keys?); known keys here: keys, trustedRoot, identities, requireTlog',
      ],
    ],
  );
});

test('cosign config: a regex that does not compile is an error at its path', (t) => {
  const issues = issuesOf(
    'environments:\n  prod:\n    cosign:\n      trustedRoot: root.json\n      identities:\n        - { subjectRegExp: "a[", issuer: x }\n',
  );
  t.deepEqual(
    issues.map(([code, at, line, column]) => [code, at, line, column]),
    [['invalid_value', 'environments.prod.cosign.identities[0].subjectRegExp', 6, 28]],
  );
  t.regex(issues[0]![4], /^not a valid regular expression: /);
});

test('cosign config: identities or requireTlog without trustedRoot, and a section without keys or identities, are errors', (t) => {
  t.deepEqual(
    issuesOf('environments:\n  prod:\n    cosign:\n      identities: [{ subject: a@example.com, issuer: x }]\n').map(([c, at]) => [c, at]),
    [['invalid_value', 'environments.prod.cosign.identities']],
  );
  t.deepEqual(
    issuesOf('environments:\n  prod:\n    cosign: { keys: [k.pub], requireTlog: true }\n').map(([c, at, line, column]) => [
      c,
      at,
      line,
      column,
    ]),
    [['invalid_value', 'environments.prod.cosign.requireTlog', 3, 30]],
  );
  t.deepEqual(
    issuesOf('environments:\n  prod:\n    cosign: { trustedRoot: root.json }\n').map(([c, at, , , m]) => [c, at, m]),
    [['invalid_value', 'environments.prod.cosign', 'give keys, identities or both: without either no cosign signature can verify']],
  );
  t.deepEqual(
    issuesOf('environments:\n  prod:\n    cosign: { keys: [] }\n').map(([c, at]) => [c, at]),
    [['invalid_value', 'environments.prod.cosign.keys']],
  );
});

test('cosign config: an environment needs a Notary part or a cosign part; trustPolicy and trustStore go together', (t) => {
  t.deepEqual(issuesOf('environments:\n  prod:\n    policy: p.rego\n'), [
    ['missing_key', 'environments.prod', 3, 5, 'an environment needs a Notary part (trustPolicy and trustStore), a cosign part, or both'],
  ]);
  t.deepEqual(
    issuesOf('environments:\n  prod:\n    trustPolicy: tp.json\n    cosign: { keys: [k.pub] }\n').map(([c, at, line, column]) => [
      c,
      at,
      line,
      column,
    ]),
    [['missing_key', 'environments.prod.trustStore', 3, 5]],
  );
});

// ---- EnvironmentSet ----------------------------------------------------------------------------------

interface Fixture {
  dir: string;
  keyFile: string;
  rootFile: string;
  set: EnvironmentSet;
}

const STATIC: EnvironmentSetOptions = { watch: false };

async function fixture(t: import('ava').ExecutionContext, cosign: string, options: EnvironmentSetOptions = STATIC): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-cosign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'cosign.pub');
  const rootFile = path.join(dir, 'trusted_root.json');
  await copyFile(KEY, keyFile);
  await copyFile(TRUSTED_ROOT, rootFile);
  const configFile = path.join(dir, 'vouch.yaml');
  await writeFile(configFile, `environments:\n  prod:\n    cosign: ${cosign}\n`);
  const set = await EnvironmentSet.load(await loadConfig(configFile), options);
  t.teardown(() => set.close());
  return { dir, keyFile, rootFile, set };
}

async function replaceFile(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

const FULL =
  '{ keys: [cosign.pub], trustedRoot: trusted_root.json, identities: [{ subject: a@example.com, issuer: x }], requireTlog: true }';

test('EnvironmentSet: a cosign-only environment serves its keys, trusted root and identities, and no Notary part', async (t) => {
  const f = await fixture(t, FULL);
  const prod = f.set.get('prod');
  t.is(prod?.policy, undefined);
  t.is(prod?.trustStore, undefined);
  const cosign = prod?.cosign;
  t.is(cosign?.keys.length, 1);
  t.is(cosign?.keys[0]?.keyType, 'ecdsa-p256');
  t.is(cosign?.keys[0]?.name, f.keyFile);
  t.is((cosign?.trustedRoot as { mediaType?: string } | undefined)?.mediaType, 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
  t.deepEqual(cosign?.identities, [{ subject: 'a@example.com', issuer: 'x' }]);
  t.true(cosign?.requireTlog);
  const status = f.set.status();
  t.true(status.ready);
  t.false(status.degraded);
  t.deepEqual(status.environments[0]?.trustStores, []);
  t.deepEqual(status.environments[0]?.cosign, { keys: 1, withdrawnKeys: [], trustedRoot: true, error: undefined, since: undefined });
  t.is(status.environments[0]?.state, 'ok');
});

test('EnvironmentSet: a broken key or trusted root at start is INVALID_CONFIG naming the field and the file', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-cosign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'bad.pub'), 'not a key\n');
  await writeFile(path.join(dir, 'root.json'), '{"mediaType": 3}');
  await copyFile(KEY, path.join(dir, 'good.pub'));
  const configFile = path.join(dir, 'vouch.yaml');

  await writeFile(configFile, 'environments:\n  prod:\n    cosign: { keys: [good.pub, bad.pub] }\n');
  const keyError = await t.throwsAsync(EnvironmentSet.load(await loadConfig(configFile), STATIC), { instanceOf: VouchError });
  t.is(keyError?.code, 'INVALID_CONFIG');
  t.true(
    keyError?.message.startsWith(`${configFile}: environments.prod.cosign.keys[1]: ${path.join(dir, 'bad.pub')}: `),
    keyError?.message,
  );

  await writeFile(configFile, 'environments:\n  prod:\n    cosign: { keys: [good.pub], trustedRoot: missing.json }\n');
  const rootError = await t.throwsAsync(EnvironmentSet.load(await loadConfig(configFile), STATIC), { instanceOf: VouchError });
  t.is(rootError?.code, 'INVALID_CONFIG');
  t.true(rootError?.message.startsWith(`${configFile}: environments.prod.cosign.trustedRoot: ${path.join(dir, 'missing.json')}: `));
});

test('EnvironmentSet: a changed key is a new generation with the new key; unchanged bytes keep the generation', async (t) => {
  const f = await fixture(t, FULL);
  const before = f.set.get('prod')!;
  await f.set.checkNow();
  t.is(f.set.get('prod'), before, 'nothing changed: the same material');
  await replaceFile(f.keyFile, await readFile(OTHER_KEY));
  await f.set.checkNow();
  const after = f.set.get('prod')!;
  t.true(after.generation > before.generation);
  t.not(after.cosign?.keys[0]?.fingerprint, before.cosign?.keys[0]?.fingerprint);
  t.is(after.cosign?.trustedRoot, before.cosign?.trustedRoot, 'the unchanged trusted root is the same object');
  t.is(before.cosign?.keys.length, 1, 'the old snapshot is untouched');
  t.false(f.set.status().degraded);
});

test('EnvironmentSet: the periodic check picks up a changed key', async (t) => {
  const f = await fixture(t, '{ keys: [cosign.pub] }', { pollIntervalMs: 20, fsWatch: false });
  const before = f.set.get('prod')!;
  await replaceFile(f.keyFile, await readFile(OTHER_KEY));
  const deadline = Date.now() + 5000;
  while (f.set.get('prod')!.generation === before.generation && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.not(f.set.get('prod')!.cosign?.keys[0]?.fingerprint, before.cosign?.keys[0]?.fingerprint);
});

test('EnvironmentSet: a broken key file keeps the last good key and degrades readiness until fixed', async (t) => {
  const f = await fixture(t, FULL);
  const before = f.set.get('prod')!;
  await replaceFile(f.keyFile, '-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n');
  await f.set.checkNow();
  t.is(f.set.get('prod'), before, 'the last good material stays, same generation');
  let status = f.set.status();
  t.true(status.ready);
  t.true(status.degraded);
  const prod = status.environments[0]!;
  t.is(prod.state, 'degraded');
  t.regex(prod.cosign?.error ?? '', /environments\.prod\.cosign\.keys\[0\]: .*cosign\.pub: .*the last good one stays/);
  t.is(prod.error, prod.cosign?.error);
  t.truthy(prod.cosign?.since);
  t.deepEqual(prod.cosign?.withdrawnKeys, []);

  // Fixed with the very same bytes: clean again, still the same generation.
  await copyFile(KEY, f.keyFile);
  await f.set.checkNow();
  t.is(f.set.get('prod'), before);
  status = f.set.status();
  t.false(status.degraded);
  t.is(status.environments[0]?.state, 'ok');
  t.is(status.environments[0]?.cosign?.error, undefined);
});

test('EnvironmentSet: a broken trusted root keeps the last good one; a removed key file withdraws its key', async (t) => {
  const f = await fixture(t, FULL);
  const before = f.set.get('prod')!;
  await replaceFile(f.rootFile, '{ "tlogs": [ { "publicKey": "nope" } ] ');
  await f.set.checkNow();
  t.is(f.set.get('prod')?.cosign?.trustedRoot, before.cosign?.trustedRoot);
  t.true(f.set.status().degraded);

  await rm(f.keyFile);
  await f.set.checkNow();
  const after = f.set.get('prod')!;
  t.true(after.generation > before.generation, 'withdrawing a key is a new generation');
  t.deepEqual(after.cosign?.keys, []);
  t.is(after.cosign?.trustedRoot, before.cosign?.trustedRoot);
  const cosign = f.set.status().environments[0]?.cosign;
  t.deepEqual(cosign?.withdrawnKeys, [f.keyFile]);
  t.is(cosign?.keys, 0);
  t.regex(cosign?.error ?? '', /the file was removed/);
});

test('EnvironmentSet: Notary and cosign parts together; a cosign change leaves the Notary part as served', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-config-cosign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, 'tp.json'),
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        { name: 'all', registryScopes: ['*'], signatureVerification: { level: 'skip' }, trustStores: [], trustedIdentities: [] },
      ],
    }),
  );
  await copyFile(KEY, path.join(dir, 'cosign.pub'));
  const configFile = path.join(dir, 'vouch.yaml');
  await writeFile(
    configFile,
    'environments:\n  prod:\n    trustPolicy: tp.json\n    trustStore: store\n    cosign: { keys: [cosign.pub] }\n',
  );
  const set = await EnvironmentSet.load(await loadConfig(configFile), STATIC);
  t.teardown(() => set.close());
  const before = set.get('prod')!;
  t.truthy(before.policy);
  t.truthy(before.trustStore);
  t.is(before.cosign?.keys.length, 1);
  await replaceFile(path.join(dir, 'cosign.pub'), await readFile(OTHER_KEY));
  await set.checkNow();
  const after = set.get('prod')!;
  t.true(after.generation > before.generation);
  t.deepEqual(after.policy, before.policy);
});

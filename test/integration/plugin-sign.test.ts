// `vouch sign --plugin vouch-test --id KEY` with the real Notary Project plugin (tools/notation-vouch-test, on the
// upstream plugin framework, keys held by the plugin) against a real registry (olareg), judged by the real
// `notation verify`: RAW signing (vouch builds the envelope, the plugin signs its bytes) for JWS and COSE with EC and
// RSA keys, and ENVELOPE signing (the plugin builds the envelope and names itself for verification, so notation runs
// it to verify). Every failure mode leaves the registry without a referrer.
// Spec: https://github.com/notaryproject/specifications/blob/main/specs/plugin-extensibility.md#signing-interfaces

import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { VouchError, type ErrorReason } from '../../src/core/index.js';
import { PluginHost, parseEnvelope, pluginSigningKey, signImage, type PluginConfig } from '../../src/notation/index.js';
import { MEDIA_TYPE, RegistryClient, type Descriptor, type RegistryRepository } from '../../src/oci/index.js';
import { NotationCli } from '../helpers/notation.js';
import {
  ENVELOPE_SIGNING,
  TEST_PLUGIN_DEFAULT_VERSION,
  TEST_PLUGIN_NAME,
  installTestPlugin,
  installTestPluginForNotation,
  testPluginKey,
  verifyWithNotationPlugin,
} from '../helpers/notation-plugin.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { generateLeaf, generateRoot } from '../helpers/pki.js';
import { startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import { startTsaServer, type TsaServer } from '../helpers/tsa-server.js';

interface World {
  /** Root of the plugin's keys (a promotion environment trusts it). */
  rootPem: string;
  registry: RunningRegistry;
  tsa: TsaServer;
  client: RegistryClient;
  notation: NotationCli;
  /** vouch's plugin directory (holds vouch-test/). */
  plugins: string;
  dir: string;
}

let world: World | undefined;
let counter = 0;

test.before(async () => {
  delete process.env['VOUCH_CONFIG'];
  const [registry, tsa, notation, root, dir] = await Promise.all([
    startReferrersRegistry(),
    startTsaServer(),
    NotationCli.create('vouch-plugin-sign-unused'),
    generateRoot(),
    mkdtemp(join(tmpdir(), 'vouch-plugin-sign-')),
  ]);
  const [ec, rsa] = await Promise.all([
    generateLeaf({ issuer: root, subject: 'CN=plugin ec signer,O=vouch,ST=WA,C=US' }),
    // RSA-3072: PS384, so the hash vouch asks for follows the key spec.
    generateLeaf({ issuer: root, key: 'rsa-3072', subject: 'CN=plugin rsa signer,O=vouch,ST=WA,C=US' }),
  ]);
  const keys = [testPluginKey('ec', [ec, root]), testPluginKey('rsa', [rsa, root])];
  const plugins = join(dir, 'plugins');
  // The same plugin for vouch (to sign) and for notation (to verify the envelopes that name it).
  await Promise.all([installTestPlugin(plugins, { keys }), installTestPluginForNotation(notation, { keys })]);
  await notation.addTrustedCertificates('ca', 'plugin-root', [root.certificate.toPem()]);
  await notation.addTrustedCertificates('tsa', 'plugin-tsa', [tsa.rootPem]);
  await notation.setTrustPolicy({
    version: '1.0',
    trustPolicies: [
      {
        name: 'timestamped',
        registryScopes: [`${registry.host}/plugin-sign/timestamped`],
        signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
        trustStores: ['ca:plugin-root', 'tsa:plugin-tsa'],
        trustedIdentities: ['*'],
      },
      {
        name: 'default',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:plugin-root'],
        trustedIdentities: ['*'],
      },
    ],
  });
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  world = { rootPem: root.certificate.toPem(), registry, tsa, client, notation, plugins, dir };
});

test.after.always(async () => {
  if (world === undefined) return;
  await Promise.allSettled([
    world.client.close(),
    world.registry.stop(),
    world.tsa.stop(),
    world.notation.dispose(),
    rm(world.dir, { recursive: true, force: true }),
  ]);
});

async function freshImage(
  name = `image-${counter++}`,
): Promise<{ repository: RegistryRepository; descriptor: Descriptor; reference: string }> {
  const w = world!;
  const repo = `plugin-sign/${name}`;
  const repository = w.client.repository(w.registry.host, repo);
  const descriptor = await pushManifest(repository, buildImage(), 'v1');
  return { repository, descriptor, reference: `${w.registry.host}/${repo}@${descriptor.digest}` };
}

async function vouchSign(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['sign', '--plain-http', '--plugin-dir', world!.plugins, ...args], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function configArgs(config: PluginConfig): string[] {
  return Object.entries(config).flatMap(([k, v]) => ['--plugin-config', `${k}=${v}`]);
}

async function signatureEnvelope(repository: RegistryRepository, signature: Descriptor) {
  const manifest = (await repository.fetchManifest(signature)).manifest;
  if (manifest.kind !== 'manifest') throw new Error('not a manifest');
  const layer = manifest.layers[0]!;
  const bytes = await repository.fetchBlob(layer);
  return { manifest, envelope: parseEnvelope(layer.mediaType, bytes) };
}

// ---- RAW: vouch builds the envelope, the plugin signs its bytes ----------------------------------

for (const [format, keyId, algorithm] of [
  ['jws', 'ec', 'ES256'],
  ['cose', 'ec', 'ES256'],
  ['jws', 'rsa', 'PS384'],
  ['cose', 'rsa', 'PS384'],
] as const) {
  test(`RAW ${format} ${keyId}: vouch sign --plugin makes a signature notation verify accepts`, async (t) => {
    const { repository, descriptor, reference } = await freshImage();
    const result = await vouchSign(['--id', keyId, '--plugin', TEST_PLUGIN_NAME, '--envelope', format, '--output', 'json', reference]);
    t.is(result.code, 0, result.err);
    const report = JSON.parse(result.out) as { signature: Descriptor & { envelopeMediaType: string } };
    t.is(report.signature.envelopeMediaType, format === 'jws' ? MEDIA_TYPE.jws : MEDIA_TYPE.cose);
    const { envelope } = await signatureEnvelope(repository, report.signature);
    t.is(envelope.algorithm, algorithm);
    t.is(envelope.signingAgent, `vouch ${TEST_PLUGIN_NAME}/${TEST_PLUGIN_DEFAULT_VERSION}`);
    t.is(envelope.verificationPlugin, undefined, 'RAW envelopes are vouch’s: they name no verification plugin');
    const verified = await world!.notation.verify(reference);
    t.is(verified.code, 0, `notation verify: ${verified.stderr}${verified.stdout}`);
  });
}

// ---- ENVELOPE: the plugin builds the envelope --------------------------------------------------

for (const format of ['jws', 'cose'] as const) {
  test(`ENVELOPE ${format}: the plugin's envelope is pushed with its annotations; notation verify (running the plugin) accepts`, async (t) => {
    const { repository, reference } = await freshImage();
    const result = await vouchSign([
      '--plugin',
      TEST_PLUGIN_NAME,
      '--id',
      'ec',
      '--envelope',
      format,
      '--expiry',
      '2h',
      ...configArgs(ENVELOPE_SIGNING),
      '--output',
      'json',
      reference,
    ]);
    t.is(result.code, 0, result.err);
    const report = JSON.parse(result.out) as { signature: Descriptor };
    const { manifest, envelope } = await signatureEnvelope(repository, report.signature);
    t.is(envelope.verificationPlugin, TEST_PLUGIN_NAME);
    t.truthy(envelope.expiry);
    // generate-envelope's annotations go on the signature manifest (notation-go PluginAnnotations).
    t.is(manifest.annotations?.['io.vouch.test.plugin'], TEST_PLUGIN_NAME);
    const verified = await verifyWithNotationPlugin(world!.notation, reference);
    t.is(verified.code, 0, `notation verify: ${verified.stderr}${verified.stdout}`);
  });
}

// ---- timestamps ---------------------------------------------------------------------------------

test('RAW with --timestamp-url: the primitive signature is countersigned; notation verify (verifyTimestamp always) accepts', async (t) => {
  const w = world!;
  const { repository, descriptor, reference } = await freshImage('timestamped');
  const rootFile = join(w.dir, 'tsa-root.pem');
  await writeFile(rootFile, w.tsa.rootPem);
  const before = w.tsa.requests.length;
  const result = await vouchSign([
    '--plugin',
    TEST_PLUGIN_NAME,
    '--id',
    'rsa',
    '--envelope',
    'cose',
    '--timestamp-url',
    w.tsa.url.href,
    '--timestamp-root',
    rootFile,
    reference,
  ]);
  t.is(result.code, 0, result.err);
  t.true(w.tsa.requests.length > before, 'the TSA was asked');
  t.is((await repository.listReferrers(descriptor.digest)).descriptors.length, 1);
  const verified = await w.notation.verify(reference);
  t.is(verified.code, 0, `notation verify: ${verified.stderr}${verified.stdout}`);
});

test('ENVELOPE with --timestamp-url is refused (PLUGIN_CAPABILITY) before the plugin or the TSA is asked; nothing pushed', async (t) => {
  const w = world!;
  const { repository, descriptor } = await freshImage();
  const before = w.tsa.requests.length;
  const host = new PluginHost({ directory: w.plugins, timeoutMs: 20_000 });
  const error = await t.throwsAsync(
    signImage(repository, descriptor, {
      signer: pluginSigningKey(host, TEST_PLUGIN_NAME, 'ec', ENVELOPE_SIGNING),
      format: 'jws',
      timestamp: { url: w.tsa.url, roots: [w.tsa.root.certificate] },
    }),
    { instanceOf: VouchError },
  );
  t.is(error.code, 'PLUGIN_ERROR');
  t.is(error.reason, 'PLUGIN_CAPABILITY');
  t.is(w.tsa.requests.length, before);
  t.deepEqual((await repository.listReferrers(descriptor.digest)).descriptors, []);
});

test('an unsigned image does not verify with notation (the check can fail)', async (t) => {
  const { reference } = await freshImage();
  t.not((await world!.notation.verify(reference)).code, 0);
});

// ---- failures: a clear code and reason, and nothing pushed --------------------------------------

const FAILURES: Array<{
  name: string;
  keyId?: string;
  config?: PluginConfig;
  directory?: string;
  format?: 'jws' | 'cose';
  reason: ErrorReason;
}> = [
  { name: 'a plugin that is not installed', directory: 'elsewhere', reason: 'PLUGIN_NOT_FOUND' },
  { name: 'describe-key answering for another key id', config: { 'test.fail.describe-key': 'wrongkeyid' }, reason: 'BAD_OUTPUT' },
  {
    name: 'generate-signature answering for another key id',
    config: { 'test.fail.generate-signature': 'wrongkeyid' },
    reason: 'BAD_OUTPUT',
  },
  { name: 'a raw signature by another key', config: { 'test.fail.generate-signature': 'badsig' }, reason: 'BAD_OUTPUT' },
  {
    name: 'an envelope signed by another key',
    config: { ...ENVELOPE_SIGNING, 'test.fail.generate-envelope': 'badsig' },
    format: 'cose',
    reason: 'BAD_OUTPUT',
  },
  { name: 'no signing capability', config: { 'test.capabilities': 'identity,revocation' }, reason: 'PLUGIN_CAPABILITY' },
  { name: 'a crash in generate-signature', config: { 'test.fail.generate-signature': 'crash' }, reason: 'PLUGIN_CRASHED' },
  { name: 'garbage from describe-key', config: { 'test.fail.describe-key': 'garbage' }, reason: 'BAD_OUTPUT' },
  { name: 'the plugin’s own error', config: { 'test.fail.generate-signature': 'error:ACCESS_DENIED' }, reason: 'PLUGIN_REFUSED' },
  { name: 'a key the plugin does not hold', keyId: 'nope', reason: 'PLUGIN_REFUSED' },
];

for (const failure of FAILURES) {
  test(`${failure.name}: PLUGIN_ERROR (${failure.reason}), nothing pushed`, async (t) => {
    const { repository, descriptor } = await freshImage();
    const directory = failure.directory === undefined ? world!.plugins : join(world!.dir, failure.directory);
    const host = new PluginHost({ directory, timeoutMs: 20_000 });
    const key = pluginSigningKey(host, TEST_PLUGIN_NAME, failure.keyId ?? 'ec', failure.config);
    const error = await t.throwsAsync(signImage(repository, descriptor, { signer: key, format: failure.format ?? 'jws' }), {
      instanceOf: VouchError,
    });
    t.is(error.code, 'PLUGIN_ERROR', error.message);
    t.is(error.reason, failure.reason, error.message);
    t.deepEqual((await repository.listReferrers(descriptor.digest)).descriptors, []);
  });
}

test('the CLI: a wrong answer is exit 1 naming the plugin and the command; nothing pushed', async (t) => {
  const { repository, descriptor, reference } = await freshImage();
  const result = await vouchSign([
    '--plugin',
    TEST_PLUGIN_NAME,
    '--id',
    'ec',
    ...configArgs({ 'test.fail.generate-signature': 'badsig' }),
    reference,
  ]);
  t.is(result.code, 1);
  t.regex(result.err, /^vouch sign: PLUGIN_ERROR: plugin "vouch-test" generate-signature: the ES256 signature does not verify/);
  t.deepEqual((await repository.listReferrers(descriptor.digest)).descriptors, []);
});

// ---- promote --sign-for with a plugin key ---------------------------------------------------------

test('promote --sign-for ENV --plugin: the config’s plugins section (directory, ENV’s plugin configuration) is used; ENV admits the stamp', async (t) => {
  const w = world!;
  const { descriptor, reference } = await freshImage();
  const envDir = join(w.dir, 'prod');
  await mkdir(join(envDir, 'store', 'x509', 'ca', 'plugin'), { recursive: true });
  await writeFile(join(envDir, 'store', 'x509', 'ca', 'plugin', 'root.pem'), w.rootPem);
  const policy = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'all',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:plugin'],
        trustedIdentities: ['*'],
      },
    ],
  };
  await writeFile(join(envDir, 'policy.json'), JSON.stringify(policy));
  const config = join(envDir, 'vouch.yaml');
  await writeFile(
    config,
    [
      'environments:',
      '  prod: { trustPolicy: policy.json, trustStore: store }',
      'registries:',
      `  "${w.registry.host}": { plainHttp: true }`,
      'plugins:',
      `  directory: ${JSON.stringify(w.plugins)}`,
      '  config:',
      '    prod:',
      '      vouch-test: { test.version: "3.1.0" }',
      '',
    ].join('\n'),
  );
  const destination = `${w.registry.host}/plugin-sign/promoted-${counter++}`;
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [
      'promote',
      '--config',
      config,
      '--output',
      'json',
      '--sign-for',
      'prod',
      '--plugin',
      TEST_PLUGIN_NAME,
      '--id',
      'rsa',
      // --plugin-config overrides the config's value for the same key (notation-go mergeConfig).
      '--plugin-config',
      'test.version=3.2.0',
      reference,
      `${destination}:v1`,
    ],
    { out: (s) => out.push(s), err: (s) => err.push(s) },
  );
  t.is(code, 0, err.join('\n'));
  const report = JSON.parse(out.join('\n')) as { stamp?: { action: string; verified: boolean; signature?: { digest: string } } };
  t.like(report.stamp, { action: 'signed', verified: true });
  const repository = w.client.repository(w.registry.host, destination.slice(w.registry.host.length + 1));
  const signature = (await repository.listReferrers(descriptor.digest)).descriptors.find(
    (d) => d.digest === report.stamp?.signature?.digest,
  );
  const { envelope } = await signatureEnvelope(repository, signature!);
  // The version the plugin reported with the merged configuration is in the signing agent.
  t.is(envelope.signingAgent, `vouch ${TEST_PLUGIN_NAME}/3.2.0`);
  const verified = await w.notation.verify(`${destination}@${descriptor.digest}`);
  t.is(verified.code, 0, `notation verify: ${verified.stderr}${verified.stdout}`);
});

// The real Notary Project plugin "vouch-test" (tools/notation-vouch-test, on the upstream plugin framework) with the
// real notation CLI (v1.3.2) and a real registry (olareg): `notation sign --plugin` makes JWS and COSE signatures whose
// envelopes the plugin built and which name it as their verification plugin, and `notation verify` runs the plugin's
// verify-signature for the trusted identity and revocation checks. This pins down the plugin's behaviour that vouch's
// plugin tests rely on (the same plugin, judged by notation).
// Spec: https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md

import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { RegistryClient } from '../../src/oci/index.js';
import { NotationCli } from '../helpers/notation.js';
import {
  ENVELOPE_SIGNING,
  certificateFingerprint,
  fingerprintIdentity,
  installTestPluginForNotation,
  signWithNotationPlugin,
  testPluginKey,
  TEST_PLUGIN_DEFAULT_VERSION,
  TEST_PLUGIN_NAME,
  verifyWithNotationPlugin,
  type InstalledTestPlugin,
} from '../helpers/notation-plugin.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { generateChain, generateLeaf, generateRoot, type GeneratedCertificate } from '../helpers/pki.js';
import { startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';

// olareg serves the Referrers API: notation must push signatures for it, not under the referrers tag.
const REFERRERS_API = ['--force-referrers-tag=false'];

interface Setup {
  registry: RunningRegistry;
  client: RegistryClient;
  notation: NotationCli;
  plugin: InstalledTestPlugin;
  good: GeneratedCertificate;
  revoked: GeneratedCertificate;
}

let setup: Setup | undefined;

const SCOPES = ['trusted', 'untrusted', 'revoked', 'raw', 'subject'] as const;
type Scope = (typeof SCOPES)[number];

test.before(async () => {
  const [registry, notation, root] = await Promise.all([startReferrersRegistry(), NotationCli.create(), generateRoot()]);
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  // Two signing keys under one root, held by the plugin; the second is on the plugin's revocation list.
  const good = await generateLeaf({ issuer: root, subject: 'CN=plugin signer,O=vouch,ST=WA,C=US' });
  const revoked = await generateLeaf({ issuer: root, subject: 'CN=revoked signer,O=vouch,ST=WA,C=US' });
  // RSA-3072: RSASSA-PSS with SHA-384, so the hash the plugin uses follows the key spec.
  const rsa = await generateLeaf({ issuer: root, key: 'rsa-3072', subject: 'CN=rsa signer,O=vouch,ST=WA,C=US' });
  const stranger = await generateChain({ length: 2 });
  const plugin = await installTestPluginForNotation(notation, {
    keys: [testPluginKey('good', [good, root]), testPluginKey('revoked', [revoked, root]), testPluginKey('rsa', [rsa, root])],
    revoked: [revoked.certificate],
  });
  await notation.addTrustedCertificates('ca', 'plugin-root', [root.certificate.toPem()]);
  const statement = (scope: Scope, trustedIdentities: string[]) => ({
    name: scope,
    registryScopes: [`${registry.host}/plugin/${scope}`],
    signatureVerification: { level: 'strict' },
    trustStores: ['ca:plugin-root'],
    trustedIdentities,
  });
  await notation.setTrustPolicy({
    version: '1.0',
    trustPolicies: [
      statement('trusted', [fingerprintIdentity(good.certificate)]),
      // Only the plugin understands this identity; it names someone else's certificate.
      statement('untrusted', [fingerprintIdentity(stranger.leaf.certificate)]),
      statement('revoked', ['*']),
      statement('raw', ['*']),
      // The plugin compares x509.subject identities with the leaf's subject as Go prints it (RFC 4514 order).
      statement('subject', ['x509.subject:CN=plugin signer,O=vouch,ST=WA,C=US']),
    ],
  });
  setup = { registry, client, notation, plugin, good, revoked };
});

test.after.always(async () => {
  if (setup) await Promise.all([setup.client.close(), setup.registry.stop(), setup.notation.dispose()]);
});

async function pushImage(scope: Scope): Promise<string> {
  const s = setup!;
  const repo = s.client.repository(s.registry.host, `plugin/${scope}`);
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  return `${s.registry.host}/plugin/${scope}@${image.descriptor.digest}`;
}

/** One signature of `notation inspect -o json` (notation 1.3.2 spells the list "Signatures"). */
interface InspectedSignature {
  mediaType: string;
  signatureAlgorithm: string;
  signedAttributes: Record<string, string>;
  unsignedAttributes?: Record<string, string>;
  certificates: Array<{ SHA256Fingerprint: string }>;
}

async function inspect(reference: string): Promise<InspectedSignature[]> {
  const result = await setup!.notation.run(['inspect', '--insecure-registry', '-o', 'json', reference]);
  if (result.code !== 0) throw new Error(`notation inspect failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { Signatures?: InspectedSignature[] }).Signatures ?? [];
}

for (const format of ['jws', 'cose'] as const) {
  test.serial(`${format}: the plugin builds the envelope and names itself; notation verify runs it for a trusted identity`, async (t) => {
    const s = setup!;
    const reference = await pushImage('trusted');
    const signed = await signWithNotationPlugin(s.notation, reference, {
      keyId: 'good',
      format,
      config: ENVELOPE_SIGNING,
      extraArgs: [...REFERRERS_API, '--expiry', '24h'],
    });
    t.is(signed.code, 0, signed.stderr);
    const [signature, ...others] = await inspect(reference);
    t.is(others.length, 0);
    t.is(signature!.mediaType, format === 'jws' ? 'application/jose+json' : 'application/cose');
    t.is(signature!.signedAttributes['io.cncf.notary.verificationPlugin'], TEST_PLUGIN_NAME);
    t.truthy(signature!.signedAttributes['expiry'], 'expiryDurationInSeconds reached the plugin');
    t.is(signature!.certificates[0]!.SHA256Fingerprint, certificateFingerprint(s.good.certificate));
    t.is(signature!.unsignedAttributes?.['signingAgent'], `${TEST_PLUGIN_NAME}/${TEST_PLUGIN_DEFAULT_VERSION}`);

    const verified = await verifyWithNotationPlugin(s.notation, reference);
    t.is(verified.code, 0, verified.stderr);
  });

  test.serial(`${format}: notation verify fails when the plugin says the identity is not trusted`, async (t) => {
    const s = setup!;
    const reference = await pushImage('untrusted');
    t.is(
      (await signWithNotationPlugin(s.notation, reference, { keyId: 'good', format, config: ENVELOPE_SIGNING, extraArgs: REFERRERS_API }))
        .code,
      0,
    );
    const verified = await verifyWithNotationPlugin(s.notation, reference, {}, { debug: true });
    t.not(verified.code, 0);
    t.regex(verified.stderr, /trusted identify verification by plugin "vouch-test" failed with reason "not trusted/);
  });

  test.serial(`${format}: notation verify fails when the plugin says the leaf is revoked`, async (t) => {
    const s = setup!;
    const reference = await pushImage('revoked');
    t.is(
      (
        await signWithNotationPlugin(s.notation, reference, {
          keyId: 'revoked',
          format,
          config: ENVELOPE_SIGNING,
          extraArgs: REFERRERS_API,
        })
      ).code,
      0,
    );
    const verified = await verifyWithNotationPlugin(s.notation, reference, {}, { debug: true });
    t.not(verified.code, 0);
    t.regex(verified.stderr, /revocation check by verification plugin "vouch-test" failed with reason "revoked/);
    // The same policy accepts the other key's signature: the plugin's list, not the policy, decided.
    const other = await pushImage('revoked');
    t.is(
      (await signWithNotationPlugin(s.notation, other, { keyId: 'good', format, config: ENVELOPE_SIGNING, extraArgs: REFERRERS_API })).code,
      0,
    );
    t.is((await verifyWithNotationPlugin(s.notation, other)).code, 0);
  });

  test.serial(`${format}: raw signing (SIGNATURE_GENERATOR.RAW): notation builds a plain signature and verifies it itself`, async (t) => {
    const s = setup!;
    const reference = await pushImage('raw');
    const signed = await signWithNotationPlugin(s.notation, reference, {
      keyId: 'good',
      format,
      config: { 'test.capabilities': 'raw' },
      extraArgs: REFERRERS_API,
    });
    t.is(signed.code, 0, signed.stderr);
    const [signature] = await inspect(reference);
    t.is(signature!.signedAttributes['io.cncf.notary.verificationPlugin'], undefined);
    // notation built the envelope: its own signing agent, naming the plugin.
    t.regex(signature!.unsignedAttributes?.['signingAgent'] ?? '', /^notation-go\/\S+ vouch-test\/1\.2\.0$/);
    t.is(signature!.signatureAlgorithm, 'ECDSA-SHA-256');
    const verified = await verifyWithNotationPlugin(s.notation, reference);
    t.is(verified.code, 0, verified.stderr);
  });
}

test.serial('x509.subject identities: the plugin matches the leaf subject', async (t) => {
  const s = setup!;
  const reference = await pushImage('subject');
  t.is(
    (await signWithNotationPlugin(s.notation, reference, { keyId: 'good', config: ENVELOPE_SIGNING, extraArgs: REFERRERS_API })).code,
    0,
  );
  const verified = await verifyWithNotationPlugin(s.notation, reference);
  t.is(verified.code, 0, verified.stderr);
});

test.serial('a minimum plugin version above the installed one: notation verify refuses', async (t) => {
  const s = setup!;
  const reference = await pushImage('trusted');
  const config = { ...ENVELOPE_SIGNING, 'test.minVersion': '9.0.0' };
  t.is((await signWithNotationPlugin(s.notation, reference, { keyId: 'good', config, extraArgs: REFERRERS_API })).code, 0);
  const [signature] = await inspect(reference);
  t.is(signature!.signedAttributes['io.cncf.notary.verificationPluginMinVersion'], '9.0.0');
  const refused = await verifyWithNotationPlugin(s.notation, reference, {}, { debug: true });
  t.not(refused.code, 0);
  t.regex(refused.stderr, /needs plugin version greater than or equal to 9\.0\.0/);
  // The version the plugin reports comes from its configuration.
  t.is((await verifyWithNotationPlugin(s.notation, reference, { 'test.version': '9.1.0' })).code, 0);
});

test.serial('an extra critical attribute: accepted when the plugin processes it, refused when it does not', async (t) => {
  const s = setup!;
  const reference = await pushImage('trusted');
  const config = { ...ENVELOPE_SIGNING, 'test.extraCritical': 'io.vouch.test.ticket=42' };
  t.is((await signWithNotationPlugin(s.notation, reference, { keyId: 'good', format: 'cose', config, extraArgs: REFERRERS_API })).code, 0);
  t.is((await verifyWithNotationPlugin(s.notation, reference)).code, 0);
  const refused = await verifyWithNotationPlugin(s.notation, reference, { 'test.unprocessed': 'true' }, { debug: true });
  t.not(refused.code, 0);
  t.regex(refused.stderr, /"io\.vouch\.test\.ticket" was not processed/);
});

test.serial('signing faults reach notation: plugin error, wrong key id, bad signature, unknown key', async (t) => {
  const s = setup!;
  const reference = await pushImage('trusted');
  const sign = (keyId: string, config: Record<string, string>) =>
    signWithNotationPlugin(s.notation, reference, { keyId, config, extraArgs: REFERRERS_API });
  const denied = await sign('good', { ...ENVELOPE_SIGNING, 'test.fail.generate-envelope': 'error:ACCESS_DENIED' });
  t.not(denied.code, 0);
  t.regex(denied.stderr, /injected ACCESS_DENIED error/);
  const wrongId = await sign('good', { 'test.capabilities': 'raw', 'test.fail.describe-key': 'wrongkeyid' });
  t.not(wrongId.code, 0);
  t.regex(wrongId.stderr, /keyID in describeKey response "not-good" does not match/);
  const badEnvelope = await sign('good', { ...ENVELOPE_SIGNING, 'test.fail.generate-envelope': 'badsig' });
  t.not(badEnvelope.code, 0);
  t.regex(badEnvelope.stderr, /generated signature failed verification/);
  const badRaw = await sign('good', { 'test.capabilities': 'raw', 'test.fail.generate-signature': 'badsig' });
  t.not(badRaw.code, 0);
  t.regex(badRaw.stderr, /generated signature failed verification/);
  const unknown = await sign('nobody', ENVELOPE_SIGNING);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /key "nobody" not found/);
  t.deepEqual(await s.notation.list(reference), [], 'no signature was pushed');
});

test.serial('an RSA-3072 key: RSASSA-PSS-SHA-384, raw and envelope signatures notation verifies', async (t) => {
  const s = setup!;
  for (const config of [ENVELOPE_SIGNING, { 'test.capabilities': 'raw' }]) {
    const reference = await pushImage('revoked'); // trusts '*' under the plugin's root
    const signed = await signWithNotationPlugin(s.notation, reference, { keyId: 'rsa', config, extraArgs: REFERRERS_API });
    t.is(signed.code, 0, signed.stderr);
    const [signature] = await inspect(reference);
    t.is(signature!.signatureAlgorithm, 'RSASSA-PSS-SHA-384');
    const verified = await verifyWithNotationPlugin(s.notation, reference);
    t.is(verified.code, 0, verified.stderr);
  }
});

/** Runs the installed plugin directly: `notation-vouch-test <command>` with `request` on stdin. */
async function runPlugin(
  command: string,
  request: unknown,
  timeoutMs = 10_000,
): Promise<{ code: number | null; signal: string | null; stdout: Buffer; stderr: string }> {
  const child = spawn(setup!.plugin.executable, [command], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(JSON.stringify(request));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() };
}

test.serial("fault injection: the plugin misbehaves as configured (for the plugin hosts' failure-mode tests)", async (t) => {
  const fail = (command: string, mode: string) => ({ pluginConfig: { [`test.fail.${command}`]: mode } });
  const healthy = await runPlugin('get-plugin-metadata', { pluginConfig: { 'test.capabilities': 'identity' } });
  t.is(healthy.code, 0);
  t.like(JSON.parse(healthy.stdout.toString()), {
    name: 'vouch-test',
    version: '1.2.0',
    capabilities: ['SIGNATURE_VERIFIER.TRUSTED_IDENTITY'],
  });

  const crash = await runPlugin('get-plugin-metadata', fail('get-plugin-metadata', 'crash'));
  t.is(crash.code, 3);
  t.throws(() => JSON.parse(crash.stderr));
  const garbage = await runPlugin('verify-signature', fail('verify-signature', 'garbage'));
  t.is(garbage.code, 0);
  t.is(garbage.stdout.toString(), 'this is not json');
  const huge = await runPlugin('get-plugin-metadata', fail('get-plugin-metadata', 'huge'));
  t.is(huge.stdout.length, 10 * 1024 * 1024);
  const malformed = await runPlugin('describe-key', fail('describe-key', 'malformed'));
  t.is(malformed.code, 0);
  t.is(typeof (JSON.parse(malformed.stdout.toString()) as { keyId: unknown }).keyId, 'number');
  const denied = await runPlugin('get-plugin-metadata', fail('get-plugin-metadata', 'error:ACCESS_DENIED'));
  t.is(denied.code, 1);
  t.is(denied.stdout.length, 0);
  t.like(JSON.parse(denied.stderr), { errorCode: 'ACCESS_DENIED' });
  const renamed = await runPlugin('get-plugin-metadata', { pluginConfig: { 'test.metadataName': 'someone-else' } });
  t.like(JSON.parse(renamed.stdout.toString()), { name: 'someone-else' });
  const hang = await runPlugin('get-plugin-metadata', fail('get-plugin-metadata', 'hang'), 500);
  t.is(hang.signal, 'SIGKILL');
  // Commands outside the configured capabilities are refused by the framework's own argument check.
  const refused = await runPlugin('describe-key', {
    contractVersion: '1.0',
    keyId: 'good',
    pluginConfig: { 'test.capabilities': 'envelope' },
  });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /Invalid command/);

  const verifyRequest = (pluginConfig: Record<string, string>) => ({
    contractVersion: '1.0',
    signature: {
      criticalAttributes: { contentType: 'application/vnd.cncf.notary.payload.v1+json', signingScheme: 'notary.x509' },
      unprocessedAttributes: ['io.vouch.test.ticket'],
      certificateChain: [Buffer.from(setup!.good.der).toString('base64')],
    },
    trustPolicy: {
      trustedIdentities: ['*'],
      signatureVerification: ['SIGNATURE_VERIFIER.TRUSTED_IDENTITY', 'SIGNATURE_VERIFIER.REVOCATION_CHECK'],
    },
    pluginConfig,
  });
  const verified = await runPlugin('verify-signature', verifyRequest({}));
  t.deepEqual(JSON.parse(verified.stdout.toString()), {
    verificationResults: {
      'SIGNATURE_VERIFIER.TRUSTED_IDENTITY': { success: true },
      'SIGNATURE_VERIFIER.REVOCATION_CHECK': { success: true },
    },
    processedAttributes: ['io.vouch.test.ticket'],
  });
  const omitted = await runPlugin('verify-signature', verifyRequest({ 'test.fail.verify-signature': 'omit', 'test.unprocessed': 'true' }));
  t.deepEqual(JSON.parse(omitted.stdout.toString()), {
    verificationResults: { 'SIGNATURE_VERIFIER.REVOCATION_CHECK': { success: true } },
    processedAttributes: [],
  });
});

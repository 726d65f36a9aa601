// Verification through a Notary Project plugin (src/notation/plugin-verification.ts): envelopes made by vouch's own
// signEnvelope naming a plugin, verified with REAL plugin processes. Small shell scripts written here answer fixed
// JSON for the mapping cases (what is sent, how each answer becomes a check); the real Go plugin `vouch-test`
// (tools/notation-vouch-test, on the upstream plugin framework) for trusted / untrusted / revoked and every failure mode.

import test from 'ava';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VouchError, type AnswerCode, type ErrorReason } from '../../../src/core/index.js';
import { MEDIA_TYPE, OciLayoutSource, type Descriptor } from '../../../src/oci/index.js';
import { OciLayoutWriter } from '../../../src/oci/oci-layout-writer.js';
import {
  PluginHost,
  pluginEnvironment,
  PLUGIN_CAPABILITY,
  type PluginConfig,
  type VerifySignatureRequest,
} from '../../../src/notation/index.js';
import { RevocationChecker } from '../../../src/notation/revocation.js';
import { buildSignatureManifest, signEnvelope, type SignedEnvelope } from '../../../src/notation/sign.js';
import { NotationVerifier, type SignatureVerification } from '../../../src/notation/verifier.js';
import { verifyNotationArtifact } from '../../../src/notation/verify-artifact.js';
import { FileTrustStore, parseOciTrustPolicy, type Certificate, type TrustPolicyStatement } from '../../../src/trust/index.js';
import { buildImage } from '../../helpers/oci-fixtures.js';
import { fingerprintIdentity, installTestPlugin, TEST_PLUGIN_NAME } from '../../helpers/notation-plugin.js';
import { generateChain, type GeneratedChain } from '../../helpers/pki.js';

const TI = PLUGIN_CAPABILITY.trustedIdentityVerifier;
const RC = PLUGIN_CAPABILITY.revocationCheckVerifier;
const PLUGIN_HEADER = 'io.cncf.notary.verificationPlugin';
const MIN_VERSION_HEADER = 'io.cncf.notary.verificationPluginMinVersion';

const subject: Descriptor = buildImage().descriptor;
const signer = generateChain({ length: 2, leafKey: 'ec-p256', leaf: { subject: 'CN=release,O=Acme Rockets,C=US' } });
const revokedSigner = generateChain({ length: 2, leafKey: 'ec-p256', leaf: { subject: 'CN=revoked,O=Acme Rockets,C=US' } });
const stranger = generateChain({ length: 2, leafKey: 'ec-p256' });

/** The roots as trust stores `ca:test` and `signingAuthority:test`. */
async function trustStoreFor(roots: Certificate[]): Promise<FileTrustStore> {
  const root = await mkdtemp(join(tmpdir(), 'vouch-plugin-store-'));
  for (const type of ['ca', 'signingAuthority']) {
    await mkdir(join(root, 'x509', type, 'test'), { recursive: true });
    for (const [i, cert] of roots.entries()) await writeFile(join(root, 'x509', type, 'test', `${i}.pem`), cert.toPem());
  }
  return new FileTrustStore(root);
}

function statementOf(extra: Record<string, unknown> = {}): TrustPolicyStatement {
  const doc = {
    version: '1.0',
    trustPolicies: [
      {
        name: 'plugin',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:test'],
        trustedIdentities: ['*'],
        ...extra,
      },
    ],
  };
  return parseOciTrustPolicy(JSON.stringify(doc), 'plugin policy').statements[0]!;
}

interface SignOptions {
  format?: 'jws' | 'cose';
  /** The plugin the envelope names (default vouch-test); null: none. */
  plugin?: string | null;
  minVersion?: string;
  /** Extra critical protected headers (extended attributes only the plugin processes). */
  critical?: Record<string, unknown>;
  /** Leave the plugin header out of `crit`. */
  pluginNotCritical?: boolean;
  signingScheme?: 'notary.x509' | 'notary.x509.signingAuthority';
  signingTime?: Date;
  expiry?: Date;
}

function signedBy(pki: GeneratedChain, options: SignOptions = {}, target: Descriptor = subject): SignedEnvelope {
  const headers: Record<string, unknown> = {};
  const critical: string[] = [];
  const plugin = options.plugin === undefined ? TEST_PLUGIN_NAME : options.plugin;
  if (plugin !== null) {
    headers[PLUGIN_HEADER] = plugin;
    if (options.pluginNotCritical !== true) critical.push(PLUGIN_HEADER);
  }
  if (options.minVersion !== undefined) {
    headers[MIN_VERSION_HEADER] = options.minVersion;
    critical.push(MIN_VERSION_HEADER);
  }
  for (const [name, value] of Object.entries(options.critical ?? {})) {
    headers[name] = value;
    critical.push(name);
  }
  return signEnvelope({
    format: options.format ?? 'jws',
    privateKey: pki.leaf.privateKey,
    certificateChain: pki.certificates,
    payload: { targetArtifact: target },
    extraProtectedHeaders: headers,
    extraCritical: critical,
    ...(options.signingScheme !== undefined ? { signingScheme: options.signingScheme } : {}),
    ...(options.signingTime !== undefined ? { signingTime: options.signingTime } : {}),
    ...(options.expiry !== undefined ? { expiry: options.expiry } : {}),
  });
}

interface VerifyOptions {
  /** Plugins directory (a host is made for it); undefined: no plugins configured. */
  directory?: string;
  config?: ReadonlyMap<string, PluginConfig>;
  statement?: TrustPolicyStatement;
  timeoutMs?: number;
  maxOutputBytes?: number;
  signal?: AbortSignal;
  roots?: Certificate[];
}

async function verify(envelope: SignedEnvelope, options: VerifyOptions = {}): Promise<SignatureVerification> {
  const verifier = await verifierFor(options);
  return verifier.verify(
    { mediaType: envelope.mediaType, bytes: envelope.bytes, subject },
    options.statement ?? statementOf(),
    options.signal ? { signal: options.signal } : {},
  );
}

async function verifierFor(options: VerifyOptions): Promise<NotationVerifier> {
  const roots = options.roots ?? [(await signer).root.certificate, (await revokedSigner).root.certificate];
  return new NotationVerifier({
    trustStore: await trustStoreFor(roots),
    revocation: new RevocationChecker({ offline: true }),
    ...(options.directory !== undefined
      ? {
          plugins: {
            host: new PluginHost({
              directory: options.directory,
              timeoutMs: options.timeoutMs ?? 15_000,
              ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
              environment: pluginEnvironment([]),
            }),
            ...(options.config !== undefined ? { config: options.config } : {}),
          },
        }
      : {}),
  });
}

function verifiedOk(t: { true: (v: boolean, m?: string) => void }, result: SignatureVerification): void {
  t.true(result.verified, JSON.stringify({ reasons: result.reasons, undecided: result.undecided }));
}

function failedWith(t: { is: (a: unknown, b: unknown, m?: string) => void }, result: SignatureVerification, code: AnswerCode) {
  t.is(result.verified, false, 'expected a failure');
  t.is(result.undecided, undefined, JSON.stringify(result.undecided));
  t.is(result.reasons[0]?.code, code, JSON.stringify(result.reasons));
}

function undecidedWith(t: { is: (a: unknown, b: unknown, m?: string) => void }, result: SignatureVerification, reason: ErrorReason) {
  t.is(result.verified, false, 'expected no verdict');
  t.is(result.undecided?.code, 'PLUGIN_ERROR', JSON.stringify(result));
  t.is(result.undecided?.reason, reason, result.undecided?.message);
}

// ---- shell-script plugins (fixed answers) ------------------------------------------------------------------------

interface ScriptPlugin {
  directory: string;
  /** The last verify-signature request it received. */
  request(): Promise<VerifySignatureRequest>;
  /** How often verify-signature ran. */
  calls(): Promise<number>;
}

/** A plugin `name` answering `metadata` and `answer` (JSON) from files, recording verify-signature requests. */
async function scriptPlugin(
  name: string,
  options: { capabilities?: string[]; version?: string; answer?: unknown; metadata?: unknown } = {},
): Promise<ScriptPlugin> {
  const directory = await mkdtemp(join(tmpdir(), 'vouch-plugins-'));
  const folder = join(directory, name);
  await mkdir(folder, { mode: 0o755 });
  const metadata = options.metadata ?? {
    name,
    description: 'fixed answers for vouch tests',
    version: options.version ?? '1.0.0',
    url: 'https://example.com/plugin',
    supportedContractVersions: ['1.0'],
    capabilities: options.capabilities ?? [TI, RC],
  };
  const answer = options.answer ?? {
    verificationResults: Object.fromEntries((options.capabilities ?? [TI, RC]).map((c) => [c, { success: true }])),
    processedAttributes: [],
  };
  await writeFile(join(folder, 'metadata.json'), JSON.stringify(metadata));
  await writeFile(join(folder, 'answer.json'), typeof answer === 'string' ? answer : JSON.stringify(answer));
  const script = [
    '#!/bin/sh',
    'case "$1" in',
    '  get-plugin-metadata) cat metadata.json ;;',
    '  verify-signature) cat > request.json; echo x >> calls; cat answer.json ;;',
    '  *) echo \'{"errorCode":"VALIDATION_ERROR","errorMessage":"unsupported command"}\' >&2; exit 1 ;;',
    'esac',
    '',
  ].join('\n');
  const executable = join(folder, `notation-${name}`);
  await writeFile(executable, script);
  await chmod(executable, 0o755);
  return {
    directory,
    request: async () => JSON.parse(await readFile(join(folder, 'request.json'), 'utf8')) as VerifySignatureRequest,
    calls: async () => (await readFile(join(folder, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
  };
}

test('script plugin: trusted by the plugin; the request carries what notation sends', async (t) => {
  const pki = await signer;
  const plugin = await scriptPlugin('acme-kms');
  const config = new Map([['acme-kms', { region: 'eu-west-1' }]]);
  const result = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: plugin.directory, config });
  verifiedOk(t, result);
  t.deepEqual(result.plugin, { name: 'acme-kms', version: '1.0.0', checks: ['authenticity', 'revocation'] });
  t.deepEqual(
    result.checks.map((c) => [c.type, c.outcome]),
    [
      ['integrity', 'pass'],
      ['authenticity', 'pass'],
      ['expiry', 'pass'],
      ['authenticTimestamp', 'pass'],
      ['revocation', 'pass'],
    ],
  );
  const request = await plugin.request();
  t.is(request.contractVersion, '1.0');
  t.deepEqual(request.trustPolicy, { trustedIdentities: ['*'], signatureVerification: [TI, RC] });
  t.deepEqual(request.pluginConfig, { region: 'eu-west-1' });
  t.is(request.signature.criticalAttributes.contentType, MEDIA_TYPE.notaryPayload);
  t.is(request.signature.criticalAttributes.signingScheme, 'notary.x509');
  t.is(request.signature.criticalAttributes.authenticSigningTime, undefined);
  t.deepEqual(request.signature.unprocessedAttributes, []);
  t.deepEqual(
    request.signature.certificateChain,
    pki.ders.map((der) => Buffer.from(der).toString('base64')),
  );
});

test('script plugin: signingAuthority: authenticSigningTime and expiry are among the critical attributes sent', async (t) => {
  const pki = await signer;
  const plugin = await scriptPlugin('acme-kms');
  const signingTime = new Date(Date.now() - 60_000);
  const expiry = new Date(Date.now() + 3_600_000);
  const envelope = signedBy(pki, { plugin: 'acme-kms', signingScheme: 'notary.x509.signingAuthority', signingTime, expiry });
  const result = await verify(envelope, {
    directory: plugin.directory,
    statement: statementOf({ trustStores: ['signingAuthority:test'] }),
  });
  verifiedOk(t, result);
  const attributes = (await plugin.request()).signature.criticalAttributes;
  t.is(attributes.signingScheme, 'notary.x509.signingAuthority');
  t.is(Date.parse(attributes.authenticSigningTime ?? ''), Math.floor(signingTime.getTime() / 1000) * 1000);
  t.is(Date.parse(attributes.expiry ?? ''), Math.floor(expiry.getTime() / 1000) * 1000);
});

test('script plugin: its trusted-identity verdict replaces the x509.subject match; without the capability vouch matches', async (t) => {
  const pki = await signer;
  const statement = statementOf({ trustedIdentities: ['x509.subject:CN=someone else,O=Acme Rockets,ST=WA,C=US'] });
  const withIdentity = await scriptPlugin('acme-kms');
  verifiedOk(t, await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: withIdentity.directory, statement }));
  t.deepEqual((await withIdentity.request()).trustPolicy.trustedIdentities, ['x509.subject:CN=someone else,O=Acme Rockets,ST=WA,C=US']);

  const revocationOnly = await scriptPlugin('acme-kms', { capabilities: [RC] });
  const result = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: revocationOnly.directory, statement });
  failedWith(t, result, 'UNTRUSTED_SIGNER');
  t.is(result.reasons[0]?.check, 'authenticity');
  t.is(await revocationOnly.calls(), 0, 'verification stopped before the plugin was asked');
});

test('script plugin: trusted identity refused is UNTRUSTED_SIGNER (enforced under strict, logged under audit); its reason is sanitised', async (t) => {
  const pki = await signer;
  const answer = {
    verificationResults: { [TI]: { success: false, reason: 'not on the\nallow list\u0007' }, [RC]: { success: true } },
  };
  const plugin = await scriptPlugin('acme-kms', { answer });
  const strict = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: plugin.directory });
  failedWith(t, strict, 'UNTRUSTED_SIGNER');
  t.is(strict.reasons[0]?.check, 'authenticity');
  t.regex(strict.reasons[0]?.message ?? '', /acme-kms.*not on the allow list/);
  t.notRegex(strict.reasons[0]?.message ?? '', /[\n\u0007]/);
  t.deepEqual(
    strict.checks.find((c) => c.type === 'authenticity'),
    { type: 'authenticity', outcome: 'fail', action: 'enforce', code: 'UNTRUSTED_SIGNER', message: strict.reasons[0]!.detail! },
  );

  const audit = await verify(signedBy(pki, { plugin: 'acme-kms' }), {
    directory: plugin.directory,
    statement: statementOf({ signatureVerification: { level: 'audit' } }),
  });
  verifiedOk(t, audit);
  t.is(audit.warnings[0]?.code, 'UNTRUSTED_SIGNER');
});

test('script plugin: revoked is REVOKED under strict and a warning under permissive; vouch does not check revocation itself', async (t) => {
  const pki = await signer;
  const answer = { verificationResults: { [TI]: { success: true }, [RC]: { success: false, reason: 'revoked by the KMS' } } };
  const plugin = await scriptPlugin('acme-kms', { answer });
  const strict = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: plugin.directory });
  failedWith(t, strict, 'REVOKED');
  t.is(strict.reasons[0]?.check, 'revocation');
  t.is(strict.checks.filter((c) => c.type === 'revocation').length, 1, 'one revocation check: the plugin');

  const permissive = await verify(signedBy(pki, { plugin: 'acme-kms' }), {
    directory: plugin.directory,
    statement: statementOf({ signatureVerification: { level: 'permissive' } }),
  });
  verifiedOk(t, permissive);
  t.is(permissive.warnings[0]?.code, 'REVOKED');
});

test('script plugin: a level that skips revocation does not send REVOCATION_CHECK; with only that capability the plugin is not run', async (t) => {
  const pki = await signer;
  const statement = statementOf({ signatureVerification: { level: 'strict', override: { revocation: 'skip' } } });
  const both = await scriptPlugin('acme-kms');
  const result = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: both.directory, statement });
  verifiedOk(t, result);
  t.deepEqual((await both.request()).trustPolicy.signatureVerification, [TI]);
  t.deepEqual(result.plugin?.checks, ['authenticity']);

  const revocationOnly = await scriptPlugin('acme-kms', { capabilities: [RC] });
  const skipped = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: revocationOnly.directory, statement });
  verifiedOk(t, skipped);
  t.is(await revocationOnly.calls(), 0);
  t.deepEqual(skipped.plugin?.checks, []);
  // ... but extended critical attributes cannot then be processed by anyone: undecided, not accepted unread.
  const attributes = await verify(signedBy(pki, { plugin: 'acme-kms', critical: { 'com.acme.policy': 'p1' } }), {
    directory: revocationOnly.directory,
    statement,
  });
  undecidedWith(t, attributes, 'PLUGIN_CAPABILITY');
});

test('script plugin: extended critical attributes are sent and must all be processed (else INVALID_SIGNATURE)', async (t) => {
  const pki = await signer;
  for (const format of ['jws', 'cose'] as const) {
    const envelope = signedBy(pki, { format, plugin: 'acme-kms', critical: { 'com.acme.policy': 'p1', 'com.acme.level': 'high' } });
    const processing = await scriptPlugin('acme-kms', {
      answer: {
        verificationResults: { [TI]: { success: true }, [RC]: { success: true } },
        processedAttributes: ['com.acme.policy', 'com.acme.level'],
      },
    });
    verifiedOk(t, await verify(envelope, { directory: processing.directory }));
    const request = await processing.request();
    t.deepEqual([...request.signature.unprocessedAttributes].sort(), ['com.acme.level', 'com.acme.policy'], format);
    t.deepEqual(request.signature.criticalAttributes.extendedAttributes, { 'com.acme.policy': 'p1', 'com.acme.level': 'high' });

    const partial = await scriptPlugin('acme-kms', {
      answer: { verificationResults: { [TI]: { success: true }, [RC]: { success: true } }, processedAttributes: ['com.acme.policy', 7] },
    });
    const result = await verify(envelope, { directory: partial.directory });
    failedWith(t, result, 'INVALID_SIGNATURE');
    t.is(result.reasons[0]?.check, 'integrity');
    t.regex(result.reasons[0]?.message ?? '', /com\.acme\.level/);
  }
  // Without a plugin the same attribute is an unsupported critical header, as before.
  failedWith(t, await verify(signedBy(pki, { plugin: null, critical: { 'com.acme.policy': 'p1' } })), 'INVALID_SIGNATURE');
});

test('script plugin: COSE attribute values are sent as JSON (byte strings base64, maps as objects)', async (t) => {
  const pki = await signer;
  const plugin = await scriptPlugin('acme-kms', {
    answer: {
      verificationResults: { [TI]: { success: true }, [RC]: { success: true } },
      processedAttributes: ['com.acme.blob', 'com.acme.map'],
    },
  });
  const envelope = signedBy(pki, {
    format: 'cose',
    plugin: 'acme-kms',
    critical: { 'com.acme.blob': new Uint8Array([1, 2, 3]), 'com.acme.map': new Map<unknown, unknown>([[1, 'one']]) },
  });
  verifiedOk(t, await verify(envelope, { directory: plugin.directory }));
  t.deepEqual((await plugin.request()).signature.criticalAttributes.extendedAttributes, {
    'com.acme.blob': 'AQID',
    'com.acme.map': { '1': 'one' },
  });
});

test('script plugin: a result missing (or null) for a capability sent is undecided (BAD_OUTPUT)', async (t) => {
  const pki = await signer;
  for (const verificationResults of [{ [TI]: { success: true } }, { [TI]: { success: true }, [RC]: null }]) {
    const plugin = await scriptPlugin('acme-kms', { answer: { verificationResults } });
    const result = await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: plugin.directory });
    undecidedWith(t, result, 'BAD_OUTPUT');
    t.deepEqual(result.reasons, []);
  }
});

test('script plugin: metadata checks: invalid version, below the minimum, no verification capability, another name', async (t) => {
  const pki = await signer;
  const invalid = await scriptPlugin('acme-kms', { version: 'v1.0' });
  undecidedWith(t, await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: invalid.directory }), 'PLUGIN_VERSION');
  const old = await scriptPlugin('acme-kms', { version: '1.0.0-rc.1' });
  undecidedWith(
    t,
    await verify(signedBy(pki, { plugin: 'acme-kms', minVersion: '1.0.0' }), { directory: old.directory }),
    'PLUGIN_VERSION',
  );
  verifiedOk(t, await verify(signedBy(pki, { plugin: 'acme-kms', minVersion: '1.0.0-beta' }), { directory: old.directory }));
  const signing = await scriptPlugin('acme-kms', { capabilities: ['SIGNATURE_GENERATOR.RAW'] });
  undecidedWith(t, await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: signing.directory }), 'PLUGIN_CAPABILITY');
  const renamed = await scriptPlugin('acme-kms', {
    metadata: { name: 'other', description: 'd', version: '1.0.0', url: 'u', supportedContractVersions: ['1.0'], capabilities: [TI] },
  });
  undecidedWith(t, await verify(signedBy(pki, { plugin: 'acme-kms' }), { directory: renamed.directory }), 'BAD_OUTPUT');
});

test('plugin headers that break the rules are INVALID_SIGNATURE (integrity), not undecided', async (t) => {
  const pki = await signer;
  const plugin = await scriptPlugin('acme-kms');
  const notCritical = await verify(signedBy(pki, { plugin: 'acme-kms', pluginNotCritical: true }), { directory: plugin.directory });
  failedWith(t, notCritical, 'INVALID_SIGNATURE');
  t.is(notCritical.reasons[0]?.check, 'integrity');
  failedWith(t, await verify(signedBy(pki, { plugin: ' ' }), { directory: plugin.directory }), 'INVALID_SIGNATURE');
  failedWith(
    t,
    await verify(signedBy(pki, { plugin: 'acme-kms', minVersion: 'v1' }), { directory: plugin.directory }),
    'INVALID_SIGNATURE',
  );
  t.is(await plugin.calls(), 0);
});

test('no plugins configured, or the plugin not installed: undecided (PLUGIN_NOT_FOUND)', async (t) => {
  const pki = await signer;
  const none = await verify(signedBy(pki));
  undecidedWith(t, none, 'PLUGIN_NOT_FOUND');
  t.regex(none.undecided!.message, /no plugins directory/);
  t.is(none.plugin, undefined);
  const empty = await mkdtemp(join(tmpdir(), 'vouch-plugins-empty-'));
  undecidedWith(t, await verify(signedBy(pki), { directory: empty }), 'PLUGIN_NOT_FOUND');
});

// ---- the real Go plugin, vouch-test ---------------------------------------------------------------------------

const goPlugin = (async () => {
  const directory = await mkdtemp(join(tmpdir(), 'vouch-plugins-go-'));
  await installTestPlugin(directory, { revoked: [(await revokedSigner).leaf.certificate] });
  return directory;
})();

/** Verifies a vouch-test signature by `pki` with the real plugin and this pluginConfig. */
async function withGoPlugin(
  pki: GeneratedChain,
  config: PluginConfig = {},
  options: Omit<VerifyOptions, 'directory' | 'config'> & { sign?: SignOptions } = {},
): Promise<SignatureVerification> {
  return verify(signedBy(pki, options.sign ?? {}), {
    ...options,
    directory: await goPlugin,
    config: new Map([[TEST_PLUGIN_NAME, config]]),
  });
}

test('vouch-test: trusted (a plugin-only identity), JWS and COSE', async (t) => {
  const pki = await signer;
  const statement = statementOf({ trustedIdentities: [fingerprintIdentity(pki.leaf.certificate)] });
  for (const format of ['jws', 'cose'] as const) {
    const result = await withGoPlugin(pki, {}, { statement, sign: { format } });
    verifiedOk(t, result);
    t.deepEqual(result.plugin, { name: TEST_PLUGIN_NAME, version: '1.2.0', checks: ['authenticity', 'revocation'] });
  }
});

test('vouch-test: untrusted (the plugin says no) is UNTRUSTED_SIGNER', async (t) => {
  const pki = await signer;
  const statement = statementOf({ trustedIdentities: [fingerprintIdentity((await stranger).leaf.certificate)] });
  const result = await withGoPlugin(pki, {}, { statement });
  failedWith(t, result, 'UNTRUSTED_SIGNER');
  t.is(result.reasons[0]?.check, 'authenticity');
  t.regex(result.reasons[0]?.message ?? '', /vouch-test/);
});

test('vouch-test: a signer outside the trust store is UNTRUSTED_SIGNER before the plugin decides anything', async (t) => {
  const result = await withGoPlugin(await stranger);
  failedWith(t, result, 'UNTRUSTED_SIGNER');
});

test('naming a missing or broken plugin does not turn an untrusted signer into undecided (no plugins, or one that crashes)', async (t) => {
  const untrusted = signedBy(await stranger, {});
  // No plugins configured: the chain is checked against the trust store first, a verdict.
  failedWith(t, await verify(untrusted), 'UNTRUSTED_SIGNER');
  // A plugin that would crash is never started for it.
  failedWith(t, await withGoPlugin(await stranger, { 'test.fail.get-plugin-metadata': 'crash' }), 'UNTRUSTED_SIGNER');
  // The same plugin for a trusted signer: undecided, as before.
  undecidedWith(t, await withGoPlugin(await signer, { 'test.fail.get-plugin-metadata': 'crash' }), 'PLUGIN_CRASHED');
});

test('vouch-test: revoked (the plugin says so) is REVOKED', async (t) => {
  const result = await withGoPlugin(await revokedSigner);
  failedWith(t, result, 'REVOKED');
  t.is(result.reasons[0]?.check, 'revocation');
});

test('vouch-test: extended critical attribute processed, or left unprocessed (INVALID_SIGNATURE)', async (t) => {
  const pki = await signer;
  const sign: SignOptions = { critical: { 'com.example.stage': 'prod' } };
  verifiedOk(t, await withGoPlugin(pki, {}, { sign }));
  failedWith(t, await withGoPlugin(pki, { 'test.unprocessed': 'true' }, { sign }), 'INVALID_SIGNATURE');
});

test('vouch-test: version below the signature minimum, and no verification capability', async (t) => {
  const pki = await signer;
  undecidedWith(t, await withGoPlugin(pki, { 'test.version': '0.9.0' }, { sign: { minVersion: '1.0.0' } }), 'PLUGIN_VERSION');
  verifiedOk(t, await withGoPlugin(pki, {}, { sign: { minVersion: '1.2.0' } }));
  undecidedWith(t, await withGoPlugin(pki, { 'test.capabilities': 'raw,envelope' }), 'PLUGIN_CAPABILITY');
  // Only one capability: the other check is vouch's own.
  const identityOnly = await withGoPlugin(pki, { 'test.capabilities': 'identity' });
  verifiedOk(t, identityOnly);
  t.deepEqual(identityOnly.plugin?.checks, ['authenticity']);
});

const faults: Array<{ config: PluginConfig; reason: ErrorReason; title: string; timeoutMs?: number; maxOutputBytes?: number }> = [
  { title: 'crash in verify-signature', config: { 'test.fail.verify-signature': 'crash' }, reason: 'PLUGIN_CRASHED' },
  { title: 'crash in get-plugin-metadata', config: { 'test.fail.get-plugin-metadata': 'crash' }, reason: 'PLUGIN_CRASHED' },
  { title: 'hang (time limit)', config: { 'test.fail.verify-signature': 'hang' }, reason: 'TIMEOUT', timeoutMs: 1500 },
  { title: 'garbage', config: { 'test.fail.verify-signature': 'garbage' }, reason: 'BAD_OUTPUT' },
  { title: 'JSON of the wrong shape', config: { 'test.fail.verify-signature': 'malformed' }, reason: 'BAD_OUTPUT' },
  { title: 'huge output', config: { 'test.fail.verify-signature': 'huge' }, reason: 'BAD_OUTPUT', maxOutputBytes: 64 * 1024 },
  { title: 'error answer', config: { 'test.fail.verify-signature': 'error:ACCESS_DENIED' }, reason: 'PLUGIN_REFUSED' },
  { title: 'omitted result', config: { 'test.fail.verify-signature': 'omit' }, reason: 'BAD_OUTPUT' },
  { title: 'metadata names another plugin', config: { 'test.metadataName': 'someone-else' }, reason: 'BAD_OUTPUT' },
];

for (const fault of faults) {
  test(`vouch-test: ${fault.title} is undecided (${fault.reason})`, async (t) => {
    const result = await withGoPlugin(await signer, fault.config, {
      ...(fault.timeoutMs !== undefined ? { timeoutMs: fault.timeoutMs } : {}),
      ...(fault.maxOutputBytes !== undefined ? { maxOutputBytes: fault.maxOutputBytes } : {}),
    });
    undecidedWith(t, result, fault.reason);
    t.deepEqual(result.reasons, [], 'no verdict');
  });
}

test("vouch-test: the request's deadline passing while the plugin hangs is DEADLINE_EXCEEDED (thrown), not undecided", async (t) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300).unref();
  const error = await t.throwsAsync(
    withGoPlugin(await signer, { 'test.fail.verify-signature': 'hang' }, { signal: controller.signal, timeoutMs: 20_000 }),
  );
  t.true(error instanceof VouchError);
  t.is((error as VouchError).code, 'DEADLINE_EXCEEDED');
});

// ---- an artifact's signatures: an undecided one does not stop the others ---------------------------------------

test('artifact: an undecided signature leaves the others to decide; with none verified the artifact is undecided', async (t) => {
  const pki = await signer;
  const dir = await mkdtemp(join(tmpdir(), 'vouch-plugin-layout-'));
  const layout = await OciLayoutWriter.create(dir);
  const image = buildImage();
  for (const blob of image.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
  await layout.writeManifest(image.bytes, image.descriptor.mediaType, { tag: 'v1' });
  const other = buildImage();
  for (const blob of other.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
  await layout.writeManifest(other.bytes, other.descriptor.mediaType, { tag: 'v2' });
  const attach = async (target: Descriptor, envelope: SignedEnvelope) => {
    const manifest = buildSignatureManifest(envelope, target, { form: 'legacy' });
    for (const blob of manifest.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
    await layout.writeManifest(manifest.bytes, MEDIA_TYPE.ociManifest);
  };
  // v1: a signature needing a plugin (none configured) and a plain one that verifies.
  await attach(image.descriptor, signedBy(pki, {}, image.descriptor));
  await attach(image.descriptor, signedBy(pki, { plugin: null }, image.descriptor));
  // v2: a signature needing a plugin and a plain one by an untrusted signer.
  await attach(other.descriptor, signedBy(pki, {}, other.descriptor));
  await attach(other.descriptor, signedBy(await stranger, { plugin: null }, other.descriptor));

  const source = await OciLayoutSource.open(dir);
  const policy = parseOciTrustPolicy(
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'all',
          registryScopes: ['*'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:test'],
          trustedIdentities: ['*'],
        },
      ],
    }),
    'policy',
  );
  const verifier = await verifierFor({});
  const verified = await verifyNotationArtifact(source, 'registry.example.com/app', image.descriptor, policy, verifier, { all: true });
  t.true(verified.verified);
  t.is(verified.signatures.length, 2);
  t.is(verified.signatures.filter((s) => s.undecided?.reason === 'PLUGIN_NOT_FOUND').length, 1);

  const error = await t.throwsAsync(verifyNotationArtifact(source, 'registry.example.com/app', other.descriptor, policy, verifier));
  t.true(error instanceof VouchError);
  t.is((error as VouchError).code, 'PLUGIN_ERROR');
  t.is((error as VouchError).reason, 'PLUGIN_NOT_FOUND');
});

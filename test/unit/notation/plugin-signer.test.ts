// signWithPlugin and prepareSignature with a plugin signer, against small executable plugins the
// test writes (a /bin/sh wrapper running a Node script in the plugin's folder, so that the answers
// are exactly what each case needs): RAW and ENVELOPE answer mapping, the checks on every answer
// (key id, algorithm, chain, signature, payload, envelope type, annotations), and the requests
// vouch sends. The real Go plugin is exercised in test/integration/plugin-sign.test.ts.

import test from 'ava';
import { constants, createHash, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeDigest, VouchError } from '../../../src/core/index.js';
import {
  PluginHost,
  parseEnvelope,
  parsePayload,
  pluginSigningKey,
  prepareSignature,
  signEnvelope,
  signEnvelopeWith,
  signWithPlugin,
  verifySignatureBytes,
  type PluginSignRequest,
  type SignTarget,
} from '../../../src/notation/index.js';
import { ANNOTATION, MEDIA_TYPE, type Descriptor } from '../../../src/oci/index.js';
import { generateChain, type GeneratedChain } from '../../helpers/pki.js';

const NAME = 'scripted';
const KEY_ID = 'key-1';

/** The plugin program: answers each command from behaviour.json, and logs every request it gets. */
const PROGRAM = `
import { appendFileSync, readFileSync } from 'node:fs';
import { constants, createPrivateKey, sign } from 'node:crypto';
const cfg = JSON.parse(readFileSync(new URL('./behaviour.json', import.meta.url), 'utf8'));
const command = process.argv[2];
const request = JSON.parse(readFileSync(0, 'utf8') || '{}');
appendFileSync(new URL('./requests.log', import.meta.url), JSON.stringify({ command, request }) + '\\n');
const override = (cfg.override && cfg.override[command]) || {};
const answer = (body) => { process.stdout.write(JSON.stringify({ ...body, ...override })); process.exit(0); };
const HASH = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
switch (command) {
  case 'get-plugin-metadata':
    answer({ name: cfg.name, description: 'scripted test plugin', version: '0.1.0', url: 'https://example.test',
      supportedContractVersions: ['1.0'], capabilities: cfg.capabilities });
  case 'describe-key':
    answer({ keyId: request.keyId, keySpec: cfg.keySpec });
  case 'generate-signature': {
    const key = createPrivateKey(cfg.signingKey);
    const data = Buffer.from(request.payload, 'base64');
    const hash = HASH[request.hashAlgorithm];
    const signature = key.asymmetricKeyType === 'rsa'
      ? sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
      : sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
    answer({ keyId: request.keyId, signature: signature.toString('base64'), signingAlgorithm: cfg.signingAlgorithm,
      certificateChain: cfg.chain });
  }
  case 'generate-envelope':
    answer({ signatureEnvelope: cfg.envelope, signatureEnvelopeType: request.signatureEnvelopeType,
      ...(cfg.annotations ? { annotations: cfg.annotations } : {}) });
  default:
    process.stderr.write(JSON.stringify({ errorCode: 'UNSUPPORTED_CONTRACT_VERSION', errorMessage: 'unknown command' }));
    process.exit(1);
}
`;

interface Behaviour {
  capabilities: string[];
  keySpec?: string;
  /** PEM of the key generate-signature signs with. */
  signingKey?: string;
  signingAlgorithm?: string;
  /** Base64 DER, leaf first. */
  chain?: string[];
  /** Base64 envelope generate-envelope returns. */
  envelope?: string;
  annotations?: Record<string, string>;
  /** Fields replacing those of a command's answer. */
  override?: Record<string, Record<string, unknown>>;
}

let root: string;
let ec: GeneratedChain;
let rsa: GeneratedChain;
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'vouch-plugin-signer-'));
  [ec, rsa] = await Promise.all([generateChain({ length: 2 }), generateChain({ length: 2, leafKey: 'rsa-2048' })]);
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }) as string;
const b64 = (ders: Uint8Array[]): string[] => ders.map((d) => Buffer.from(d).toString('base64'));

let counter = 0;
/** A plugin directory holding the scripted plugin with `behaviour`; returns the directory and a reader of its request log. */
async function install(
  behaviour: Behaviour,
): Promise<{ host: PluginHost; requests: () => Promise<Array<{ command: string; request: any }>> }> {
  const directory = join(root, `plugins-${++counter}`);
  const folder = join(directory, NAME);
  await mkdir(folder, { recursive: true, mode: 0o755 });
  await writeFile(join(folder, 'plugin.mjs'), PROGRAM, { mode: 0o644 });
  await writeFile(join(folder, 'behaviour.json'), JSON.stringify({ name: NAME, ...behaviour }), { mode: 0o644 });
  const executable = join(folder, `notation-${NAME}`);
  await writeFile(executable, `#!/bin/sh\nexec ${process.execPath} "$(dirname "$0")/plugin.mjs" "$@"\n`);
  await chmod(executable, 0o755);
  const host = new PluginHost({ directory, timeoutMs: 20_000 });
  const requests = async () => {
    const text = await readFile(join(folder, 'requests.log'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { command: string; request: any });
  };
  return { host, requests };
}

function raw(chain: GeneratedChain, keySpec: string, signingAlgorithm: string, extra: Partial<Behaviour> = {}): Behaviour {
  return {
    capabilities: ['SIGNATURE_GENERATOR.RAW'],
    keySpec,
    signingKey: pem(chain.leaf.privateKey),
    signingAlgorithm,
    chain: b64(chain.ders),
    ...extra,
  };
}

const bytes = randomBytes(64);
const subject: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: computeDigest(bytes), size: bytes.length };
const signingTime = new Date(Math.floor(Date.now() / 1000) * 1000);

function request(format: 'jws' | 'cose', extra: Partial<PluginSignRequest> = {}): PluginSignRequest {
  return { format, target: { ...subject }, signingTime, ...extra };
}

async function rejects(t: any, promise: Promise<unknown>, code: string, reason: string): Promise<VouchError> {
  const error = await t.throwsAsync(promise, { instanceOf: VouchError });
  t.is(error.code, code, error.message);
  t.is(error.reason, reason, error.message);
  t.log(error.message);
  return error as VouchError;
}

// ---- RAW -------------------------------------------------------------------------------------

for (const [format, chainName, keySpec, algorithm, signingAlgorithm, hash] of [
  ['jws', 'ec', 'EC-256', 'ES256', 'ECDSA-SHA-256', 'SHA-256'],
  ['cose', 'ec', 'EC-256', 'ES256', 'ECDSA-SHA-256', 'SHA-256'],
  ['jws', 'rsa', 'RSA-2048', 'PS256', 'RSASSA-PSS-SHA-256', 'SHA-256'],
  ['cose', 'rsa', 'RSA-2048', 'PS256', 'RSASSA-PSS-SHA-256', 'SHA-256'],
] as const) {
  test(`RAW ${format} ${keySpec}: describe-key, then generate-signature over the exact signed bytes; the envelope verifies`, async (t) => {
    const chain = chainName === 'ec' ? ec : rsa;
    const { host, requests } = await install(raw(chain, keySpec, signingAlgorithm));
    const key = pluginSigningKey(host, NAME, KEY_ID, { region: 'eu-west-1' });
    const signed = await signWithPlugin(key, request(format, { expiry: new Date(signingTime.getTime() + 3_600_000) }));
    t.is(signed.mode, 'RAW');
    t.is(signed.algorithm, algorithm);
    t.deepEqual(signed.plugin, { name: NAME, version: '0.1.0' });
    const envelope = parseEnvelope(signed.envelope.mediaType, signed.envelope.bytes);
    t.is(envelope.format, format);
    t.is(envelope.algorithm, algorithm);
    t.is(envelope.signingAgent, `vouch ${NAME}/0.1.0`);
    t.deepEqual(envelope.expiry, new Date(signingTime.getTime() + 3_600_000));
    t.deepEqual(
      envelope.certificateChain.map((d) => Buffer.from(d).toString('base64')),
      b64(chain.ders),
    );
    t.true(verifySignatureBytes(algorithm, chain.leaf.publicKey, envelope.signedBytes, envelope.signature, format));
    t.deepEqual(parsePayload(envelope.payload).targetArtifact, subject);

    const log = await requests();
    t.deepEqual(
      log.map((r) => r.command),
      ['get-plugin-metadata', 'describe-key', 'generate-signature'],
    );
    t.deepEqual(log[0]!.request, { pluginConfig: { region: 'eu-west-1' } });
    t.deepEqual(log[1]!.request, { contractVersion: '1.0', keyId: KEY_ID, pluginConfig: { region: 'eu-west-1' } });
    const generate = log[2]!.request;
    t.is(generate.keyId, KEY_ID);
    t.is(generate.keySpec, keySpec);
    t.is(generate.hashAlgorithm, hash);
    // The payload sent is exactly what the envelope's signature covers.
    t.deepEqual(Buffer.from(generate.payload, 'base64'), Buffer.from(envelope.signedBytes));
  });
}

test('RAW is preferred when a plugin offers both signing capabilities (as notation-go)', async (t) => {
  const { host, requests } = await install(
    raw(ec, 'EC-256', 'ECDSA-SHA-256', { capabilities: ['SIGNATURE_GENERATOR.ENVELOPE', 'SIGNATURE_GENERATOR.RAW'] }),
  );
  const signed = await signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws'));
  t.is(signed.mode, 'RAW');
  t.false((await requests()).some((r) => r.command === 'generate-envelope'));
});

test('describe-key answering for another key id is BAD_OUTPUT, and nothing is signed', async (t) => {
  const { host, requests } = await install(raw(ec, 'EC-256', 'ECDSA-SHA-256', { override: { 'describe-key': { keyId: 'other' } } }));
  await rejects(t, signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws')), 'PLUGIN_ERROR', 'BAD_OUTPUT');
  t.false((await requests()).some((r) => r.command === 'generate-signature'));
});

const RAW_BAD_ANSWERS: Array<[string, () => Behaviour]> = [
  [
    'generate-signature for another key id',
    () => raw(ec, 'EC-256', 'ECDSA-SHA-256', { override: { 'generate-signature': { keyId: 'other' } } }),
  ],
  ['a signing algorithm other than the key spec’s', () => raw(ec, 'EC-256', 'ECDSA-SHA-384')],
  ['a key spec the leaf’s key does not have', () => raw(ec, 'EC-384', 'ECDSA-SHA-384')],
  ['an RSA key spec for an EC leaf', () => raw(ec, 'RSA-2048', 'RSASSA-PSS-SHA-256')],
  ['a signature by another key than the leaf’s', () => raw(ec, 'EC-256', 'ECDSA-SHA-256', { signingKey: pem(ec.root.privateKey) })],
  ['a chain without its root', () => raw(ec, 'EC-256', 'ECDSA-SHA-256', { chain: b64([ec.leaf.der]) })],
  ['a chain entry that is no certificate', () => raw(ec, 'EC-256', 'ECDSA-SHA-256', { chain: [Buffer.from('nope').toString('base64')] })],
  [
    'a signature that is not base64 of the right length',
    () => raw(ec, 'EC-256', 'ECDSA-SHA-256', { override: { 'generate-signature': { signature: Buffer.alloc(63, 1).toString('base64') } } }),
  ],
];
for (const [what, behaviour] of RAW_BAD_ANSWERS) {
  test(`RAW: ${what} is PLUGIN_ERROR BAD_OUTPUT`, async (t) => {
    const { host } = await install(behaviour());
    await rejects(t, signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('cose')), 'PLUGIN_ERROR', 'BAD_OUTPUT');
  });
}

test('RAW: a leaf without the code-signing usage is BAD_OUTPUT', async (t) => {
  const chain = await generateChain({ length: 2, leaf: { extendedKeyUsage: { usages: ['1.3.6.1.5.5.7.3.1'] } } });
  const { host } = await install(raw(chain, 'EC-256', 'ECDSA-SHA-256'));
  await rejects(t, signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws')), 'PLUGIN_ERROR', 'BAD_OUTPUT');
});

test('a plugin without a signing capability is PLUGIN_CAPABILITY', async (t) => {
  const { host, requests } = await install({ capabilities: ['SIGNATURE_VERIFIER.TRUSTED_IDENTITY'] });
  await rejects(t, signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws')), 'PLUGIN_ERROR', 'PLUGIN_CAPABILITY');
  t.deepEqual(
    (await requests()).map((r) => r.command),
    ['get-plugin-metadata'],
  );
});

test('a plugin that is not installed is PLUGIN_NOT_FOUND (from the host)', async (t) => {
  const host = new PluginHost({ directory: root });
  await rejects(t, signWithPlugin(pluginSigningKey(host, 'absent', KEY_ID), request('jws')), 'PLUGIN_ERROR', 'PLUGIN_NOT_FOUND');
});

test('pluginSigningKey refuses an empty key id', (t) => {
  const error = t.throws(() => pluginSigningKey(new PluginHost({ directory: root }), NAME, ''), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_INPUT');
});

// ---- ENVELOPE --------------------------------------------------------------------------------

const rfc3339 = (d: Date) => d.toISOString().replace('.000Z', 'Z');

/** A JWS over any payload object (to make payloads signEnvelope never would). */
function handJws(payload: unknown, chain: GeneratedChain): string {
  const header = {
    alg: 'ES256',
    crit: ['io.cncf.notary.signingScheme'],
    cty: MEDIA_TYPE.notaryPayload,
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': rfc3339(signingTime),
  };
  const p = Buffer.from(JSON.stringify(header)).toString('base64url');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = cryptoSign('sha256', Buffer.from(`${p}.${body}`), { key: chain.leaf.privateKey, dsaEncoding: 'ieee-p1363' });
  const envelope = { payload: body, protected: p, header: { x5c: b64(chain.ders) }, signature: signature.toString('base64url') };
  return Buffer.from(JSON.stringify(envelope)).toString('base64');
}

function envelopeOf(format: 'jws' | 'cose', target: SignTarget, chain: GeneratedChain = ec): string {
  const envelope = signEnvelope({
    format,
    privateKey: chain.leaf.privateKey,
    certificateChain: chain.certificates,
    payload: { targetArtifact: target },
    signingTime,
    expiry: new Date(signingTime.getTime() + 7_200_000),
  });
  return Buffer.from(envelope.bytes).toString('base64');
}

for (const format of ['jws', 'cose'] as const) {
  test(`ENVELOPE ${format}: generate-envelope's envelope is taken as is, with the plugin's annotations`, async (t) => {
    const target = { ...subject, annotations: { team: 'blue' } };
    const made = envelopeOf(format, target);
    const { host, requests } = await install({
      capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'],
      envelope: made,
      annotations: { 'io.example.kms': 'key-1' },
    });
    const signed = await signWithPlugin(
      pluginSigningKey(host, NAME, KEY_ID, { a: 'b' }),
      request(format, { target, expiry: new Date(signingTime.getTime() + 7_200_000) }),
    );
    t.is(signed.mode, 'ENVELOPE');
    t.is(Buffer.from(signed.envelope.bytes).toString('base64'), made);
    t.is(signed.envelope.mediaType, format === 'jws' ? MEDIA_TYPE.jws : MEDIA_TYPE.cose);
    t.deepEqual(signed.annotations, { 'io.example.kms': 'key-1' });
    const log = await requests();
    t.deepEqual(
      log.map((r) => r.command),
      ['get-plugin-metadata', 'generate-envelope'],
    );
    const sent = log[1]!.request;
    t.is(sent.keyId, KEY_ID);
    t.is(sent.payloadType, MEDIA_TYPE.notaryPayload);
    t.is(sent.signatureEnvelopeType, signed.envelope.mediaType);
    t.is(sent.expiryDurationInSeconds, 7200);
    t.deepEqual(sent.pluginConfig, { a: 'b' });
    t.deepEqual(JSON.parse(Buffer.from(sent.payload, 'base64').toString('utf8')), { targetArtifact: target });
  });
}

const ENVELOPE_BAD_ANSWERS: Array<[string, () => Behaviour]> = [
  [
    'an envelope of the other type',
    () => ({
      capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'],
      envelope: envelopeOf('jws', subject),
      override: { 'generate-envelope': { signatureEnvelopeType: MEDIA_TYPE.cose } },
    }),
  ],
  [
    'an envelope signing another subject',
    () => ({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: envelopeOf('jws', { ...subject, size: 1 }) }),
  ],
  [
    'an envelope with user metadata nobody asked for',
    () => ({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: envelopeOf('jws', { ...subject, annotations: { extra: 'x' } }) }),
  ],
  [
    'a payload with unknown fields',
    () => ({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: handJws({ targetArtifact: { ...subject, surprise: 1 } }, ec) }),
  ],
  [
    'a payload with unknown top-level fields',
    () => ({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: handJws({ targetArtifact: subject, more: true }, ec) }),
  ],
  [
    'an envelope whose signature does not verify',
    () => {
      const envelope = JSON.parse(Buffer.from(envelopeOf('jws', subject), 'base64').toString('utf8')) as Record<string, string>;
      const other = JSON.parse(Buffer.from(envelopeOf('jws', { ...subject, size: 2 }), 'base64').toString('utf8')) as Record<
        string,
        string
      >;
      envelope['signature'] = other['signature']!;
      return { capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: Buffer.from(JSON.stringify(envelope)).toString('base64') };
    },
  ],
  [
    'bytes that are no envelope',
    () => ({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: Buffer.from('{"x":1}').toString('base64') }),
  ],
  [
    'a reserved manifest annotation',
    () => ({
      capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'],
      envelope: envelopeOf('jws', subject),
      annotations: { [ANNOTATION.notaryThumbprint]: '[]' },
    }),
  ],
];
for (const [what, behaviour] of ENVELOPE_BAD_ANSWERS) {
  test(`ENVELOPE: ${what} is PLUGIN_ERROR BAD_OUTPUT`, async (t) => {
    const { host } = await install(behaviour());
    await rejects(t, signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws')), 'PLUGIN_ERROR', 'BAD_OUTPUT');
  });
}

test('ENVELOPE with a timestamp is refused before the plugin signs (notation does not timestamp plugin envelopes)', async (t) => {
  const { host, requests } = await install({ capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'], envelope: envelopeOf('jws', subject) });
  await rejects(
    t,
    signWithPlugin(pluginSigningKey(host, NAME, KEY_ID), request('jws', { timestamped: true })),
    'PLUGIN_ERROR',
    'PLUGIN_CAPABILITY',
  );
  t.false((await requests()).some((r) => r.command === 'generate-envelope'));
});

// ---- prepareSignature and signEnvelopeWith -----------------------------------------------------

test('prepareSignature with a plugin key: the manifest carries the chain thumbprints and the plugin’s annotations', async (t) => {
  const { host } = await install({
    capabilities: ['SIGNATURE_GENERATOR.ENVELOPE'],
    envelope: envelopeOf('cose', subject),
    annotations: { 'io.example.kms': 'key-1' },
  });
  const prepared = await prepareSignature(subject, {
    signer: pluginSigningKey(host, NAME, KEY_ID),
    format: 'cose',
    manifestAnnotations: { mine: 'yes' },
    now: () => signingTime.getTime(),
  });
  const manifest = JSON.parse(Buffer.from(prepared.manifest.bytes).toString('utf8')) as { annotations: Record<string, string> };
  t.is(manifest.annotations['io.example.kms'], 'key-1');
  t.is(manifest.annotations['mine'], 'yes');
  const thumbprints = ec.ders.map((d) => createHash('sha256').update(d).digest('hex'));
  t.is(manifest.annotations[ANNOTATION.notaryThumbprint], JSON.stringify(thumbprints));
  t.is(prepared.leafThumbprint, thumbprints[0]!);

  // The same annotation from the plugin and the user is refused, not silently chosen.
  const clash = prepareSignature(subject, {
    signer: pluginSigningKey(host, NAME, KEY_ID),
    format: 'cose',
    manifestAnnotations: { 'io.example.kms': 'mine' },
    now: () => signingTime.getTime(),
  });
  await rejects(t, clash, 'INVALID_INPUT', 'BAD_CONTENT');
});

test('prepareSignature with a RAW plugin key passes user metadata into the signed payload', async (t) => {
  const { host } = await install(raw(rsa, 'RSA-2048', 'RSASSA-PSS-SHA-256'));
  const prepared = await prepareSignature(subject, {
    signer: pluginSigningKey(host, NAME, KEY_ID),
    format: 'jws',
    userMetadata: { build: '42' },
  });
  const layer = prepared.manifest.blobs[1]!;
  const envelope = parseEnvelope(layer.descriptor.mediaType, layer.bytes);
  t.deepEqual(parsePayload(envelope.payload).targetArtifact.annotations, { build: '42' });
  t.is(prepared.leafThumbprint, createHash('sha256').update(rsa.ders[0]!).digest('hex'));
});

test('signEnvelopeWith checks what a raw signer returns: a signature that does not verify is refused', async (t) => {
  const options = { format: 'jws' as const, payload: { targetArtifact: subject } };
  const good = await signEnvelopeWith(options, {
    algorithm: 'ES256',
    sign: async (data) => ({
      signature: new Uint8Array(cryptoSign('sha256', data, { key: ec.leaf.privateKey, dsaEncoding: 'ieee-p1363' })),
      certificateChain: ec.certificates,
    }),
  });
  t.true(parseEnvelope(good.mediaType, good.bytes).certificateChain.length === 2);
  const bad = signEnvelopeWith(options, {
    algorithm: 'ES256',
    sign: async () => ({ signature: new Uint8Array(64), certificateChain: ec.certificates }),
  });
  await rejects(t, bad, 'INVALID_INPUT', 'BAD_CONTENT');
  const wrongKey = signEnvelopeWith(options, {
    algorithm: 'PS256',
    sign: async (data) => ({
      signature: new Uint8Array(
        cryptoSign('sha256', data, {
          key: rsa.leaf.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        }),
      ),
      certificateChain: ec.certificates,
    }),
  });
  await rejects(t, wrongKey, 'INVALID_INPUT', 'BAD_CONTENT');
});

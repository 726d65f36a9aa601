// signImage's own checks (before any push) and attachTimestampToken: the token lands in the
// unprotected header while the signed bytes stay exactly as they were, in both envelope formats.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { computeDigest, VouchError } from '../../../src/core/index.js';
import { attachTimestampToken, parseEnvelope, signEnvelope, signImage, type SigningIdentity } from '../../../src/notation/index.js';
import { MEDIA_TYPE, RegistryClient, type Descriptor } from '../../../src/oci/index.js';
import { generateChain, type GeneratedChain } from '../../helpers/pki.js';

let chain: GeneratedChain;
let signer: SigningIdentity;
test.before(async () => {
  chain = await generateChain({ length: 2 });
  signer = { privateKey: chain.leaf.privateKey, certificateChain: chain.certificates, root: chain.root.certificate };
});

const bytes = randomBytes(32);
const subject: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: computeDigest(bytes), size: bytes.length };

for (const format of ['jws', 'cose'] as const) {
  test(`attachTimestampToken (${format}): token added, protected header, payload and signature unchanged`, (t) => {
    const envelope = signEnvelope({
      format,
      privateKey: signer.privateKey,
      certificateChain: signer.certificateChain,
      payload: { targetArtifact: subject },
    });
    const token = new Uint8Array(randomBytes(100));
    const stamped = attachTimestampToken(envelope, token);
    const before = parseEnvelope(envelope.mediaType, envelope.bytes);
    const after = parseEnvelope(stamped.mediaType, stamped.bytes);
    t.is(before.timestampToken, undefined);
    t.deepEqual(Buffer.from(after.timestampToken!), Buffer.from(token));
    t.deepEqual(Buffer.from(after.signedBytes), Buffer.from(before.signedBytes));
    t.deepEqual(Buffer.from(after.signature), Buffer.from(before.signature));
    t.deepEqual(
      after.certificateChain.map((c) => Buffer.from(c)),
      before.certificateChain.map((c) => Buffer.from(c)),
    );
    t.is(after.signingAgent, 'vouch');
    // a second token replaces the first
    const again = parseEnvelope(stamped.mediaType, attachTimestampToken(stamped, new Uint8Array([1, 2, 3])).bytes);
    t.deepEqual([...again.timestampToken!], [1, 2, 3]);
  });
}

// 127.0.0.1:1 refuses connections: these must fail before any request.
const client = new RegistryClient({ hosts: { '127.0.0.1:1': { plainHttp: true } } });
test.after.always(() => client.close());
const repository = () => client.repository('127.0.0.1:1', 'app');

const BAD_OPTIONS: Array<[string, () => Parameters<typeof signImage>[2]]> = [
  ['a reserved user-metadata key', () => ({ signer, format: 'jws', userMetadata: { 'io.cncf.notary.x': 'y' } })],
  ['an expiry in the past', () => ({ signer, format: 'jws', expiry: new Date(Date.now() - 1000) })],
  ['a reserved manifest annotation', () => ({ signer, format: 'cose', manifestAnnotations: { 'org.opencontainers.image.created': 'x' } })],
  ['an empty annotation key', () => ({ signer, format: 'jws', manifestAnnotations: { '': 'x' } })],
  ['a signer whose key is not the leaf’s', () => ({ signer: { ...signer, privateKey: chain.root.privateKey }, format: 'jws' })],
  [
    'a signer whose chain misses its root',
    () => ({ signer: { ...signer, certificateChain: signer.certificateChain.slice(0, 1) }, format: 'jws' }),
  ],
];

for (const [name, options] of BAD_OPTIONS) {
  test(`signImage refuses ${name} before contacting the registry (INVALID_INPUT)`, async (t) => {
    const error = await t.throwsAsync(signImage(repository(), subject, options()), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_INPUT', error?.message);
  });
}

test('signImage with a good signer reaches the registry (the refusals above are not vacuous)', async (t) => {
  const error = await t.throwsAsync(signImage(repository(), subject, { signer, format: 'jws' }), { instanceOf: VouchError });
  t.is(error?.code, 'REGISTRY_UNAVAILABLE');
});

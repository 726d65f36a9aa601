// Same inputs, same answers: vouch and the real `notation verify` (v1.3.2) judge the same
// signatures, on both real registries, under one trust policy file and one trust store directory
// (notation's own), for valid signatures and for every failure we can provoke.

import test from 'ava';
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnswerCode } from '../../src/core/index.js';
import { attachReferrer, findSignatures, MEDIA_TYPE, referrersTag, RegistryClient, type RegistryRepository } from '../../src/oci/index.js';
import { NotationVerifier } from '../../src/notation/verifier.js';
import { verifyNotationArtifact } from '../../src/notation/verify-artifact.js';
import { buildSignatureManifest, signEnvelope } from '../../src/notation/sign.js';
import { RevocationChecker } from '../../src/notation/revocation.js';
import { FileTrustStore, parseCertificates, parseOciTrustPolicy } from '../../src/trust/index.js';
import { NotationCli } from '../helpers/notation.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { generateLeaf } from '../helpers/pki.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';

const SCENARIOS = ['valid', 'untrusted', 'identity', 'expired', 'permissive', 'tampered', 'unsigned', 'vouch-signed'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Setup {
  registry: RunningRegistry;
  notation: NotationCli;
  client: RegistryClient;
}

const setups: Setup[] = [];

test.before(async () => {
  for (const start of [startReferrersRegistry, startDistributionRegistry]) {
    const [registry, notation] = await Promise.all([start(), NotationCli.create('vouch-test')]);
    const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
    // A second, unrelated CA store for the "untrusted" scenario.
    const other = await generateLeaf({ subject: 'CN=someone else,O=Elsewhere,ST=WA,C=US' });
    await notation.addTrustedCertificates('ca', 'other', [other.certificate.toPem()]);
    const statement = (scenario: Scenario, extra: Record<string, unknown> = {}) => ({
      name: scenario,
      registryScopes: [`${registry.host}/interop/${scenario}`],
      signatureVerification: { level: 'strict' },
      trustStores: ['ca:vouch-test'],
      trustedIdentities: ['*'],
      ...extra,
    });
    await notation.setTrustPolicy({
      version: '1.0',
      trustPolicies: [
        statement('valid'),
        statement('untrusted', { trustStores: ['ca:other'] }),
        statement('identity', { trustedIdentities: ['x509.subject: C=US, ST=WA, O=Someone Else'] }),
        statement('expired'),
        statement('permissive', { signatureVerification: { level: 'permissive' } }),
        statement('tampered'),
        statement('unsigned'),
        statement('vouch-signed', { trustedIdentities: ['x509.subject: C=US, ST=WA, O=Notary, CN=vouch-test'] }),
      ],
    });
    setups.push({ registry, notation, client });
  }
});

test.after.always(async () => {
  for (const s of setups) await Promise.all([s.client.close(), s.registry.stop(), s.notation.dispose()]);
});

async function vouchVerdict(setup: Setup, repo: RegistryRepository, digest: string): Promise<{ verified: boolean; code?: AnswerCode }> {
  const policy = parseOciTrustPolicy(await readFile(setup.notation.trustPolicyPath), setup.notation.trustPolicyPath);
  const verifier = new NotationVerifier({
    trustStore: new FileTrustStore(setup.notation.trustStoreDir),
    revocation: new RevocationChecker({ offline: true }),
  });
  const subject = await repo.resolve(digest);
  const result = await verifyNotationArtifact(repo, repo.location, subject, policy, verifier);
  return result.verified ? { verified: true } : { verified: false, ...(result.reasons[0] ? { code: result.reasons[0].code } : {}) };
}

async function prepare(setup: Setup, scenario: Scenario) {
  const repo = setup.client.repository(setup.registry.host, `interop/${scenario}`);
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const reference = `${setup.registry.host}/interop/${scenario}@${image.descriptor.digest}`;
  return { repo, image, reference };
}

/** Replaces every signature of `subject` by a copy whose signature bytes are flipped. */
async function tamperSignatures(repo: RegistryRepository, subjectDigest: string): Promise<void> {
  const { artifacts } = await findSignatures(repo, subjectDigest as never);
  const kept = [];
  for (const artifact of artifacts) {
    const manifest = artifact.manifest.manifest;
    if (manifest.kind !== 'manifest') continue;
    const layer = manifest.layers[0]!;
    const envelope = JSON.parse(Buffer.from(await repo.fetchBlob(layer)).toString()) as { signature: string };
    const sig = Buffer.from(envelope.signature, 'base64url');
    sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 0x01, sig.length - 1);
    envelope.signature = sig.toString('base64url');
    const bytes = new TextEncoder().encode(JSON.stringify(envelope));
    const newLayer = await repo.pushBlob(bytes, layer.mediaType);
    const json = JSON.parse(Buffer.from(artifact.manifest.bytes).toString()) as { layers: unknown[] };
    json.layers = [newLayer];
    const manifestBytes = new TextEncoder().encode(JSON.stringify(json));
    kept.push((await attachReferrer(repo, manifestBytes, MEDIA_TYPE.ociManifest)).descriptor);
    // Delete the original so only the tampered copy remains (both registries allow deletes here).
    const response = await fetch(`${repo.client.baseUrl(repo.host)}/v2/${repo.name}/manifests/${artifact.descriptor.digest}`, {
      method: 'DELETE',
    });
    if (response.status !== 202) throw new Error(`deleting ${artifact.descriptor.digest}: ${response.status}`);
  }
  // The tag-schema index (distribution) would still list the deleted originals: rewrite it.
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: kept.map((d) => ({ ...d, artifactType: MEDIA_TYPE.notarySignature })),
  };
  await repo.pushManifest(new TextEncoder().encode(JSON.stringify(index)), MEDIA_TYPE.ociIndex, {
    tag: referrersTag(subjectDigest as never),
  });
}

const cases: Array<{ scenario: Scenario; expect: { verified: boolean; code?: AnswerCode } }> = [
  { scenario: 'valid', expect: { verified: true } },
  { scenario: 'untrusted', expect: { verified: false, code: 'UNTRUSTED_SIGNER' } },
  { scenario: 'identity', expect: { verified: false, code: 'UNTRUSTED_SIGNER' } },
  { scenario: 'expired', expect: { verified: false, code: 'EXPIRED' } },
  { scenario: 'permissive', expect: { verified: true } },
  { scenario: 'tampered', expect: { verified: false, code: 'INVALID_SIGNATURE' } },
  { scenario: 'unsigned', expect: { verified: false, code: 'NO_SIGNATURE' } },
  { scenario: 'vouch-signed', expect: { verified: true } },
];

for (const registryIndex of [0, 1]) {
  for (const { scenario, expect } of cases) {
    test.serial(`${registryIndex === 0 ? 'olareg' : 'distribution'}: ${scenario}: vouch and notation verify agree`, async (t) => {
      const setup = setups[registryIndex]!;
      const { repo, image, reference } = await prepare(setup, scenario);
      const signArgs = registryIndex === 0 ? ['--force-referrers-tag=false'] : [];
      switch (scenario) {
        case 'unsigned':
          break;
        case 'expired':
        case 'permissive':
          await setup.notation.sign(reference, { format: 'jws', expiry: '1s', extraArgs: signArgs });
          await sleep(1500);
          break;
        case 'vouch-signed': {
          // vouch's own signer, with notation's generated key: notation must accept what vouch writes.
          const localKeys = join(setup.notation.configDir, 'localkeys');
          const key = createPrivateKey(await readFile(join(localKeys, 'vouch-test.key')));
          const chain = parseCertificates(await readFile(join(localKeys, 'vouch-test.crt')), 'vouch-test.crt');
          for (const format of ['jws', 'cose'] as const) {
            const envelope = signEnvelope({
              format,
              privateKey: key,
              certificateChain: chain,
              payload: { targetArtifact: image.descriptor },
            });
            const signature = buildSignatureManifest(envelope, image.descriptor, { form: 'legacy' });
            for (const blob of signature.blobs) await repo.pushBlob(blob.bytes, blob.descriptor.mediaType);
            await attachReferrer(repo, signature.bytes, MEDIA_TYPE.ociManifest);
          }
          break;
        }
        case 'tampered':
          await setup.notation.sign(reference, { format: 'jws', extraArgs: signArgs });
          await tamperSignatures(repo, image.descriptor.digest);
          break;
        default:
          await setup.notation.sign(reference, { format: 'jws', extraArgs: signArgs });
          await setup.notation.sign(reference, { format: 'cose', extraArgs: signArgs });
      }
      const notationResult = await setup.notation.verify(reference);
      const vouch = await vouchVerdict(setup, repo, image.descriptor.digest);
      t.is(notationResult.code === 0, expect.verified, `notation: ${notationResult.stdout}${notationResult.stderr}`);
      t.deepEqual(vouch, expect);
    });
  }
}

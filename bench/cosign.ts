// cosign verification throughput (src/cosign, through @sigstore/verify) next to a bare node:crypto
// verify of the same signature bytes, in the same run, for the repository's real cosign vectors
// (test/fixtures/vectors/cosign): a key-based legacy signature (ECDSA P-256, no log), a keyless
// legacy signature (Fulcio chain + Rekor SET against the public-good trusted root), and a keyless
// Sigstore bundle v0.3 (DSSE in-toto, Rekor inclusion proof). The ratio is the cost of everything
// around the one signature check: bundle parsing, chain building, SET / inclusion proof, identity
// policy. Profiled: a keyless verification makes 7 signature checks (the leaf's, the Fulcio chain's
// P-384 ones, the SCT, the Rekor SET or checkpoint), and those checks are most of its time; the
// engine caches the result, so each signature pays this once per trust generation.
// Then the cold path through the engine: one image signed with cosign (key-based, a `.sig` manifest
// as `cosign sign --key --tlog-upload=false` writes it) next to one signed with notation, both in
// olareg on loopback, each verified as a cache miss in a running runtime and by a fresh runtime
// (new connections), interleaved.

import { createHash, createPublicKey, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { createRuntime, type Runtime } from '../src/app/index.js';
import { loadConfig } from '../src/config/index.js';
import { moduleLogger } from '../src/log.js';
import { ANNOTATION, MEDIA_TYPE, RegistryClient, cosignSignatureTag } from '../src/oci/index.js';
import { blob, buildCosignSigManifest, buildImage, pushManifest, simpleSigningPayload } from '../test/helpers/oci-fixtures.js';
import { prepare } from './provider.js';
import { formatMs, measureTimed } from './stats.js';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../src/core/index.js';
import { loadCosignPublicKey, verifyCosignCandidate, type CosignTrust } from '../src/cosign/index.js';
import type { CosignCandidate } from '../src/oci/index.js';
import { COSIGN_VECTORS } from '../test/helpers/fixtures.js';
import { printTable } from './stats.js';

const DURATION_MS = Number(process.env['BENCH_COSIGN_MS'] ?? 2000);

const read = (name: string): Buffer => readFileSync(join(COSIGN_VECTORS, name));
const sha256 = (bytes: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);

async function throughput(fn: () => Promise<void> | void): Promise<number> {
  for (let i = 0; i < 30; i++) await fn(); // warm-up
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < DURATION_MS) {
    for (let i = 0; i < 10; i++) await fn();
    count += 10;
  }
  return count / ((performance.now() - started) / 1000);
}

/** containers/image's on-disk signature (the vectors' `signature-1`) as the candidate discovery hands over. */
function legacyCandidate(dir: string): Extract<CosignCandidate, { form: 'legacy' }> {
  const bytes = read(`${dir}/signature-1`);
  const parsed = JSON.parse(bytes.subarray('\x00sigstore-json\n'.length).toString('utf8')) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  const payload = Buffer.from(parsed.payload, 'base64');
  return {
    form: 'legacy',
    manifestDigest: sha256(Buffer.from('signature manifest')),
    layer: { mediaType: parsed.mimeType, digest: sha256(payload), size: payload.length, annotations: parsed.annotations },
    payload,
    annotations: parsed.annotations,
  };
}

/** DSSE pre-authentication encoding (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md). */
function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

async function row(
  name: string,
  candidate: CosignCandidate,
  subject: Digest,
  trust: CosignTrust,
  bare: { data: Buffer; key: KeyObject; signature: Buffer },
): Promise<string[]> {
  const check = await verifyCosignCandidate(candidate, subject, trust);
  if (!check.verified) throw new Error(`${name}: does not verify: ${JSON.stringify(check.reasons)}`);
  if (!cryptoVerify('sha256', bare.data, bare.key, bare.signature)) throw new Error(`${name}: bare verify fails`);
  const vouchRate = await throughput(async () => {
    const r = await verifyCosignCandidate(candidate, subject, trust);
    if (!r.verified) throw new Error('verify failed');
  });
  const bareRate = await throughput(() => {
    if (!cryptoVerify('sha256', bare.data, bare.key, bare.signature)) throw new Error('bare verify failed');
  });
  return [name, vouchRate.toFixed(0), bareRate.toFixed(0), (bareRate / vouchRate).toFixed(1)];
}

export async function benchCosign(): Promise<void> {
  const trustedRoot = JSON.parse(read('bundle-v03/trusted_root_pgi.json').toString('utf8')) as unknown;
  const rows: string[][] = [];

  const keyed = legacyCandidate('legacy-key');
  rows.push(
    await row(
      'key-based, legacy .sig (ECDSA P-256, no log)',
      keyed,
      sha256(read('legacy-key/manifest.json')),
      { keys: [loadCosignPublicKey(read('legacy-key/cosign.pub').toString('utf8'))], identities: [], requireTlog: false },
      {
        data: Buffer.from(keyed.payload),
        key: createPublicKey(read('legacy-key/cosign.pub')),
        signature: Buffer.from(read('legacy-key/signature.b64').toString('utf8').trim(), 'base64'),
      },
    ),
  );

  const keyless = legacyCandidate('legacy-keyless');
  rows.push(
    await row(
      'keyless, legacy .sig (Fulcio chain, Rekor SET)',
      keyless,
      sha256(read('legacy-keyless/manifest.json')),
      { keys: [], trustedRoot, identities: [{ subject: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' }], requireTlog: true },
      {
        data: Buffer.from(keyless.payload),
        key: new X509Certificate(read('legacy-keyless/cert.pem')).publicKey,
        signature: Buffer.from(read('legacy-keyless/signature.b64').toString('utf8').trim(), 'base64'),
      },
    ),
  );

  const bundle = JSON.parse(read('bundle-v03/oci-attestation.sigstore.json').toString('utf8')) as {
    verificationMaterial: { certificate: { rawBytes: string } };
    dsseEnvelope: { payload: string; payloadType: string; signatures: Array<{ sig: string }> };
  };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
    subject: Array<{ digest: { sha256: string } }>;
  };
  rows.push(
    await row(
      'keyless, bundle v0.3 (DSSE, Rekor inclusion proof)',
      { form: 'bundle', manifestDigest: sha256(Buffer.from('referrer manifest')), bundle },
      parseDigest(`sha256:${statement.subject[0]!.digest.sha256}`),
      { keys: [], trustedRoot, identities: [{ subject: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' }], requireTlog: true },
      {
        data: pae(bundle.dsseEnvelope.payloadType, Buffer.from(bundle.dsseEnvelope.payload, 'base64')),
        key: new X509Certificate(Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64')).publicKey,
        signature: Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, 'base64'),
      },
    ),
  );

  console.log(
    `\ncosign verification (src/cosign via @sigstore/verify) of the repository's real cosign vectors, ${DURATION_MS} ms per measurement`,
  );
  printTable([['signature', 'vouch verify/s', 'bare crypto.verify/s', 'overhead ×'], ...rows]);
  await benchCosignColdPath();
}

const COLD_ITERATIONS = Number(process.env['BENCH_COSIGN_COLD_ITERATIONS'] ?? 60);

/** An image signed the way `cosign sign --key --tlog-upload=false` signs it: a `.sig` manifest with one simple-signing layer. */
async function pushCosignSigned(client: RegistryClient, host: string, signPayload: (payload: Uint8Array) => string): Promise<string> {
  const repo = client.repository(host, 'bench/cosign-app');
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const digest = image.descriptor.digest;
  const payload = simpleSigningPayload(digest, `${host}/bench/cosign-app`);
  const layer = {
    blob: blob(payload, MEDIA_TYPE.cosignSimpleSigning),
    annotations: { [ANNOTATION.cosignSignature]: signPayload(payload) },
  };
  await pushManifest(repo, buildCosignSigManifest([layer]), cosignSignatureTag(digest));
  return `${host}/bench/cosign-app@${digest}`;
}

async function benchCosignColdPath(): Promise<void> {
  const s = await prepare(1);
  const client = new RegistryClient({ hosts: { [s.registry.host]: { plainHttp: true } } });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(s.dir, 'cosign.pub');
  await writeFile(keyFile, publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const cosignImage = await pushCosignSigned(client, s.registry.host, (payload) => sign('sha256', payload, privateKey).toString('base64'));
  await client.close();
  const notationImage = s.images[0]!.key;
  const file = join(s.dir, 'vouch-cosign.yaml');
  await writeFile(
    file,
    stringify({
      server: { address: '127.0.0.1:0' },
      defaultEnvironment: 'notation',
      environments: {
        notation: { trustPolicy: join(s.dir, 'trustpolicy.json'), trustStore: join(s.dir, 'truststore') },
        cosign: { cosign: { keys: [keyFile] } },
      },
      registries: { [s.registry.host]: { plainHttp: true } },
    }),
  );
  const config = await loadConfig(file);
  const log = moduleLogger('bench');
  const verifyOnce = async (runtime: Runtime, key: string): Promise<number> => {
    const started = performance.now();
    const [result] = await runtime.engine.verify([key], { deadline: Date.now() + 30_000 });
    const took = performance.now() - started;
    if (result?.value?.verified !== true) throw new Error(`${key}: not verified: ${JSON.stringify(result)}`);
    return took;
  };
  const running = await createRuntime(config, { logger: log, watch: false });
  try {
    const fresh = async (key: string): Promise<number> => {
      const runtime = await createRuntime(config, { logger: log, watch: false });
      try {
        return await verifyOnce(runtime, key);
      } finally {
        await runtime.close();
      }
    };
    const miss = async (key: string): Promise<number> => {
      running.engine.clearCache();
      return verifyOnce(running, key);
    };
    const samples = await measureTimed(COLD_ITERATIONS, {
      'notation, fresh runtime': () => fresh(`[notation]${notationImage}`),
      'cosign, fresh runtime': () => fresh(`[cosign]${cosignImage}`),
      'notation, cache miss': () => miss(`[notation]${notationImage}`),
      'cosign, cache miss': () => miss(`[cosign]${cosignImage}`),
    });
    console.log(
      `\nCold path: an image signed with cosign (key-based .sig) next to one signed with notation, olareg on loopback, ` +
        `${COLD_ITERATIONS} iterations, interleaved`,
    );
    const baseline = (name: string) => samples[name.replace('cosign', 'notation') as keyof typeof samples];
    printTable([
      ['variant', 'p50', 'p95', '÷ notation p50'],
      ...Object.entries(samples).map(([name, sample]) => [
        name,
        formatMs(sample.p50),
        formatMs(sample.p95),
        (sample.p50 / baseline(name).p50).toFixed(2),
      ]),
    ]);
  } finally {
    await running.close();
    await s.registry.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

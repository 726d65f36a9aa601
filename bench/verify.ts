// Notary verification throughput: full NotationVerifier.verify (parse, chain rules, algorithm
// check, signature, trust store lookup, identity, expiry, validity, revocation bookkeeping) for one
// ES256 and one PS256 JWS envelope, next to a bare node:crypto verify of the same signature bytes
// in the same run. The ratio is the overhead of everything around the math. The verifier gets the
// certificate and chain-verdict caches the engine gives it (src/verify/engine.ts); a second row
// without them shows what a first sight of a signer chain costs.

import { createPublicKey, verify as cryptoVerify, constants } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTrustStore, createCertificateCache } from '../src/trust/index.js';
import { NotationVerifier } from '../src/notation/verifier.js';
import { createChainVerdictCache } from '../src/notation/chain.js';
import { RevocationChecker } from '../src/notation/revocation.js';
import { signEnvelope } from '../src/notation/sign.js';
import { parseEnvelope } from '../src/notation/parse-envelope.js';
import { MEDIA_TYPE } from '../src/oci/index.js';
import { buildImage } from '../test/helpers/oci-fixtures.js';
import { generateChain, type KeySpec } from '../test/helpers/pki.js';
import { printTable } from './stats.js';
import { writeBenchTrust } from './trust.js';

const DURATION_MS = Number(process.env['BENCH_VERIFY_MS'] ?? 2000);

/**
 * Calls per second of each function, measured in alternating slices of ~50 ms until each has run
 * for DURATION_MS: on a machine shared with other work, a load change then weighs on every
 * variant alike instead of on whichever happened to run at that moment, so ratios hold.
 */
async function throughputs(fns: ReadonlyArray<() => Promise<void> | void>): Promise<number[]> {
  for (const fn of fns) for (let i = 0; i < 50; i++) await fn(); // warm-up (JIT, caches)
  const counts = fns.map(() => 0);
  const elapsed = fns.map(() => 0);
  while (elapsed.some((ms) => ms < DURATION_MS)) {
    for (const [i, fn] of fns.entries()) {
      const started = performance.now();
      let n = 0;
      while (performance.now() - started < 50) {
        for (let j = 0; j < 10; j++) await fn();
        n += 10;
      }
      elapsed[i]! += performance.now() - started;
      counts[i]! += n;
    }
  }
  return counts.map((count, i) => count / (elapsed[i]! / 1000));
}

async function benchOne(key: KeySpec, alg: string): Promise<string[]> {
  const { chain, certificates, leaf, root } = await generateChain({ length: 2, leafKey: key });
  void chain;
  const { trustStore: store, statement } = await writeBenchTrust(await mkdtemp(join(tmpdir(), 'vouch-bench-store-')), root.certificate);
  const subject = buildImage().descriptor;
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: leaf.privateKey,
    certificateChain: certificates,
    payload: { targetArtifact: subject },
  });
  const trustStore = new FileTrustStore(store);
  const revocation = new RevocationChecker({ offline: true });
  const caches = { certificates: createCertificateCache(), verdicts: createChainVerdictCache() };
  const verifier = new NotationVerifier({ trustStore, revocation, caches });
  const uncached = new NotationVerifier({ trustStore, revocation });
  const input = { mediaType: MEDIA_TYPE.jws, bytes: envelope.bytes, subject };
  const check = await verifier.verify(input, statement);
  if (!check.verified) throw new Error(`bench envelope does not verify: ${JSON.stringify(check.reasons)}`);

  // The bare baseline: the same signature over the same bytes, key already parsed.
  const parsed = parseEnvelope(MEDIA_TYPE.jws, envelope.bytes);
  const publicKey = createPublicKey(leaf.publicKey.export({ format: 'pem', type: 'spki' }));
  const hash = `sha${alg.slice(2)}`;
  const bare = () => {
    const ok = alg.startsWith('PS')
      ? cryptoVerify(
          hash,
          parsed.signedBytes,
          { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
          parsed.signature,
        )
      : cryptoVerify(hash, parsed.signedBytes, { key: publicKey, dsaEncoding: 'ieee-p1363' }, parsed.signature);
    if (!ok) throw new Error('bare verify failed');
  };
  const [vouchRate, uncachedRate, bareRate] = (await throughputs([
    async () => {
      const r = await verifier.verify(input, statement);
      if (!r.verified) throw new Error('verify failed');
    },
    async () => {
      const r = await uncached.verify(input, statement);
      if (!r.verified) throw new Error('verify failed');
    },
    bare,
  ])) as [number, number, number];
  return [
    `${alg} (${key})`,
    vouchRate.toFixed(0),
    uncachedRate.toFixed(0),
    bareRate.toFixed(0),
    (bareRate / vouchRate).toFixed(2),
    (bareRate / uncachedRate).toFixed(2),
  ];
}

/**
 * One line per issue #11 row: the figure, vouch now, the baseline from the same run, their ratio,
 * the target ratio and whether it is met. Lower is better for every ratio printed.
 */
export function targetLine(figure: string, now: string, baseline: string, ratio: number, target: number): string {
  return `    ${figure}: now ${now}, baseline ${baseline}, ratio ×${ratio.toFixed(2)}, target ≤ ×${target}: ${ratio <= target ? 'met' : 'missed'}`;
}

export async function benchVerify(): Promise<void> {
  const rows = [await benchOne('ec-p256', 'ES256'), await benchOne('rsa-2048', 'PS256')];
  console.log(`\nNotary verification of one JWS envelope (2-cert chain, strict, offline revocation), ${DURATION_MS} ms per measurement`);
  printTable([['envelope', 'vouch verify/s', 'no caches verify/s', 'bare crypto.verify/s', 'overhead ×', 'no caches ×'], ...rows]);
  for (const row of rows) {
    const [name, vouch, , bare, overhead] = row as [string, string, string, string, string];
    const perCall = (rate: string) => `${(1e6 / Number(rate)).toFixed(1)} µs`;
    console.log(
      targetLine(`Notary verify of one envelope vs bare crypto.verify, ${name}`, perCall(vouch), perCall(bare), Number(overhead), 1.5),
    );
  }
}

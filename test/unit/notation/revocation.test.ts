// Revocation checking: the notation e2e CRL fixtures (offline, as local CRLs, since their CDPs
// point at localhost:10086), and a generated PKI served by an in-process OCSP responder and CRL
// server on 127.0.0.1 for OCSP answers, fallbacks, timeouts, caching and delta CRLs.

import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { RevocationChecker, type CertificateRevocation, type RevocationOptions } from '../../../src/notation/revocation.js';
import { parseCertificates, type Certificate } from '../../../src/trust/index.js';
import { startRevocationServer, type RevocationPkiOptions, type RevocationServer } from '../../helpers/revocation-server.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import { generateChain } from '../../helpers/pki.js';

const CRL_DIR = path.join(NOTATION_VECTORS, 'notation-cli-e2e/crl');
const crlFile = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(CRL_DIR, name)));
const vectorChain = (): Certificate[] => parseCertificates(crlFile('certchain_with_crl.pem'), 'certchain_with_crl.pem');

const statuses = (results: CertificateRevocation[]): string[] => results.map((r) => r.status);

// ---------------------------------------------------------------------------------------------
// notation e2e CRL fixtures (README §1.6), offline

test('revocation (vectors): chain with unrevoked CRLs is good; the root is not checked', async (t) => {
  const chain = vectorChain();
  t.is(chain.length, 3);
  t.true(chain[2]!.equals(parseCertificates(crlFile('root.crt'), 'root.crt')[0]!));
  const checker = new RevocationChecker({ offline: true, localCrls: [crlFile('leaf.crl'), crlFile('intermediate.crl')] });
  const results = await checker.checkChain(chain);
  t.deepEqual(statuses(results), ['good', 'good', 'nonRevocable']);
  t.is(results[0]!.method, 'crl');
  t.is(results[1]!.method, 'crl');
  t.true(results.every((r, i) => r.certificate === chain[i]));
});

test('revocation (vectors): leaf revoked by leaf_revoked.crl', async (t) => {
  const checker = new RevocationChecker({ offline: true, localCrls: [crlFile('leaf_revoked.crl'), crlFile('intermediate.crl')] });
  const results = await checker.checkChain(vectorChain());
  t.deepEqual(statuses(results), ['revoked', 'good', 'nonRevocable']);
  t.is(results[0]!.revokedAt?.toISOString(), '2024-11-11T05:30:52.000Z');
});

test('revocation (vectors): intermediate revoked by intermediate_revoked.crl', async (t) => {
  const checker = new RevocationChecker({ offline: true, localCrls: [crlFile('leaf.crl'), crlFile('intermediate_revoked.crl')] });
  const results = await checker.checkChain(vectorChain());
  t.deepEqual(statuses(results), ['good', 'revoked', 'nonRevocable']);
  t.is(results[1]!.method, 'crl');
});

// leaf_expired.crl (nextUpdate 2023-12-25) was signed by an earlier IntermediateCA key than the one in
// certchain_with_crl.pem, so its signature fails before its expiry is looked at: unknown either way, as in
// notation's e2e suite. Expiry itself is covered by the generated PKI's 'expired' CRL mode below.
test('revocation (vectors): leaf_expired.crl (stale, and signed by another key) gives unknown', async (t) => {
  const checker = new RevocationChecker({ offline: true, localCrls: [crlFile('leaf_expired.crl'), crlFile('intermediate.crl')] });
  t.deepEqual(statuses(await checker.checkChain(vectorChain())), ['unknown', 'good', 'nonRevocable']);
});

test('revocation (vectors): offline without local CRLs everything revocable is unknown', async (t) => {
  const checker = new RevocationChecker({ offline: true });
  const results = await checker.checkChain(vectorChain());
  t.deepEqual(statuses(results), ['unknown', 'unknown', 'nonRevocable']);
  t.truthy(results[0]!.detail);
});

test('revocation (vectors): a directory of local CRLs (other files there are skipped)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-crl-'));
  try {
    await copyFile(path.join(CRL_DIR, 'leaf_revoked.crl'), path.join(dir, 'leaf.der'));
    await copyFile(path.join(CRL_DIR, 'intermediate.crl'), path.join(dir, 'intermediate.crl'));
    await writeFile(path.join(dir, 'notes.txt'), 'not a CRL');
    const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(crlFile('intermediate.crl')).toString('base64')}\n-----END X509 CRL-----\n`;
    await writeFile(path.join(dir, 'intermediate.pem'), pem);
    const checker = new RevocationChecker({ offline: true, localCrls: dir });
    t.deepEqual(statuses(await checker.checkChain(vectorChain())), ['revoked', 'good', 'nonRevocable']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('revocation: local CRL bytes that are not a CRL are a configuration error', (t) => {
  const error = t.throws(() => new RevocationChecker({ localCrls: [new Uint8Array([1, 2, 3])] }), { instanceOf: VouchError }) as VouchError;
  t.is(error.code, 'INVALID_CONFIG');
});

test('revocation: a broken or empty chain is a programming error', async (t) => {
  const [leaf, , root] = vectorChain();
  const checker = new RevocationChecker({ offline: true });
  const broken = (await t.throwsAsync(checker.checkChain([leaf!, root!]), { instanceOf: VouchError })) as VouchError;
  t.is(broken.code, 'INVALID_INPUT');
  const empty = (await t.throwsAsync(checker.checkChain([]), { instanceOf: VouchError })) as VouchError;
  t.is(empty.code, 'INVALID_INPUT');
});

test('revocation: a single self-signed certificate is the root: nonRevocable', async (t) => {
  const [, , root] = vectorChain();
  t.deepEqual(statuses(await new RevocationChecker({ offline: true }).checkChain([root!])), ['nonRevocable']);
});

// ---------------------------------------------------------------------------------------------
// Generated PKI on a local server

async function withServer(
  t: ExecutionContext,
  options: RevocationPkiOptions,
  fn: (server: RevocationServer, checker: (o?: RevocationOptions) => RevocationChecker) => Promise<void>,
): Promise<void> {
  const server = await startRevocationServer(options);
  try {
    await fn(server, (o = {}) => new RevocationChecker({ ocspTimeoutMs: 10_000, crlTimeoutMs: 10_000, ...o }));
  } finally {
    await server.close();
  }
  t.pass();
}

test('revocation (server): OCSP good for leaf and intermediate', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const results = await checker().checkChain(server.chain());
    t.deepEqual(statuses(results), ['good', 'good', 'nonRevocable']);
    t.deepEqual(
      results.map((r) => r.method),
      ['ocsp', 'ocsp', undefined],
    );
    t.is(server.hitCount('/crl'), 0);
  });
});

test('revocation (server): OCSP revoked', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 86_400_000);
    server.revoke(server.leaf, { revokedAt });
    const [leaf] = await checker().checkChain(server.chain());
    t.is(leaf!.status, 'revoked');
    t.is(leaf!.method, 'ocsp');
    t.is(leaf!.revokedAt?.toISOString(), revokedAt.toISOString());
  });
});

test('revocation (server): OCSP unknown falls back to the CRL', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.setOcsp(server.leaf, 'unknown');
    let [leaf] = await checker().checkChain(server.chain());
    t.is(leaf!.status, 'good');
    t.is(leaf!.method, 'crl');
    t.regex(leaf!.detail ?? '', /OCSP/);
    // and the CRL is authoritative: revoked there, revoked here
    server.revoke(server.leaf, { revokedAt: new Date(Date.now() - 60_000) });
    server.setOcsp(server.leaf, 'unknown');
    [leaf] = await checker().checkChain(server.chain());
    t.is(leaf!.status, 'revoked');
    t.is(leaf!.method, 'crl');
  });
});

test('revocation (server): OCSP unknown without a CRL distribution point is unknown', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.setOcsp(server.leafOcspOnly, 'unknown');
    const [leaf] = await checker().checkChain(server.chain(server.leafOcspOnly));
    t.is(leaf!.status, 'unknown');
    t.is(leaf!.method, 'ocsp');
  });
});

for (const mode of ['error500', 'garbage', 'tryLater', 'expired', 'wrongCert'] as const) {
  test(`revocation (server): OCSP ${mode} falls back to the CRL`, async (t) => {
    await withServer(t, {}, async (server, checker) => {
      server.setOcsp(server.leaf, mode);
      const [leaf] = await checker().checkChain(server.chain());
      t.is(leaf!.status, 'good');
      t.is(leaf!.method, 'crl');
      t.is(server.hits.get('/crl/intermediate.crl'), 1);
    });
  });
}

test('revocation (server): a slow OCSP responder times out and the CRL decides', async (t) => {
  await withServer(t, { slowMs: 10_000 }, async (server, checker) => {
    server.setOcsp(server.leaf, 'slow');
    const started = Date.now();
    const [leaf] = await checker({ ocspTimeoutMs: 200 }).checkChain(server.chain());
    t.true(Date.now() - started < 5_000);
    t.is(leaf!.status, 'good');
    t.is(leaf!.method, 'crl');
    t.regex(leaf!.detail ?? '', /timed out/);
  });
});

test('revocation (server): slow OCSP and slow CRL end as unknown within the timeouts', async (t) => {
  await withServer(t, { slowMs: 10_000 }, async (server, checker) => {
    server.setOcsp(server.leaf, 'slow');
    server.setCrlMode('intermediate', 'slow');
    const started = Date.now();
    const [leaf] = await checker({ ocspTimeoutMs: 200, crlTimeoutMs: 300 }).checkChain(server.chain());
    t.true(Date.now() - started < 5_000);
    t.is(leaf!.status, 'unknown');
  });
});

test('revocation (server): the caller can abort; the result is unknown, not an exception', async (t) => {
  await withServer(t, { slowMs: 10_000 }, async (server, checker) => {
    server.setOcsp(server.leaf, 'slow');
    server.setCrlMode('intermediate', 'slow');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const [leaf] = await checker({ ocspTimeoutMs: 8_000, crlTimeoutMs: 8_000 }).checkChain(server.chain(), { signal: controller.signal });
    t.true(Date.now() - started < 5_000);
    t.is(leaf!.status, 'unknown');
    t.regex(leaf!.detail ?? '', /abort/);
  });
});

test('revocation (server): CRL only: good, revoked, and unknown on 500/garbage/expired/oversized/slow', async (t) => {
  await withServer(t, { slowMs: 3_000 }, async (server, checker) => {
    const chain = server.chain(server.leafCrlOnly);
    t.is((await checker().checkChain(chain))[0]!.status, 'good');
    server.revoke(server.leafCrlOnly, { revokedAt: new Date(Date.now() - 60_000), reason: 1 });
    const [revoked] = await checker().checkChain(chain);
    t.is(revoked!.status, 'revoked');
    t.is(revoked!.method, 'crl');
    for (const mode of ['error500', 'garbage', 'expired', 'huge', 'slow'] as const) {
      server.setCrlMode('intermediate', mode);
      const [leaf] = await checker({ maxCrlBytes: 1024 * 1024, crlTimeoutMs: 300 }).checkChain(chain);
      t.is(leaf!.status, 'unknown', mode);
      t.is(leaf!.method, 'crl', mode);
    }
  });
});

test('revocation (server): a CRL signed by another key is not accepted', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    // serve the root's CRL where the intermediate's is expected, through a local CRL of the wrong issuer
    const other = await startRevocationServer();
    try {
      const crl = await fetch(`${other.url}/crl/intermediate.crl`).then(async (r) => new Uint8Array(await r.arrayBuffer()));
      const [leaf] = await checker({ offline: true, localCrls: [crl] }).checkChain(server.chain(server.leafCrlOnly));
      t.is(leaf!.status, 'unknown');
    } finally {
      await other.close();
    }
  });
});

test('revocation (server): CRLs are cached until nextUpdate', async (t) => {
  await withServer(t, { validityMs: 3_600_000 }, async (server, checker) => {
    let clock = Date.now();
    const revocation = checker({ now: () => new Date(clock) });
    const chain = server.chain(server.leafCrlOnly);
    for (let i = 0; i < 3; i++) t.is((await revocation.checkChain(chain))[0]!.status, 'good');
    t.is(server.hits.get('/crl/intermediate.crl'), 1);
    // concurrent checks share one download
    const fresh = checker();
    await Promise.all([fresh.checkChain(chain), fresh.checkChain(chain), fresh.checkChain(chain)]);
    t.is(server.hits.get('/crl/intermediate.crl'), 2);
    // past nextUpdate the cached CRL is dropped and fetched again
    clock += 2 * 3_600_000;
    await revocation.checkChain(chain);
    t.is(server.hits.get('/crl/intermediate.crl'), 3);
  });
});

test('revocation (server): the CRL cache is a bounded LRU', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    // alternate between intermediate.crl (leaf) and root.crl (intermediate, with its OCSP unknown)
    const run = async (revocation: RevocationChecker): Promise<void> => {
      server.setOcsp(server.intermediate, 'good');
      await revocation.checkChain(server.chain(server.leafCrlOnly));
      server.setOcsp(server.intermediate, 'unknown');
      await revocation.checkChain([server.intermediate.certificate, server.root.certificate]);
      server.setOcsp(server.intermediate, 'good');
      await revocation.checkChain(server.chain(server.leafCrlOnly));
    };
    await run(checker({ crlCacheMaxEntries: 1 }));
    t.is(server.hits.get('/crl/intermediate.crl'), 2);
    t.is(server.hits.get('/crl/root.crl'), 1);
    await run(checker({ crlCacheMaxEntries: 2 }));
    t.is(server.hits.get('/crl/intermediate.crl'), 3);
    t.is(server.hits.get('/crl/root.crl'), 2);
    // no cache at all
    await run(checker({ crlCacheMaxEntries: 0 }));
    t.is(server.hits.get('/crl/intermediate.crl'), 5);
  });
});

test('revocation (server): the CRL cache is bounded by estimated bytes, and clearCache() empties it', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.setOcsp(server.intermediate, 'good');
    const chain = server.chain(server.leafCrlOnly);
    // a budget smaller than any CRL: nothing is kept, every check downloads
    const tiny = checker({ crlCacheMaxBytes: 100 });
    await tiny.checkChain(chain);
    await tiny.checkChain(chain);
    t.is(server.hits.get('/crl/intermediate.crl'), 2);

    const revocation = checker();
    await revocation.checkChain(chain);
    await revocation.checkChain(chain);
    t.is(server.hits.get('/crl/intermediate.crl'), 3);
    revocation.clearCache();
    await revocation.checkChain(chain);
    t.is(server.hits.get('/crl/intermediate.crl'), 4);
  });
});

test('revocation (server): offline never touches the network', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const offline = checker({ offline: true });
    t.deepEqual(statuses(await offline.checkChain(server.chain())), ['unknown', 'unknown', 'nonRevocable']);
    t.deepEqual(statuses(await offline.checkChain(server.chain(server.leafCrlOnly))), ['unknown', 'unknown', 'nonRevocable']);
    t.is(server.hitCount(), 0);
  });
});

test('revocation (server): offline calls use CRLs cached by earlier online calls', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const revocation = checker();
    server.setOcsp(server.intermediate, 'unknown');
    t.deepEqual(statuses(await revocation.checkChain(server.chain(server.leafCrlOnly))), ['good', 'good', 'nonRevocable']);
    const hits = server.hitCount();
    const results = await revocation.checkChain(server.chain(server.leafCrlOnly), { offline: true });
    t.deepEqual(statuses(results), ['good', 'good', 'nonRevocable']);
    t.regex(results[0]!.detail ?? '', /cached/);
    t.is(server.hitCount(), hits);
  });
});

test('revocation (server): a leaf without OCSP and CDP is nonRevocable', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const results = await checker().checkChain(server.chain(server.leafNone));
    t.deepEqual(statuses(results), ['nonRevocable', 'good', 'nonRevocable']);
    t.is(results[0]!.method, undefined);
  });
});

test('revocation (server): revoked after the authentic signing time counts as good (OCSP and CRL)', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    server.revoke(server.leaf, { revokedAt });
    server.revoke(server.leafCrlOnly, {
      revokedAt: new Date(Date.now() - 7 * 86_400_000),
      invalidityDate: new Date(Date.now() - 3_600_000),
    });
    const before = new Date(Date.now() - 86_400_000);
    const after = new Date(Date.now() - 60_000);

    let [leaf] = await checker().checkChain(server.chain(), { authenticSigningTime: before });
    t.is(leaf!.status, 'good');
    t.is(leaf!.method, 'ocsp');
    t.is(leaf!.revokedAt?.toISOString(), revokedAt.toISOString());
    [leaf] = await checker().checkChain(server.chain(), { authenticSigningTime: after });
    t.is(leaf!.status, 'revoked');

    // CRL: the invalidity date, not the (earlier) revocation date, decides
    [leaf] = await checker().checkChain(server.chain(server.leafCrlOnly), { authenticSigningTime: before });
    t.is(leaf!.status, 'good');
    t.truthy(leaf!.invalidityDate);
    [leaf] = await checker().checkChain(server.chain(server.leafCrlOnly), { authenticSigningTime: after });
    t.is(leaf!.status, 'revoked');
    [leaf] = await checker().checkChain(server.chain(server.leafCrlOnly));
    t.is(leaf!.status, 'revoked');
  });
});

test('revocation (server): OCSP invalidity date extension is honoured for the signing time', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.revoke(server.leafOcspOnly, {
      revokedAt: new Date(Date.now() - 7 * 86_400_000),
      invalidityDate: new Date(Date.now() - 3_600_000),
    });
    const [leaf] = await checker().checkChain(server.chain(server.leafOcspOnly), {
      authenticSigningTime: new Date(Date.now() - 86_400_000),
    });
    t.is(leaf!.status, 'good');
    t.truthy(leaf!.invalidityDate);
  });
});

test('revocation (server): a delegated responder with id-kp-OCSPSigning is trusted', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.setOcspSigner('intermediate', 'delegated');
    server.revoke(server.leafOcspOnly, { revokedAt: new Date(Date.now() - 60_000) });
    const [leaf] = await checker().checkChain(server.chain(server.leafOcspOnly));
    t.is(leaf!.status, 'revoked');
    t.is(leaf!.method, 'ocsp');
  });
});

test('revocation (server): a delegated responder without OCSPSigning is not trusted (fallback, or unknown)', async (t) => {
  await withServer(t, {}, async (server, checker) => {
    server.setOcspSigner('intermediate', 'delegatedNoEku');
    let [leaf] = await checker().checkChain(server.chain(server.leafOcspOnly));
    t.is(leaf!.status, 'unknown');
    t.regex(leaf!.detail ?? '', /OCSPSigning/);
    [leaf] = await checker().checkChain(server.chain());
    t.is(leaf!.status, 'good');
    t.is(leaf!.method, 'crl');
    // a responder outside the PKI is no better
    server.setOcspSigner('intermediate', 'stranger');
    [leaf] = await checker().checkChain(server.chain(server.leafOcspOnly));
    t.is(leaf!.status, 'unknown');
  });
});

test('revocation (server): delta CRLs: revoked only in the delta, hold lifted in the delta, delta unavailable', async (t) => {
  await withServer(t, { deltaCrls: true }, async (server, checker) => {
    const chain = server.chain(server.leafCrlOnly);
    t.is((await checker().checkChain(chain))[0]!.status, 'good');
    t.is(server.hits.get('/crl/intermediate-delta.crl'), 1);

    server.revoke(server.leafCrlOnly, { revokedAt: new Date(Date.now() - 60_000), deltaOnly: true });
    t.is((await checker().checkChain(chain))[0]!.status, 'revoked');

    server.revoke(server.leafCrlOnly, { revokedAt: new Date(Date.now() - 60_000), reason: 6, removedInDelta: true });
    t.is((await checker().checkChain(chain))[0]!.status, 'good');

    server.revoke(server.leafCrlOnly, { revokedAt: new Date(Date.now() - 60_000), reason: 6 });
    t.is((await checker().checkChain(chain))[0]!.status, 'revoked');
  });
});

test('revocation (server): a Freshest CRL named by the certificate must be reachable', async (t) => {
  await withServer(t, { deltaCrls: false }, async (server, checker) => {
    // the base CRL names no delta, the certificate does: the delta is fetched from the certificate's URL
    const chain = server.chain(server.leafWithFreshest);
    t.is((await checker().checkChain(chain))[0]!.status, 'good');
    t.is(server.hits.get('/crl/intermediate-delta.crl'), 1);
    // an unreachable (or broken) delta makes the answer unknown, though the base CRL is fine
    for (const mode of ['error500', 'garbage', 'expired'] as const) {
      server.setCrlMode('intermediate', mode, 'delta');
      const [leaf] = await checker().checkChain(chain);
      t.is(leaf!.status, 'unknown', mode);
      t.regex(leaf!.detail ?? '', /delta/, mode);
    }
  });
});

test('revocation: a certificate naming no OCSP responder, CRL or freshest CRL is non-revocable; one naming any is checked', async (t) => {
  const checker = new RevocationChecker({ offline: true });
  const plain = await generateChain({ length: 2 });
  const [leaf] = await checker.checkChain(plain.certificates);
  t.is(leaf!.status, 'nonRevocable');
  for (const leafOptions of [{ ocspUrls: ['http://127.0.0.1:9/ocsp'] }, { crlDistributionPoints: ['http://127.0.0.1:9/ca.crl'] }]) {
    const named = await generateChain({ length: 2, leaf: leafOptions });
    const [checked] = await checker.checkChain(named.certificates);
    t.is(checked!.status, 'unknown', JSON.stringify(leafOptions));
  }
});

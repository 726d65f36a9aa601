// Revocation fetches go through the guarded oci HttpTransport: host allowlist for the first URL,
// redirect hops checked by the transport, link-local / metadata addresses refused, bounded bodies
// and a deadline, every failure a VouchError with a stable reason. Real loopback HTTP servers: the
// generated PKI's OCSP/CRL server (test/helpers/revocation-server.ts) and a canary that counts
// every request it receives, so "nothing reached it" is asserted, not assumed.

import 'reflect-metadata';
import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VouchError } from '../../../src/core/index.js';
import { RevocationChecker, type CertificateRevocation } from '../../../src/notation/revocation.js';
import { RevocationFetcher } from '../../../src/notation/revocation-fetch.js';
import { HttpTransport } from '../../../src/oci/index.js';
import { startRevocationServer, type RevocationServer } from '../../helpers/revocation-server.js';

interface Canary {
  url: string;
  host: string;
  hits: number;
  close(): Promise<void>;
}

async function startCanary(): Promise<Canary> {
  const canary = { hits: 0 } as Canary;
  const server: Server = createServer((_req, res) => {
    canary.hits++;
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  canary.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  canary.url = `http://${canary.host}`;
  canary.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return canary;
}

const hostOf = (server: RevocationServer): string => new URL(server.url).host;

/** The typed reasons of a result's failures, in order. */
const reasons = (result: CertificateRevocation | undefined): string[] => (result?.failures ?? []).map((f) => f.error.reason);

async function withPki(fn: (server: RevocationServer, canary: Canary) => Promise<void>): Promise<void> {
  const server = await startRevocationServer({ slowMs: 3_000 });
  const canary = await startCanary();
  try {
    await fn(server, canary);
  } finally {
    await Promise.all([server.close(), canary.close()]);
  }
}

test('revocation fetch: OCSP and CRL URLs on a host outside the allowlist are refused before any request (unknown, DENIED)', async (t) => {
  await withPki(async (server) => {
    const transport = new HttpTransport();
    try {
      const checker = new RevocationChecker({ transport, isHostAllowed: (host) => host === 'crl.example.com' });
      const results = await checker.checkChain(server.chain());
      t.deepEqual(
        results.map((r) => r.status),
        ['unknown', 'unknown', 'nonRevocable'],
      );
      t.is(server.hitCount(), 0);
      const failures = results[0]!.failures ?? [];
      t.deepEqual(
        failures.map((f) => [f.method, f.error.code, f.error.reason]),
        [
          ['ocsp', 'REGISTRY_NOT_ALLOWED', 'DENIED'],
          ['crl', 'REGISTRY_NOT_ALLOWED', 'DENIED'],
        ],
      );
      t.true(failures.every((f) => f.error instanceof VouchError));
      // the same PKI with its host allowed: answered, so the refusal above was the allowlist's doing
      const allowed = new RevocationChecker({ transport, isHostAllowed: (host) => host === hostOf(server) });
      t.deepEqual(
        (await allowed.checkChain(server.chain())).map((r) => r.status),
        ['good', 'good', 'nonRevocable'],
      );
      t.true(server.hitCount() > 0);
    } finally {
      await transport.close();
    }
  });
});

test('revocation fetch: a redirect from an allowed CRL host to a disallowed one is refused (REDIRECT_NOT_ALLOWED), nothing reaches it', async (t) => {
  await withPki(async (server, canary) => {
    const onlyPki = (host: string): boolean => host === hostOf(server);
    const guarded = new HttpTransport({ isRedirectAllowed: onlyPki, maxRedirects: 3 });
    const open = new HttpTransport({ maxRedirects: 3 });
    try {
      server.setCrlRedirect('intermediate', `${canary.url}/moved.crl`);
      const [leaf] = await new RevocationChecker({ transport: guarded, isHostAllowed: onlyPki }).checkChain(
        server.chain(server.leafCrlOnly),
      );
      t.is(leaf!.status, 'unknown');
      t.deepEqual(reasons(leaf), ['REDIRECT_NOT_ALLOWED']);
      t.is(leaf!.failures![0]!.error.code, 'REGISTRY_NOT_ALLOWED');
      t.is(server.hits.get('/crl/intermediate.crl'), 1);
      t.is(canary.hits, 0);
      // with redirects allowed the hop is followed (and the canary's 404 is HTTP_STATUS)
      const [followed] = await new RevocationChecker({ transport: open }).checkChain(server.chain(server.leafCrlOnly));
      t.is(followed!.status, 'unknown');
      t.deepEqual(reasons(followed), ['HTTP_STATUS']);
      t.is(canary.hits, 1);
    } finally {
      await Promise.all([guarded.close(), open.close()]);
    }
  });
});

test('revocation fetch: a CRL larger than maxCrlBytes fails with reason SIZE_LIMIT', async (t) => {
  await withPki(async (server) => {
    server.setCrlMode('intermediate', 'huge');
    const checker = new RevocationChecker({ maxCrlBytes: 1024 * 1024 });
    try {
      const [leaf] = await checker.checkChain(server.chain(server.leafCrlOnly));
      t.is(leaf!.status, 'unknown');
      t.deepEqual(reasons(leaf), ['SIZE_LIMIT']);
      t.is(leaf!.failures![0]!.method, 'crl');
      // the same CRL under the default limit (32 MiB) is downloaded, then refused as content
      const [unbounded] = await new RevocationChecker().checkChain(server.chain(server.leafCrlOnly));
      t.deepEqual(reasons(unbounded), ['BAD_CONTENT']);
    } finally {
      await checker.close();
    }
  });
});

test('revocation fetch: slow OCSP and CRL servers fail with reason TIMEOUT within the deadlines', async (t) => {
  await withPki(async (server) => {
    server.setOcsp(server.leaf, 'slow');
    server.setCrlMode('intermediate', 'slow');
    const checker = new RevocationChecker({ ocspTimeoutMs: 200, crlTimeoutMs: 300 });
    const started = Date.now();
    const [leaf] = await checker.checkChain(server.chain());
    t.true(Date.now() - started < 2_500);
    t.is(leaf!.status, 'unknown');
    t.deepEqual(
      leaf!.failures!.map((f) => [f.method, f.error.reason]),
      [
        ['ocsp', 'TIMEOUT'],
        ['crl', 'TIMEOUT'],
      ],
    );
    await checker.close();
  });
});

test('revocation fetch: a caller abort is DEADLINE_EXCEEDED, reason ABORTED', async (t) => {
  await withPki(async (server) => {
    server.setCrlMode('intermediate', 'slow');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const [leaf] = await new RevocationChecker({ crlTimeoutMs: 5_000 }).checkChain(server.chain(server.leafCrlOnly), {
      signal: controller.signal,
    });
    t.is(leaf!.status, 'unknown');
    t.deepEqual(
      leaf!.failures!.map((f) => [f.error.code, f.error.reason]),
      [['DEADLINE_EXCEEDED', 'ABORTED']],
    );
  });
});

test('revocation fetch: HTTP errors and garbage are HTTP_STATUS and BAD_CONTENT', async (t) => {
  await withPki(async (server) => {
    server.setCrlMode('intermediate', 'error500');
    let [leaf] = await new RevocationChecker().checkChain(server.chain(server.leafCrlOnly));
    t.deepEqual(reasons(leaf), ['HTTP_STATUS']);
    t.is((leaf!.failures![0]!.error as VouchError & { status?: number }).status, 500);
    server.setCrlMode('intermediate', 'garbage');
    [leaf] = await new RevocationChecker().checkChain(server.chain(server.leafCrlOnly));
    t.deepEqual(reasons(leaf), ['BAD_CONTENT']);
  });
});

test('revocation fetch: 169.254.169.254 is refused, named directly or through a redirect (ADDRESS_NOT_ALLOWED)', async (t) => {
  const fetcher = new RevocationFetcher({ timeoutMs: 2_000 });
  try {
    const request = { method: 'GET', headers: {}, timeoutMs: 2_000, maxBytes: 1024, signal: undefined, what: 'CRL' } as const;
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/a.crl', 'http://metadata.google.internal/a.crl']) {
      const error = (await t.throwsAsync(fetcher.fetch(url, request), { instanceOf: VouchError })) as VouchError;
      t.is(error.code, 'REGISTRY_NOT_ALLOWED', url);
      t.is(error.reason, 'ADDRESS_NOT_ALLOWED', url);
    }
  } finally {
    await fetcher.close();
  }
  // a CRL distribution point redirecting there, with every host allowed: the special address still is not
  await withPki(async (server) => {
    server.setCrlRedirect('intermediate', 'http://169.254.169.254/latest/meta-data/');
    const checker = new RevocationChecker();
    const [leaf] = await checker.checkChain(server.chain(server.leafCrlOnly));
    t.is(leaf!.status, 'unknown');
    t.deepEqual(reasons(leaf), ['ADDRESS_NOT_ALLOWED']);
    await checker.close();
  });
});

test('revocation fetch: a URL scheme other than http(s) is refused (UNSUPPORTED)', async (t) => {
  const fetcher = new RevocationFetcher({ timeoutMs: 1_000 });
  const request = { method: 'GET', headers: {}, timeoutMs: 1_000, maxBytes: 1024, signal: undefined, what: 'CRL' } as const;
  const error = (await t.throwsAsync(fetcher.fetch('ldap://ldap.example.com/cn=CA', request), { instanceOf: VouchError })) as VouchError;
  t.is(error.reason, 'UNSUPPORTED');
});

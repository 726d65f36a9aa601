// A client the mTLS listener rejects (no client certificate) leaves a warn line with its address and
// the reason; a client retrying in a loop leaves one line per interval, not one per attempt.

import test from 'ava';
import { rm } from 'node:fs/promises';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../../src/log.js';
import { ProviderHttpServer } from '../../../src/server/http.js';
import { ProviderMetrics } from '../../../src/server/metrics.js';
import { createTlsMaterial, pemOf } from '../../helpers/tls.js';

/** Connects without a client certificate and resolves once the server has closed the connection. */
function connectWithoutCertificate(port: number, ca: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: 'TLSv1.3' });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    // TLS 1.3: the client's handshake completes before the server checks its (missing) certificate;
    // try to read so the server's alert arrives.
    socket.on('secureConnect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.resume();
  });
}

test('http: a client rejected by mTLS is logged at warn with its address and reason, rate-limited', async (t) => {
  const material = await createTlsMaterial();
  t.teardown(() => rm(material.dir, { recursive: true, force: true }));
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(
    { level: 'info' },
    {
      write: (s: string) =>
        void lines.push(
          ...s
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        ),
    },
  );
  const server = new ProviderHttpServer({
    backend: { verify: async () => [], mutate: async () => [] },
    address: '127.0.0.1:0',
    tls: material.files,
    requestTimeoutMs: 2000,
    maxRequestBytes: 64 * 1024,
    maxKeys: 100,
    logger,
    metrics: new ProviderMetrics({ defaultMetrics: false }),
    readiness: () => ({ ready: true }),
  });
  const { port } = await server.listen();
  t.teardown(() => server.close());

  const failures = () => lines.filter((l) => l['msg'] === 'TLS handshake failed');
  await connectWithoutCertificate(port, pemOf(material.ca));
  for (let i = 0; i < 100 && failures().length === 0; i++) await sleep(20);
  const [first] = failures();
  t.truthy(first, JSON.stringify(lines));
  t.is(first!['level'], 40);
  t.is(first!['remote'], '127.0.0.1');
  t.is(typeof first!['remotePort'], 'number');
  t.regex(String(first!['reason']), /^ERR_SSL_.*CERTIFICATE/); // OpenSSL's code, e.g. ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE
  t.is(first!['mtls'], true);
  t.is(first!['failed'], 1);

  // more failures within the interval: counted, not logged one by one
  for (let i = 0; i < 5; i++) await connectWithoutCertificate(port, pemOf(material.ca));
  await sleep(100);
  t.is(failures().length, 1);
});

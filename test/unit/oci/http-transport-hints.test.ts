// A registry that answers plain HTTP to vouch's HTTPS gets a REGISTRY_UNAVAILABLE that says which
// setting fixes it (plainHttp for that host); other connection failures do not get that hint.

import test from 'ava';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RegistryError } from '../../../src/core/index.js';
import { HttpTransport } from '../../../src/oci/http-transport.js';
import { generateRoot } from '../../helpers/pki.js';
import { keyPemOf, pemOf, tlsCertificate } from '../../helpers/tls.js';

async function listen(server: import('node:http').Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('transport: HTTPS to a plain-HTTP registry is REGISTRY_UNAVAILABLE naming plainHttp for that host', async (t) => {
  const server = createServer((_req, res) => res.end('{}'));
  const port = await listen(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const transport = new HttpTransport({ timeoutMs: 5000 });
  t.teardown(() => transport.close());
  const error = await t.throwsAsync(
    transport.send({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/v2/`), maxBytes: 1024, what: 'ping' }),
    { instanceOf: RegistryError },
  );
  t.is(error.code, 'REGISTRY_UNAVAILABLE');
  t.is(error.reason, 'CONNECTION');
  t.true(error.message.includes('plainHttp'), error.message);
  t.true(error.message.includes(`127.0.0.1:${port}`), error.message);
});

test('transport: a TLS failure of another kind (untrusted certificate) gets no plainHttp hint', async (t) => {
  const ca = await generateRoot({ key: 'ec-p256', subject: 'CN=untrusted test CA' });
  const leaf = await tlsCertificate(ca, 'registry');
  const server = createTlsServer({ cert: pemOf(leaf), key: keyPemOf(leaf) }, (_req, res) => res.end('{}'));
  const port = await listen(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const transport = new HttpTransport({ timeoutMs: 5000 });
  t.teardown(() => transport.close());
  const error = await t.throwsAsync(
    transport.send({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/v2/`), maxBytes: 1024, what: 'ping' }),
    { instanceOf: RegistryError },
  );
  t.is(error.code, 'REGISTRY_UNAVAILABLE');
  t.false(error.message.includes('plainHttp'), error.message);
});

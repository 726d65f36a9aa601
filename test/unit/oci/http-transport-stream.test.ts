// The streaming half of HttpTransport (blob copies): a streamed response stays bounded by maxBytes
// (declared and counted), keeps the redirect rules of every GET (no credentials to another origin),
// and a streamed request body goes out with its Content-Length. Also: a HEAD leaves no listener on
// the caller's AbortSignal. Plus OciLayoutSource.openBlob.

import test from 'ava';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { computeDigest, RegistryError, VouchError } from '../../../src/core/index.js';
import { HttpTransport } from '../../../src/oci/http-transport.js';
import { OciLayoutSource, OciLayoutWriter } from '../../../src/oci/index.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentLength: string | undefined;
  body: number;
}

async function server(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    let body = 0;
    req.on('data', (chunk: Buffer) => (body += chunk.length));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentLength: req.headers['content-length'],
        body,
      });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  };
}

async function drain(stream: Readable): Promise<number> {
  let total = 0;
  for await (const chunk of stream) total += (chunk as Buffer).length;
  return total;
}

test('stream: a response body within maxBytes streams whole; more than maxBytes fails SIZE_LIMIT', async (t) => {
  const srv = await server((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': '5000' });
      res.end(Buffer.alloc(5000));
      return;
    }
    // chunked: no Content-Length to check up front
    res.writeHead(200);
    res.write(Buffer.alloc(3000));
    res.end(Buffer.alloc(3000));
  });
  const transport = new HttpTransport({ timeoutMs: 5000 });
  t.teardown(async () => {
    await transport.close();
    await srv.close();
  });
  const ok = await transport.send({
    method: 'GET',
    url: new URL(`${srv.url}/declared`),
    maxBytes: 5000,
    what: 'blob',
    streamResponse: true,
  });
  t.is(ok.body.length, 0);
  t.is(await drain(ok.stream!), 5000);

  const declared = await t.throwsAsync(
    transport.send({ method: 'GET', url: new URL(`${srv.url}/declared`), maxBytes: 4999, what: 'blob', streamResponse: true }),
    { instanceOf: RegistryError },
  );
  t.is(declared?.reason, 'SIZE_LIMIT');

  const counted = await transport.send({
    method: 'GET',
    url: new URL(`${srv.url}/chunked`),
    maxBytes: 5000,
    what: 'blob',
    streamResponse: true,
  });
  const error = await t.throwsAsync(drain(counted.stream!), { instanceOf: RegistryError });
  t.is(error?.reason, 'SIZE_LIMIT');
});

test('stream: a redirect to another origin drops the Authorization header', async (t) => {
  const storage = await server((_req, res) => {
    res.writeHead(200, { 'content-length': '10' });
    res.end(Buffer.alloc(10));
  });
  const registry = await server((_req, res) => {
    res.writeHead(307, { location: `${storage.url}/blob?sig=1` });
    res.end();
  });
  const transport = new HttpTransport({ timeoutMs: 5000 });
  t.teardown(async () => {
    await transport.close();
    await Promise.all([storage.close(), registry.close()]);
  });
  const response = await transport.send({
    method: 'GET',
    url: new URL(`${registry.url}/v2/a/blobs/sha256:x`),
    headers: { authorization: 'Bearer secret' },
    maxBytes: 10,
    what: 'blob',
    streamResponse: true,
  });
  t.is(await drain(response.stream!), 10);
  t.is(registry.seen[0]?.authorization, 'Bearer secret');
  t.is(storage.seen[0]?.authorization, undefined);
});

test('stream: a request body from a stream is sent with its Content-Length; HEAD leaves no abort listener', async (t) => {
  const srv = await server((_req, res) => {
    res.writeHead(201, { 'content-length': '0' });
    res.end();
  });
  const transport = new HttpTransport({ timeoutMs: 5000 });
  t.teardown(async () => {
    await transport.close();
    await srv.close();
  });
  const size = 3 * 1024 * 1024;
  const response = await transport.send({
    method: 'PUT',
    url: new URL(`${srv.url}/upload`),
    headers: { 'content-length': String(size) },
    bodyStream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < 3; i++) yield Buffer.alloc(1024 * 1024, i);
        })(),
      ),
    maxBytes: 1024,
    what: 'upload',
  });
  t.is(response.status, 201);
  t.deepEqual([srv.seen[0]?.contentLength, srv.seen[0]?.body], [String(size), size]);

  const controller = new AbortController();
  for (let i = 0; i < 20; i++) {
    await transport.send({ method: 'HEAD', url: new URL(`${srv.url}/head`), maxBytes: 0, what: 'head', signal: controller.signal });
  }
  t.is(getEventListeners(controller.signal, 'abort').length, 0);
});

test('layout: openBlob streams the file; a missing or resized blob is refused before reading', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-openblob-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const writer = await OciLayoutWriter.create(dir);
  const bytes = Buffer.alloc(300_000, 3);
  const descriptor = await writer.writeBlob(bytes, 'application/octet-stream');
  const layout = await OciLayoutSource.open(dir);
  t.is(await drain(await layout.openBlob(descriptor)), bytes.length);

  const missing = await t.throwsAsync(layout.openBlob({ ...descriptor, digest: computeDigest(Buffer.from('other')) }), {
    instanceOf: VouchError,
  });
  t.is(missing?.code, 'NOT_FOUND');
  await writeFile(join(dir, 'blobs', 'sha256', descriptor.digest.slice(7)), Buffer.alloc(10));
  const resized = await t.throwsAsync(layout.openBlob(descriptor), { instanceOf: VouchError });
  t.is(resized?.reason, 'SIZE_MISMATCH');
});

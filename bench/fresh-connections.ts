// (e) What Gatekeeper actually produces: frameworks' DefaultSendRequestToProvider (pkg/externaldata/
// request.go) builds a new http.Client and http.Transport for every call, so each admission pays TCP +
// TLS 1.3 + mTLS handshakes and leaves its connection idle, never to be reused nor closed by the client.
// Here each request is a cached 10-key POST /v1/verify from a new https.Agent (no session resumption,
// connection kept, like Go's Transport), against vouch and, in the same run, a minimal node:https server
// with the same certificate, client CA and answer; then the sockets left open on the server after 1,000
// such requests, with the old keep-alive (65 s, no cap) and the new defaults.

import { createSecureContext, type SecureContext } from 'node:tls';
import { createServer, Agent, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, loadConfig } from '../src/config/index.js';
import type { Logger } from '../src/log.js';
import { startProvider } from '../src/app/index.js';
import { PROVIDER_API_VERSION, type ProviderItem, type ProviderResponse } from '../src/server/index.js';
import { generateLeaf, x509 } from '../test/helpers/pki.js';
import { createTlsMaterial, keyPemOf, pemOf, type TlsMaterial } from '../test/helpers/tls.js';
import { KEY_USAGE, OID } from '../src/trust/index.js';
import { formatMs, measureTimed, printTable, summarize, type Sample } from './stats.js';

const KEYS = 10;
const ITERATIONS = Number(process.env['BENCH_FRESH_ITERATIONS'] ?? 1000);
const SOCKET_REQUESTS = 1000;

export interface FreshConnectionsSetup {
  dir: string;
  registryHost: string;
  /** Provider keys of signed images (at least KEYS). */
  keys: string[];
  log: Logger;
}

interface Target {
  port: number;
  /** TCP connections open on the server now. */
  open(): number;
  close(): Promise<void>;
}

async function startVouch(s: FreshConnectionsSetup, tls: TlsMaterial, name: string, server: object) {
  const file = join(s.dir, name);
  await writeFile(
    file,
    stringify({
      server: { address: '127.0.0.1:0', tls: tls.files, ...server },
      environments: { bench: { trustPolicy: join(s.dir, 'trustpolicy.json'), trustStore: join(s.dir, 'truststore') } },
      registries: { [s.registryHost]: { plainHttp: true } },
    }),
  );
  const provider = await startProvider(await loadConfig(file), { watch: false, defaultMetrics: false, logger: s.log });
  return {
    port: Number(new URL(provider.url).port),
    open: () => provider.metrics.openConnectionsSource(),
    close: () => provider.close(),
  } satisfies Target;
}

/** The least a provider must do: TLS 1.3 with client certificates, read the body, answer from a Map. */
async function startMinimal(cert: string, key: string, tls: TlsMaterial, items: Map<string, ProviderItem>): Promise<Target> {
  const server: Server = createServer(
    { cert, key, ca: pemOf(tls.ca), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const keys = (JSON.parse(Buffer.concat(chunks).toString()) as { request: { keys: string[] } }).request.keys;
        const text = JSON.stringify({
          apiVersion: PROVIDER_API_VERSION,
          kind: 'ProviderResponse',
          response: { idempotent: true, items: keys.map((k) => items.get(k) ?? { key: k, error: 'NOT_FOUND' }) },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    },
  );
  let open = 0;
  server.on('connection', (socket) => {
    open++;
    socket.once('close', () => open--);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => open,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** One call as Gatekeeper makes it: a new agent (Go: a new Transport), a full handshake, the connection left open. */
function gatekeeperCall(
  port: number,
  secureContext: SecureContext,
  body: string,
  agents: Agent[],
  handshakes?: number[],
): Promise<ProviderResponse> {
  const started = performance.now();
  const agent = new Agent({ keepAlive: true, secureContext, servername: 'localhost' } as ConstructorParameters<typeof Agent>[0]);
  agents.push(agent);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/verify', method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString()) as ProviderResponse);
        });
      },
    );
    req.on('error', reject);
    // time to the end of the TLS handshake (TCP connect + TLS 1.3 with both certificates)
    if (handshakes) req.once('socket', (socket) => socket.once('secureConnect', () => handshakes.push(performance.now() - started)));
    req.end(body);
  });
}

function expectCachedVerified(response: ProviderResponse): void {
  const items = response.response.items ?? [];
  if (items.length !== KEYS || !items.every((i) => (i.value as { verified?: boolean; cached?: boolean })?.verified === true)) {
    throw new Error(`expected ${KEYS} verified items, got ${JSON.stringify(response).slice(0, 300)}`);
  }
}

export async function benchFreshConnections(s: FreshConnectionsSetup): Promise<void> {
  const tls = await createTlsMaterial();
  const secureContext = createSecureContext({ ...tls.clientOptions, minVersion: 'TLSv1.3' });
  const keys = s.keys.slice(0, KEYS);
  const body = JSON.stringify({ apiVersion: PROVIDER_API_VERSION, kind: 'ProviderRequest', request: { keys } });
  const agents: Agent[] = [];
  const dropClients = () => {
    for (const a of agents.splice(0)) a.destroy();
  };

  const vouchNew = await startVouch(s, tls, 'fresh-new.yaml', {});
  const vouchOld = await startVouch(s, tls, 'fresh-old.yaml', { keepAliveTimeoutMs: 65_000, maxConnections: 1_000_000 });
  // verify once (cold), then the answers are cached
  for (const target of [vouchNew, vouchOld]) await gatekeeperCall(target.port, secureContext, body, agents);
  const warm = await gatekeeperCall(vouchNew.port, secureContext, body, agents);
  expectCachedVerified(warm);
  await gatekeeperCall(vouchOld.port, secureContext, body, agents);
  dropClients();
  const items = new Map((warm.response.items ?? []).map((i) => [i.key, i]));
  const minimal = await startMinimal(pemOf(tls.server), keyPemOf(tls.server), tls, items);
  // The same minimal server with an RSA-2048 serving key: what the choice of key costs per handshake.
  const rsa = await generateLeaf({
    issuer: tls.ca,
    key: 'rsa-2048',
    subject: 'CN=vouch-rsa',
    keyUsage: { usages: KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment, critical: true },
    extendedKeyUsage: { usages: [OID.serverAuth] },
    extraExtensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }])],
  });
  const minimalRsa = await startMinimal(pemOf(rsa), keyPemOf(rsa), tls, items);

  try {
    const handshakes = { minimal: [] as number[], vouch: [] as number[], 'minimal RSA': [] as number[] };
    const call = (target: Target, into: number[]) => async () => {
      const started = performance.now();
      await gatekeeperCall(target.port, secureContext, body, agents, into);
      return performance.now() - started;
    };
    const variants = {
      minimal: call(minimal, handshakes.minimal),
      vouch: call(vouchNew, handshakes.vouch),
      'minimal RSA': call(minimalRsa, handshakes['minimal RSA']),
    };
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const samples: Record<keyof typeof variants, Sample> = await measureTimed(ITERATIONS, variants);
    const cpu = process.cpuUsage(cpuBefore);
    const wall = performance.now() - wallBefore;
    dropClients();
    await sleep(200);

    // Sockets left on the server by 1,000 such calls (the clients keep theirs open, as Go's Transport does).
    const sockets: string[][] = [];
    for (const [name, target, keepAlive] of [
      ['vouch, keepAliveTimeoutMs 65000, no cap (before)', vouchOld, 65_000],
      [
        `vouch, keepAliveTimeoutMs ${DEFAULT_KEEP_ALIVE_TIMEOUT_MS}, maxConnections ${DEFAULT_MAX_CONNECTIONS} (now)`,
        vouchNew,
        DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      ],
    ] as const) {
      const started = performance.now();
      for (let i = 0; i < SOCKET_REQUESTS; i++) await gatekeeperCall(target.port, secureContext, body, agents);
      const seconds = (performance.now() - started) / 1000;
      const right = target.open();
      // Node closes an idle connection about 1 s after keepAliveTimeout.
      await sleep(DEFAULT_KEEP_ALIVE_TIMEOUT_MS + 2000);
      sockets.push([name, `${(SOCKET_REQUESTS / seconds).toFixed(0)}/s`, String(right), String(target.open()), `${keepAlive / 1000} s`]);
      dropClients();
      await sleep(200);
    }

    const row = (name: string, x: Sample, base: Sample, shakes: number[]) => {
      const handshake = summarize(shakes).p50;
      return [
        name,
        formatMs(x.p50),
        formatMs(x.p99),
        formatMs(x.mean),
        `×${(x.p50 / base.p50).toFixed(2)}`,
        `×${(x.p99 / base.p99).toFixed(2)}`,
        formatMs(handshake),
        formatMs(x.p50 - handshake),
      ];
    };
    console.log(
      `\n(e) Gatekeeper's connection pattern: a cached ${KEYS}-key POST /v1/verify over a NEW TLS 1.3 mTLS connection per request ` +
        `(new agent each time, no session resumption, connection left open), ${ITERATIONS} requests per row, interleaved, same process`,
    );
    printTable([
      ['server', 'p50', 'p99', 'mean', 'p50 ÷ minimal', 'p99 ÷ minimal', 'handshake p50', 'POST→answer'],
      row('minimal node:https (ECDSA P-256, mTLS, Map + JSON)', samples.minimal, samples.minimal, handshakes.minimal),
      row('vouch (ECDSA P-256, mTLS, cached)', samples.vouch, samples.minimal, handshakes.vouch),
      row('minimal node:https with an RSA-2048 serving key', samples['minimal RSA'], samples.minimal, handshakes['minimal RSA']),
    ]);
    console.log(
      `    target vouch ÷ minimal ≤ 1.2; client and servers share one process: ` +
        `${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)}% of a core over ${(wall / 1000).toFixed(1)} s`,
    );
    console.log(`\n    Sockets open on the server after ${SOCKET_REQUESTS} such requests (the client never reuses or closes them)`);
    printTable([['server', 'rate', 'right after', `${(DEFAULT_KEEP_ALIVE_TIMEOUT_MS + 2000) / 1000} s later`, 'keep-alive'], ...sockets]);
  } finally {
    dropClients();
    await Promise.allSettled([vouchNew.close(), vouchOld.close(), minimal.close(), minimalRsa.close()]);
  }
}

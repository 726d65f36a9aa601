// `npm run bench:replicas`: registry traffic of three replicas, without and with the shared result
// cache (docs/reliability.md "Several replicas"). A real registry (olareg on loopback) holds N distinct
// signed images (default 1 000, bench/provider.ts prepare); three `vouch serve` processes (real
// processes, plain HTTP on loopback) verify them, first each with its own cache only, then with
// cache.shared on a real redis-server (Debian package). Every image is asked of every replica once, as
// when several Gatekeeper pods (webhook replicas, audit) land on different vouch replicas behind one
// Service: the 3 N single-key requests go out in a random order (one shuffle, the same for both runs),
// CONCURRENCY at a time, each to the replica its pair names. Registry requests are the sum of
// vouch_registry_requests_total over the three processes' /metrics; latency is per request, at the client.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import type { ProviderResponse } from '../src/server/index.js';
import { freePort, REPO_ROOT } from '../test/helpers/registries.js';
import { startRedis, type RunningRedis } from '../test/helpers/redis.js';
import { prepare, providerRequest, type Setup } from './provider.js';
import { formatMs, printTable, summarize } from './stats.js';

const IMAGES = Number(process.env['BENCH_REPLICAS_IMAGES'] ?? 1000);
const REPLICAS = Number(process.env['BENCH_REPLICAS_COUNT'] ?? 3);
const CONCURRENCY = Number(process.env['BENCH_REPLICAS_CONCURRENCY'] ?? 8);
const READY_TIMEOUT_MS = 60_000;

interface Replica {
  url: string;
  child: ChildProcess;
  output: string[];
}

interface RunResult {
  registryRequests: number;
  perReplica: number[];
  latencies: number[];
  verified: number;
  sharedHits: number;
}

/** A seeded shuffle (mulberry32), so both runs send the same order. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function writeReplicaConfig(s: Setup, name: string, port: number, shared: object | undefined): Promise<string> {
  const file = join(s.dir, name);
  await writeFile(
    file,
    stringify({
      server: { address: `127.0.0.1:${port}`, requestTimeoutMs: 10_000 },
      environments: { bench: { trustPolicy: join(s.dir, 'trustpolicy.json'), trustStore: join(s.dir, 'truststore') } },
      registries: { [s.registry.host]: { plainHttp: true } },
      ...(shared !== undefined ? { cache: { shared } } : {}),
    }),
  );
  return file;
}

async function spawnReplica(configFile: string, port: number): Promise<Replica> {
  const output: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, VOUCH_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vouch serve exited at start:\n${output.join('')}`);
    try {
      const response = await request(`${url}/readyz`);
      await response.body.dump();
      if (response.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`vouch serve not ready in time:\n${output.join('')}`);
    await sleep(100);
  }
  return { url, child, output };
}

async function stopReplica(replica: Replica): Promise<void> {
  if (replica.child.exitCode !== null) return;
  const exited = new Promise((resolve) => replica.child.once('exit', resolve));
  replica.child.kill('SIGTERM');
  await exited;
}

/** Sum of a counter's series in a Prometheus text exposition, optionally only series whose labels match. */
function counterSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels !== '' && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function run(s: Setup, label: string, shared: object | undefined, order: Array<[number, number]>): Promise<RunResult> {
  const replicas: Replica[] = [];
  const agent = new Agent({ connections: CONCURRENCY });
  try {
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      replicas.push(await spawnReplica(await writeReplicaConfig(s, `${label}-${i}.yaml`, port, shared), port));
    }
    const latencies: number[] = [];
    let verified = 0;
    let next = 0;
    const worker = async () => {
      while (next < order.length) {
        const [image, replica] = order[next++]!;
        const started = performance.now();
        const response = await request(`${replicas[replica]!.url}/v1/verify`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body: providerRequest([s.images[image]!.key]),
        });
        const body = (await response.body.json()) as ProviderResponse;
        latencies.push(performance.now() - started);
        const item = body.response.items?.[0] as { value?: { verified?: boolean } } | undefined;
        if (item?.value?.verified === true) verified++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const metrics = await Promise.all(
      replicas.map(async (r) => {
        const response = await request(`${r.url}/metrics`, { dispatcher: agent });
        return response.body.text();
      }),
    );
    const perReplica = metrics.map((m) => counterSum(m, 'vouch_registry_requests_total'));
    return {
      registryRequests: perReplica.reduce((a, b) => a + b, 0),
      perReplica,
      latencies,
      verified,
      sharedHits: metrics.reduce((sum, m) => sum + counterSum(m, 'vouch_shared_cache_lookups_total', 'result="hit"'), 0),
    };
  } finally {
    await agent.close();
    await Promise.allSettled(replicas.map(stopReplica));
  }
}

export async function benchReplicas(): Promise<void> {
  console.log(
    `\n## Several replicas: ${REPLICAS} vouch serve processes, ${IMAGES} distinct signed images, each asked of every replica once ` +
      `(${REPLICAS * IMAGES} single-key requests, random order, ${CONCURRENCY} at a time)`,
  );
  const started = performance.now();
  const s = await prepare(IMAGES);
  console.log(`prepared ${IMAGES} signed images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  let redis: RunningRedis | undefined;
  try {
    redis = await startRedis();
    const keyFile = join(s.dir, 'shared.key');
    await writeFile(keyFile, randomBytes(32));
    const pairs: Array<[number, number]> = [];
    for (let image = 0; image < IMAGES; image++) for (let replica = 0; replica < REPLICAS; replica++) pairs.push([image, replica]);
    const order = shuffled(pairs, 11);
    const local = await run(s, 'local', undefined, order);
    const shared = await run(s, 'shared', { url: redis.url, keyFile }, order);
    const rows = [['', 'registry requests', 'per image', 'per replica', 'p50', 'p95', 'p99', 'verified', 'shared hits']];
    for (const [name, r] of [
      ['local caches only', local],
      ['shared cache (Redis)', shared],
    ] as const) {
      const sample = summarize(r.latencies);
      rows.push([
        name,
        String(r.registryRequests),
        (r.registryRequests / IMAGES).toFixed(2),
        r.perReplica.join(' / '),
        formatMs(sample.p50),
        formatMs(sample.p95),
        formatMs(sample.p99),
        `${r.verified}/${order.length}`,
        String(r.sharedHits),
      ]);
    }
    printTable(rows);
    console.log(
      `shared / local registry requests: ${(shared.registryRequests / local.registryRequests).toFixed(3)} ` +
        `(latencies are noisy on a shared machine; compare within this run)`,
    );
  } finally {
    await redis?.stop();
    await s.registry.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

process.env['VOUCH_LOG_LEVEL'] ??= 'silent';
await benchReplicas();

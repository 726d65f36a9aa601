// The provider end to end, each figure next to a baseline measured in the same run:
//  (a) cold verification of one signed image (fresh provider, no cache, new connections) against
//      olareg on loopback, next to the registry round trips vouch needs made with a bare undici
//      client, sequentially (the request list vouch actually made is printed); then the same as a
//      cache miss in a running provider, next to the bare requests over warm connections;
//  (b) a cached ProviderRequest of 100 keys over HTTP keep-alive from a load generator in a worker
//      thread: latency percentiles and keys/s, next to a minimal provider answering the same items
//      from a Map, plus an in-process breakdown (engine, JSON);
//  (c) 100 distinct uncached images in one request, next to the same images' bare round trips;
//  (d) heap and RSS with 100 000 cached verification results (run first, for a clean RSS baseline);
//  (e) Gatekeeper's connection pattern: a cached 10-key request over a new TLS 1.3 mTLS connection
//      per request, next to a minimal node:https server, and the sockets left open (fresh-connections.ts).

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Agent, request, type Dispatcher } from 'undici';
import { stringify } from 'yaml';
import {
  DEFAULT_CACHE,
  EnvironmentSet,
  hostAllowedPredicate,
  loadConfig,
  registryHostConfigs,
  type VouchConfig,
} from '../src/config/index.js';
import { moduleLogger, type Logger } from '../src/log.js';
import { generateSigningIdentity, type SigningIdentity } from '../src/notation/identity-generation.js';
import { buildSignatureManifest, signEnvelope } from '../src/notation/sign.js';
import {
  MEDIA_TYPE,
  RegistryClient,
  parseManifest,
  referrerDescriptor,
  type ContentSource,
  type Descriptor,
  type FetchedManifest,
} from '../src/oci/index.js';
import { VouchError, digestMatches, type Digest } from '../src/core/index.js';
import { createVerificationStack, startProvider } from '../src/app/index.js';
import { PROVIDER_API_VERSION, type ProviderItem, type ProviderResponse } from '../src/server/index.js';
import { VerificationEngine, type VerificationResult } from '../src/verify/index.js';
import { buildImage, pushManifest, pushReferrer } from '../test/helpers/oci-fixtures.js';
import { startReferrersRegistry, type RunningRegistry } from '../test/helpers/registries.js';
import { benchFreshConnections } from './fresh-connections.js';
import { startLatencyProxy } from './latency-proxy.js';
import { runLoad, type LoadResult } from './http-load.js';
import { formatMs, measureTimed, printTable, summarize, type Sample } from './stats.js';
import { writeBenchTrust } from './trust.js';
import { targetLine } from './verify.js';

const COLD_ITERATIONS = Number(process.env['BENCH_PROVIDER_COLD_ITERATIONS'] ?? 60);
const LOAD_REQUESTS = Number(process.env['BENCH_PROVIDER_LOAD_REQUESTS'] ?? 2000);
/** Rounds the servers of part (b) take turns in (each LOAD_REQUESTS / LOAD_ROUNDS requests a round). */
const LOAD_ROUNDS = Number(process.env['BENCH_PROVIDER_LOAD_ROUNDS'] ?? 4);
const BATCH_ITERATIONS = Number(process.env['BENCH_PROVIDER_BATCH_ITERATIONS'] ?? 8);
const CACHE_ENTRIES = Number(process.env['BENCH_PROVIDER_CACHE_ENTRIES'] ?? 100_000);
/** A directory to write heap snapshots of part (d) to (filled and cleared), for profiling. */
const HEAP_SNAPSHOT_DIR = process.env['BENCH_PROVIDER_HEAP_SNAPSHOTS'];
/** Which parts to run, e.g. `BENCH_PROVIDER_PARTS=ab` (default: all five). */
const PARTS = process.env['BENCH_PROVIDER_PARTS'] ?? 'abcde';
const IMAGES = 100;
const CLIENTS = 4;
const MEMORY_HOST = 'memory.bench';
const SIGNER = 'CN=bench signer,O=Vouch Bench,ST=WA,C=US';

const MANIFEST_ACCEPT = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifest, MEDIA_TYPE.dockerManifestList].join(', ');

/** Created in benchProvider, after run.ts has chosen the log level (the root logger reads it once). */
let log: Logger;

export interface SignedImage {
  repository: string;
  subject: Descriptor;
  /** The provider key: `host/repository@digest`. */
  key: string;
}

export interface Setup {
  dir: string;
  registry: RunningRegistry;
  identity: SigningIdentity;
  config: VouchConfig;
  images: SignedImage[];
}

// ---- fixtures ------------------------------------------------------------------------------------

/** A signing identity, its trust store and a strict trust policy trusting exactly that signer. */
async function writeTrust(dir: string, identity: SigningIdentity): Promise<{ trustPolicy: string; trustStore: string }> {
  return writeBenchTrust(dir, identity.root, [`x509.subject: ${SIGNER.split(',').reverse().join(', ')}`]);
}

export async function writeConfig(dir: string, name: string, registries: Record<string, object>): Promise<VouchConfig> {
  const trust = { trustPolicy: join(dir, 'trustpolicy.json'), trustStore: join(dir, 'truststore') };
  const file = join(dir, name);
  await writeFile(file, stringify({ server: { address: '127.0.0.1:0' }, environments: { bench: trust }, registries }));
  return loadConfig(file);
}

function sign(identity: SigningIdentity, subject: Descriptor) {
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: identity.privateKey,
    certificateChain: identity.certificateChain,
    payload: { targetArtifact: subject },
    signingAgent: 'vouch bench',
  });
  return buildSignatureManifest(envelope, subject, { form: 'legacy' });
}

/** A registry with `count` signed images, a trust policy and store trusting their signer, and a config. */
export async function prepare(count = IMAGES): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-bench-provider-'));
  const identity = await generateSigningIdentity({ subject: SIGNER });
  await writeTrust(dir, identity);
  const registry = await startReferrersRegistry();
  const images = await pushSignedImages(registry, identity, 'bench/app', count);
  const config = await writeConfig(dir, 'vouch.yaml', { [registry.host]: { plainHttp: true } });
  return { dir, registry, identity, config, images };
}

/** `count` more images signed by the setup's signer, in repositories `<prefix>-NNN` of its registry. */
export function addSignedImages(s: Setup, prefix: string, count: number): Promise<SignedImage[]> {
  return pushSignedImages(s.registry, s.identity, prefix, count);
}

async function pushSignedImages(
  registry: RunningRegistry,
  identity: SigningIdentity,
  prefix: string,
  count: number,
): Promise<SignedImage[]> {
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  const images: SignedImage[] = new Array(count);
  let next = 0;
  const push = async () => {
    while (next < count) {
      const i = next++;
      const repository = `${prefix}-${String(i).padStart(3, '0')}`;
      const repo = client.repository(registry.host, repository);
      const image = buildImage();
      await pushManifest(repo, image, 'v1');
      await pushReferrer(repo, sign(identity, image.descriptor));
      images[i] = { repository, subject: image.descriptor, key: `${registry.host}/${repository}@${image.descriptor.digest}` };
    }
  };
  await Promise.all(Array.from({ length: 8 }, push));
  await client.close();
  return images;
}

/** Part (d) in a child process of its own (same node, flags and loader), its output passed through. */
async function benchMemoryInChild(): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1, 2), 'provider'], {
    env: { ...process.env, BENCH_PROVIDER_PARTS: 'd' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let header = true;
  for await (const line of createInterface({ input: child.stdout })) {
    // The child prints run.ts's banner again.
    if (header && line.startsWith('vouch benchmarks:')) continue;
    header = false;
    console.log(line);
  }
  const code = await new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve),
  );
  if (code !== 0) throw new Error(`bench (d) in a child process exited with ${code}`);
}

// ---- clients -------------------------------------------------------------------------------------

export function providerRequest(keys: string[]): string {
  return JSON.stringify({ apiVersion: PROVIDER_API_VERSION, kind: 'ProviderRequest', request: { keys } });
}

export async function postVerify(dispatcher: Dispatcher, url: string, body: string): Promise<ProviderResponse> {
  const response = await request(`${url}/v1/verify`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`/v1/verify: HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as ProviderResponse;
}

/** Every item verified, and served from the cache or not, as expected. */
function expectVerified(items: ReadonlyArray<{ value?: unknown; error?: unknown }>, count: number, cached: boolean): void {
  if (items.length !== count) throw new Error(`expected ${count} items, got ${items.length}`);
  for (const item of items) {
    const value = item.value as VerificationResult | undefined;
    if (value?.verified !== true || (value.cached === true) !== cached) {
      throw new Error(`expected a ${cached ? 'cached' : 'fresh'} verified answer, got ${JSON.stringify(item).slice(0, 400)}`);
    }
  }
}

/**
 * What vouch needs from the registry for one image known by digest, with a bare client: the image
 * manifest, the referrers listing, the signature manifest it names and the envelope blob that
 * manifest names, one after the other (each request needs the previous answer). vouch starts
 * the first two together; cosign's `.sig` tag is only probed once cosign verification exists.
 */
async function bareChain(dispatcher: Dispatcher, base: string, image: SignedImage): Promise<void> {
  const get = async (path: string, accept?: string) => {
    const response = await request(`${base}${path}`, { dispatcher, headers: accept ? { accept } : {} });
    return { status: response.statusCode, body: Buffer.from(await response.body.arrayBuffer()) };
  };
  const repo = image.repository;
  const digest = image.subject.digest;
  const manifest = await get(`/v2/${repo}/manifests/${digest}`, MANIFEST_ACCEPT);
  JSON.parse(manifest.body.toString());
  const listing = JSON.parse((await get(`/v2/${repo}/referrers/${digest}`, MEDIA_TYPE.ociIndex)).body.toString()) as {
    manifests: Descriptor[];
  };
  const signature = listing.manifests.find((d) => d.artifactType === MEDIA_TYPE.notarySignature);
  if (signature === undefined) throw new Error(`bare: no signature listed for ${digest}`);
  const signatureManifest = JSON.parse((await get(`/v2/${repo}/manifests/${signature.digest}`, MANIFEST_ACCEPT)).body.toString()) as {
    layers: Descriptor[];
  };
  const envelope = await get(`/v2/${repo}/blobs/${signatureManifest.layers[0]!.digest}`);
  if (envelope.status !== 200) throw new Error(`bare: envelope HTTP ${envelope.status}`);
}

async function mapBounded<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** A fresh provider (no cache, no connections) around one timed action; start and close are not timed. */
async function withFreshProvider(config: VouchConfig, fn: (url: string, agent: Agent) => Promise<number>): Promise<number> {
  const provider = await startProvider(config, { watch: false, defaultMetrics: false, logger: log });
  const agent = new Agent();
  try {
    return await fn(provider.url, agent);
  } finally {
    await agent.close();
    await provider.close();
  }
}

// ---- (a) cold verification of one image ----------------------------------------------------------

/** The registry requests one cold verification makes, recorded at the dispatcher (method, path; digests shortened). */
async function recordVouchRequests(s: Setup, image: SignedImage): Promise<string[]> {
  const seen: string[] = [];
  const statuses: string[] = [];
  const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
    seen.push(`${options.method} ${String(options.path).replace(/([0-9a-f]{12})[0-9a-f]{52}/g, '$1…')}`);
    return dispatch(options, handler);
  });
  const environments = await EnvironmentSet.load(s.config, { watch: false, logger: log });
  const client = new RegistryClient({
    hosts: registryHostConfigs(s.config),
    isHostAllowed: hostAllowedPredicate(s.config),
    dispatcher,
    onRequest: (e) => statuses.push(String(e.status)),
    logger: log,
  });
  const engine = new VerificationEngine({
    environments,
    client,
    logger: log,
  });
  const [result] = await engine.verify([image.key], { deadline: Date.now() + 10_000 });
  expectVerified([result!], 1, false);
  await engine.close();
  await environments.close();
  await client.close();
  await dispatcher.close();
  return [...seen, `(statuses in completion order: ${statuses.join(', ')})`];
}

/**
 * Each vouch variant next to the bare work it stands for: the engine next to the registry round
 * trips alone; a provider request next to the same round trips plus one POST to a minimal server.
 */
function coldTable(samples: Record<string, Sample>): void {
  const baselineOf = (name: string) => (name.startsWith('vouch POST') ? 'bare POST + 4 sequential' : 'bare 4 sequential');
  printTable([
    ['variant', 'p50', 'p95', 'baseline', '÷ baseline p50'],
    ...Object.entries<Sample>(samples).map(([name, r]) => {
      const baseline = name.startsWith('bare') ? '' : baselineOf(name);
      return [name, formatMs(r.p50), formatMs(r.p95), baseline, baseline === '' ? '' : (r.p50 / samples[baseline]!.p50).toFixed(2)];
    }),
  ]);
}

async function benchCold(s: Setup): Promise<void> {
  const image = s.images[0]!;
  const body = providerRequest([image.key]);
  const requests = await recordVouchRequests(s, image);
  // The provider round trip any provider costs: a POST answered at once by a minimal server.
  const minimal = await startBareProvider(new Map());
  const results = await measureTimed(COLD_ITERATIONS, {
    'vouch POST /v1/verify': () =>
      withFreshProvider(s.config, async (url, agent) => {
        let answer: ProviderResponse | undefined;
        const ms = await timed(async () => (answer = await postVerify(agent, url, body)));
        expectVerified(answer!.response.items ?? [], 1, false);
        return ms;
      }),
    'vouch engine.verify': async () => {
      const stack = await createVerificationStack(s.config, { logger: log, watch: false });
      try {
        let answer: Awaited<ReturnType<VerificationEngine['verify']>> = [];
        const ms = await timed(async () => (answer = await stack.engine.verify([image.key], { deadline: Date.now() + 10_000 })));
        expectVerified(answer, 1, false);
        return ms;
      } finally {
        await stack.close();
      }
    },
    'bare 4 sequential': async () => {
      const agent = new Agent();
      const ms = await timed(() => bareChain(agent, s.registry.url, image));
      await agent.close();
      return ms;
    },
    'bare POST + 4 sequential': async () => {
      const agent = new Agent();
      const ms = await timed(async () => {
        await postVerify(agent, minimal.url, body);
        await bareChain(agent, s.registry.url, image);
      });
      await agent.close();
      return ms;
    },
  });
  // A cache miss in a running provider: verifier, connection pools and JIT warm. The common miss is
  // an image not asked about before, signed by a signer already seen (its certificates parsed and its
  // chain verdict cached); engine.clearCache() before each forgets those too (a first-seen signer).
  const unseen = await addSignedImages(s, 'bench/unseen', COLD_ITERATIONS * 2 + 50);
  let nextUnseen = 0;
  const provider = await startProvider(s.config, { watch: false, defaultMetrics: false, logger: log });
  const providerAgent = new Agent();
  const registryAgent = new Agent();
  await postVerify(providerAgent, provider.url, body); // the signer seen once
  const missed = await measureTimed(COLD_ITERATIONS * 2, {
    'vouch POST /v1/verify, image not seen before': async () => {
      const next = unseen[nextUnseen++];
      if (next === undefined) throw new Error('bench (a): more iterations than unseen images');
      let answer: ProviderResponse | undefined;
      const ms = await timed(async () => (answer = await postVerify(providerAgent, provider.url, providerRequest([next.key]))));
      expectVerified(answer!.response.items ?? [], 1, false);
      return ms;
    },
    'vouch POST /v1/verify, cache cleared': async () => {
      provider.engine.clearCache();
      let answer: ProviderResponse | undefined;
      const ms = await timed(async () => (answer = await postVerify(providerAgent, provider.url, body)));
      expectVerified(answer!.response.items ?? [], 1, false);
      return ms;
    },
    'bare 4 sequential': () => timed(() => bareChain(registryAgent, s.registry.url, image)),
    'bare POST + 4 sequential': () =>
      timed(async () => {
        await postVerify(providerAgent, minimal.url, body);
        await bareChain(registryAgent, s.registry.url, image);
      }),
  });
  await Promise.all([providerAgent.close(), registryAgent.close()]);
  await provider.close();
  await minimal.close();

  console.log(
    `\n(a) Cold verification of 1 signed image by digest (olareg, loopback): fresh provider/engine and new connections every time, ${COLD_ITERATIONS} iterations`,
  );
  console.log('    registry requests vouch made (dispatch order):');
  for (const r of requests) console.log(`      ${r}`);
  console.log(
    '    bare: the same requests with undici, each waiting for the previous answer (vouch overlaps the first two); "bare POST" first posts the request to a minimal HTTP server',
  );
  coldTable(results);
  const coldPost = results['vouch POST /v1/verify'].p50;
  const coldBase = results['bare POST + 4 sequential'].p50;
  const coldEngine = results['vouch engine.verify'].p50 / results['bare 4 sequential'].p50;
  console.log(
    targetLine(
      `(a) cold verification through HTTP vs bare round trips, loopback (engine ×${coldEngine.toFixed(2)})`,
      formatMs(coldPost),
      formatMs(coldBase),
      coldPost / coldBase,
      1.2,
    ),
  );
  console.log(
    `    a cache miss in a running provider (verifier, JIT and connection pools warm on both sides): an image not asked about before, signed by the signer already seen; and the same image after engine.clearCache() (which forgets parsed certificates and chain verdicts too), ${COLD_ITERATIONS * 2} iterations`,
  );
  coldTable(missed);
  const missPost = missed['vouch POST /v1/verify, image not seen before'].p50;
  const missBase = missed['bare POST + 4 sequential'].p50;
  console.log(
    targetLine(
      '(a) cache miss in a running provider (an image not seen before) through HTTP vs bare round trips, loopback',
      formatMs(missPost),
      formatMs(missBase),
      missPost / missBase,
      1.2,
    ),
  );
  await benchColdWithLatency(s, 2);
}

/**
 * (a) again with a round-trip time on the registry link (a delaying TCP proxy in front of olareg;
 * connection setup itself is not delayed): what loopback hides is that every sequential registry
 * round trip costs an RTT, and vouch overlaps the manifest fetch with the referrers listing.
 */
async function benchColdWithLatency(s: Setup, rttMs: number): Promise<void> {
  const proxy = await startLatencyProxy(s.registry.host, rttMs);
  const config = await writeConfig(s.dir, 'vouch-latency.yaml', { [proxy.host]: { plainHttp: true } });
  const image = { ...s.images[0]!, key: s.images[0]!.key.replace(s.registry.host, proxy.host) };
  const body = providerRequest([image.key]);
  const iterations = Math.max(20, COLD_ITERATIONS / 2);
  // Images not asked about before (the common cache miss), two per iteration and warm-up (POST and engine rows).
  const unseen = (await addSignedImages(s, 'bench/unseen-rtt', 2 * (iterations + Math.max(3, Math.floor(iterations / 10))) + 10)).map((i) =>
    i.key.replace(s.registry.host, proxy.host),
  );
  let nextUnseen = 0;
  const takeUnseen = (): string => {
    const key = unseen[nextUnseen++];
    if (key === undefined) throw new Error('bench (a): more iterations than unseen images');
    return key;
  };
  const provider = await startProvider(config, { watch: false, defaultMetrics: false, logger: log });
  const minimal = await startBareProvider(new Map());
  const providerAgent = new Agent();
  const registryAgent = new Agent();
  try {
    await postVerify(providerAgent, provider.url, body); // the signer seen once
    const results = await measureTimed(iterations, {
      'vouch POST /v1/verify, image not seen before': async () => {
        const key = takeUnseen();
        let answer: ProviderResponse | undefined;
        const ms = await timed(async () => (answer = await postVerify(providerAgent, provider.url, providerRequest([key]))));
        expectVerified(answer!.response.items ?? [], 1, false);
        return ms;
      },
      'vouch engine.verify, image not seen before': async () => {
        const key = takeUnseen();
        return timed(async () => expectVerified(await provider.engine.verify([key], { deadline: Date.now() + 10_000 }), 1, false));
      },
      'vouch POST /v1/verify, cache cleared': async () => {
        provider.engine.clearCache();
        let answer: ProviderResponse | undefined;
        const ms = await timed(async () => (answer = await postVerify(providerAgent, provider.url, body)));
        expectVerified(answer!.response.items ?? [], 1, false);
        return ms;
      },
      'vouch engine.verify, cache cleared': async () => {
        provider.engine.clearCache();
        return timed(async () => expectVerified(await provider.engine.verify([image.key], { deadline: Date.now() + 10_000 }), 1, false));
      },
      'bare 4 sequential': () => timed(() => bareChain(registryAgent, proxy.url, image)),
      'bare POST + 4 sequential': () =>
        timed(async () => {
          await postVerify(providerAgent, minimal.url, body);
          await bareChain(registryAgent, proxy.url, image);
        }),
    });
    console.log(
      `    the same cache misses with a ${rttMs} ms round trip on the registry link (a delaying proxy in front of olareg; connection pools warm)`,
    );
    coldTable(results);
    const post = results['vouch POST /v1/verify, image not seen before'].p50;
    const base = results['bare POST + 4 sequential'].p50;
    const engine = results['vouch engine.verify, image not seen before'].p50 / results['bare 4 sequential'].p50;
    console.log(
      targetLine(
        `(a) cache miss (an image not seen before) with a ${rttMs} ms registry round trip (engine ×${engine.toFixed(2)}; 3 of the 4 round trips on the critical path: ×0.75 is the limit)`,
        formatMs(post),
        formatMs(base),
        post / base,
        0.8,
      ),
    );
  } finally {
    await Promise.all([providerAgent.close(), registryAgent.close()]);
    await Promise.all([provider.close(), minimal.close(), proxy.close()]);
  }
}

// ---- (b) cached request of 100 keys ---------------------------------------------------------------

/** GC pauses of this thread (the servers') while `fn` runs. */
async function watchGc<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; gc: { count: number; totalMs: number; maxMs: number; wallMs: number } }> {
  const gc = { count: 0, totalMs: 0, maxMs: 0, wallMs: 0 };
  const add = (entries: PerformanceEntry[]) => {
    for (const entry of entries) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const started = performance.now();
  try {
    const result = await fn();
    gc.wallMs = performance.now() - started;
    await sleep(10); // let the last entries arrive
    add(observer.takeRecords());
    return { result, gc };
  } finally {
    observer.disconnect();
  }
}

/** The least any provider answering from a cache must do: parse the request, look keys up, serialise. */
async function startBareProvider(items: Map<string, ProviderItem>): Promise<{ url: string; close(): Promise<void> }> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const keys = (JSON.parse(Buffer.concat(chunks).toString()) as { request: { keys: string[] } }).request.keys;
    const text = JSON.stringify({
      apiVersion: PROVIDER_API_VERSION,
      kind: 'ProviderResponse',
      response: { idempotent: true, items: keys.map((key) => items.get(key) ?? { key, error: 'NOT_FOUND' }) },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

async function benchCached(s: Setup): Promise<void> {
  const provider = await startProvider(s.config, { watch: false, defaultMetrics: false, logger: log });
  try {
    const keys = s.images.map((i) => i.key);
    const body = providerRequest(keys);
    const agent = new Agent();
    // On a busy machine some keys may miss the first request's deadline (left out of items, their
    // work finishing in the background): ask until every key has its answer, then all are cached.
    for (let i = 0; ; i++) {
      const items = (await postVerify(agent, provider.url, body)).response.items ?? [];
      if (items.length === IMAGES || i === 20) {
        // A retry mixes answers cached by then with ones finished during it.
        if (i === 0) expectVerified(items, IMAGES, false);
        else if (!items.every((item) => (item.value as VerificationResult | undefined)?.verified))
          throw new Error('warm-up: not all verified');
        break;
      }
      await sleep(500);
    }
    const warm = await postVerify(agent, provider.url, body);
    await agent.close();
    const items = warm.response.items ?? [];
    expectVerified(items, IMAGES, true);
    const minimal = await startBareProvider(new Map(items.map((item) => [item.key, item])));

    const rows: string[][] = [];
    const loads: Record<string, LoadResult> = {};
    const servers = [
      ['minimal (Map + JSON)', minimal.url],
      ['vouch', provider.url],
    ] as const;
    for (const concurrency of [1, CLIENTS]) {
      // The servers take turns in LOAD_ROUNDS rounds, so that load from outside the benchmark (other
      // processes on a shared machine) falls on both alike and their ratio stays meaningful.
      const gcs: Record<string, { count: number; totalMs: number; maxMs: number; wallMs: number }> = {};
      for (let round = 0; round < LOAD_ROUNDS; round++) {
        for (const [name, url] of servers) {
          const { result, gc } = await watchGc(() =>
            runLoad({ url: `${url}/v1/verify`, body, requests: LOAD_REQUESTS / LOAD_ROUNDS, warmup: round === 0 ? 200 : 50, concurrency }),
          );
          const load = (loads[`${name}/${concurrency}`] ??= { latencies: [], elapsedMs: 0, responseBytes: 0 });
          load.latencies.push(...result.latencies);
          load.elapsedMs += result.elapsedMs;
          load.responseBytes = result.responseBytes;
          const sum = (gcs[name] ??= { count: 0, totalMs: 0, maxMs: 0, wallMs: 0 });
          sum.count += gc.count;
          sum.totalMs += gc.totalMs;
          sum.maxMs = Math.max(sum.maxMs, gc.maxMs);
          sum.wallMs += gc.wallMs;
        }
      }
      for (const [name] of servers) {
        const result = loads[`${name}/${concurrency}`]!;
        const gc = gcs[name]!;
        const latency = summarize(result.latencies);
        const perSecond = result.latencies.length / (result.elapsedMs / 1000);
        rows.push([
          name,
          String(concurrency),
          formatMs(latency.p50),
          formatMs(latency.p99),
          perSecond.toFixed(0),
          (perSecond * IMAGES).toFixed(0),
          `${(result.responseBytes / 1024).toFixed(1)} KiB`,
          `${gc.count}× ${gc.totalMs.toFixed(0)} ms (${((gc.totalMs / gc.wallMs) * 100).toFixed(1)}%), max ${formatMs(gc.maxMs)}`,
        ]);
      }
    }
    await minimal.close();
    const stats = provider.engine.stats();

    // Where a request's time goes, in process: the engine's answer, and serialising the response.
    const engineTimes: number[] = [];
    const stringifyTimes: number[] = [];
    for (let i = 0; i < 1000; i++) {
      let answer: Awaited<ReturnType<VerificationEngine['verify']>> = [];
      engineTimes.push(await timed(async () => (answer = await provider.engine.verify(keys, { deadline: Date.now() + 2900 }))));
      if (i === 0) expectVerified(answer, IMAGES, true);
      stringifyTimes.push(await timed(async () => JSON.stringify({ apiVersion: PROVIDER_API_VERSION, response: { items: answer } })));
    }
    const engine = summarize(engineTimes.slice(100));
    const json = summarize(stringifyTimes.slice(100));

    console.log(
      `\n(b) Cached ProviderRequest of ${IMAGES} keys (${IMAGES} signed images, verified once beforehand), POST /v1/verify over keep-alive, ` +
        `${LOAD_REQUESTS} requests per row in ${LOAD_ROUNDS} rounds taken in turn (+200 warm-up, 50 a later round) from a load generator in a worker thread`,
    );
    printTable([['server', 'clients', 'p50', 'p99', 'requests/s', 'keys/s', 'answer', 'GC pauses of the server thread'], ...rows]);
    const ratio = (c: number) => {
      const v = summarize(loads[`vouch/${c}`]!.latencies);
      const m = summarize(loads[`minimal (Map + JSON)/${c}`]!.latencies);
      return `${c} client(s): p50 ×${(v.p50 / m.p50).toFixed(2)}, p99 ×${(v.p99 / m.p99).toFixed(2)}`;
    };
    console.log(`    vouch ÷ minimal: ${ratio(1)}; ${ratio(CLIENTS)}`);
    const targetRows: string[][] = [];
    for (const c of [1, CLIENTS]) {
      const v = summarize(loads[`vouch/${c}`]!.latencies);
      const m = summarize(loads[`minimal (Map + JSON)/${c}`]!.latencies);
      for (const q of ['p50', 'p99'] as const) {
        targetRows.push(
          targetRow(
            `(b) cached 100-key request ${q}, ${c} client(s)`,
            formatMs(v[q]),
            formatMs(m[q]),
            v[q] / m[q],
            '≤ ×1.2',
            v[q] / m[q] <= 1.2,
          ),
        );
      }
      const keysPerSecond = (l: LoadResult) => (l.latencies.length / (l.elapsedMs / 1000)) * IMAGES;
      const [vk, mk] = [keysPerSecond(loads[`vouch/${c}`]!), keysPerSecond(loads[`minimal (Map + JSON)/${c}`]!)];
      targetRows.push(targetRow(`(b) keys/s, ${c} client(s)`, vk.toFixed(0), mk.toFixed(0), vk / mk, '≥ 20000', vk >= 20_000));
    }
    printTargets(targetRows);
    console.log(
      `    targets: p99 ≤ 5 ms, ≥ 20000 keys/s (engine cache: ${stats.entries} entries, ${stats.hits} hits, ${stats.misses} misses)`,
    );
    console.log(
      `    in process, per request of ${IMAGES} cached keys: engine.verify p50 ${formatMs(engine.p50)} p99 ${formatMs(engine.p99)}; ` +
        `JSON.stringify of the answer p50 ${formatMs(json.p50)} p99 ${formatMs(json.p99)}`,
    );
  } finally {
    await provider.close();
  }
}

/** A row of the table (#11): figure, now, baseline, ratio, target, met or missed. */
function targetRow(figure: string, now: string, baseline: string, ratio: number, target: string, met: boolean | undefined): string[] {
  return [figure, now, baseline, `×${ratio.toFixed(2)}`, target, met === undefined ? '' : met ? 'met' : 'missed'];
}

function printTargets(rows: string[][]): void {
  printTable([['figure', 'now', 'baseline', 'ratio', 'target', ''], ...rows]);
}

// ---- (c) 100 uncached images in one request -------------------------------------------------------

async function benchBatch(s: Setup): Promise<void> {
  const keys = s.images.map((i) => i.key);
  const body = providerRequest(keys);
  const results = await measureTimed(BATCH_ITERATIONS, {
    'vouch POST /v1/verify (100 keys)': () =>
      withFreshProvider(s.config, async (url, agent) => {
        let answer: ProviderResponse | undefined;
        const ms = await timed(async () => (answer = await postVerify(agent, url, body)));
        expectVerified(answer!.response.items ?? [], IMAGES, false);
        return ms;
      }),
    'bare 4 sequential, 100 images one after another': async () => {
      const agent = new Agent();
      const ms = await timed(async () => {
        for (const image of s.images) await bareChain(agent, s.registry.url, image);
      });
      await agent.close();
      return ms;
    },
    'bare 4 sequential, 8 images at a time': async () => {
      const agent = new Agent();
      const ms = await timed(() => mapBounded(s.images, 8, (image) => bareChain(agent, s.registry.url, image)));
      await agent.close();
      return ms;
    },
  });
  const sequential = results['bare 4 sequential, 100 images one after another'].p50;
  console.log(
    `\n(c) ${IMAGES} distinct uncached signed images in one request (fresh provider, new connections; vouch runs 8 verifications per registry at once), ${BATCH_ITERATIONS} iterations`,
  );
  printTable([
    ['variant', 'p50', 'p95', 'per image p50', '÷ bare sequential p50'],
    ...Object.entries<Sample>(results).map(([name, r]) => [
      name,
      formatMs(r.p50),
      formatMs(r.p95),
      formatMs(r.p50 / IMAGES),
      (r.p50 / sequential).toFixed(2),
    ]),
  ]);
  const batch = results['vouch POST /v1/verify (100 keys)'].p50;
  const concurrent = results['bare 4 sequential, 8 images at a time'].p50;
  console.log(
    targetLine(
      `(c) ${IMAGES} uncached images in one request vs bare requests at the same concurrency (8 per registry)`,
      formatMs(batch),
      formatMs(concurrent),
      batch / concurrent,
      1.3,
    ),
  );
}

// ---- (d) memory of 100 000 cached results ---------------------------------------------------------

function collectGarbage(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Signed images held in memory and served as a ContentSource, the interface the engine reads
 * registries and OCI layouts through (its public `sourceFor` option). Content is addressed by
 * digest whatever the repository, as in an OCI layout; digests are checked as a source must.
 */
class MemoryContent {
  readonly #content = new Map<string, { mediaType: string; bytes: Uint8Array }>();
  readonly #referrers = new Map<string, Descriptor[]>();

  add(descriptor: Descriptor, bytes: Uint8Array, subject?: Descriptor): void {
    if (!digestMatches(bytes, descriptor.digest)) throw new Error(`memory content: ${descriptor.digest} does not match its bytes`);
    this.#content.set(descriptor.digest, { mediaType: descriptor.mediaType, bytes });
    if (subject !== undefined) {
      const fetched = this.#manifest(descriptor.digest);
      this.#referrers.set(subject.digest, [...(this.#referrers.get(subject.digest) ?? []), referrerDescriptor(fetched)]);
    }
  }

  source(location: string): ContentSource {
    return {
      location,
      resolve: async (reference) => this.#manifest(reference).descriptor,
      fetchManifest: async (reference) => this.#manifest(typeof reference === 'string' ? reference : reference.digest),
      fetchBlob: async (descriptor) => this.#get(descriptor.digest).bytes,
      listReferrers: async (subject) => ({ descriptors: [...(this.#referrers.get(subject) ?? [])], via: 'oci-layout' }),
    };
  }

  #get(reference: string): { mediaType: string; bytes: Uint8Array } {
    const found = this.#content.get(reference);
    if (found === undefined) throw new VouchError('NOT_FOUND', `memory content: no ${reference}`, { reason: 'OTHER' });
    return found;
  }

  #manifest(reference: string): FetchedManifest {
    const { mediaType, bytes } = this.#get(reference);
    const manifest = parseManifest(bytes, `manifest ${reference}`, mediaType);
    return { descriptor: { mediaType: manifest.mediaType, digest: reference as Digest, size: bytes.length }, bytes, manifest };
  }
}

/**
 * 100 000 distinct cache keys (environment, trust generation, repository, digest) from 100 signed
 * images under 1 000 repository names: the same images pulled through many repositories, as base
 * images are. Every entry is the real verified result (with its signature report) of a full
 * verification through engine.verify, the path a request takes; no private state is touched.
 * The images are served from memory (see MemoryContent) rather than olareg or an OCI layout so
 * that 100 000 verifications fit the time budget; the cached values are the same either way.
 */
async function benchMemory(s: Setup): Promise<void> {
  const content = new MemoryContent();
  const digests: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const image = buildImage();
    content.add(image.descriptor, image.bytes);
    const signature = sign(s.identity, image.descriptor);
    for (const b of signature.blobs) content.add(b.descriptor, b.bytes);
    content.add(signature.descriptor, signature.bytes, image.descriptor);
    digests.push(image.descriptor.digest);
  }
  const repositories = Math.ceil(CACHE_ENTRIES / IMAGES);
  const keysOf = (r: number) => digests.map((d) => `${MEMORY_HOST}/team-${String(r % 40).padStart(2, '0')}/service-${r}@${d}`);

  const gc = collectGarbage();
  const environments = await EnvironmentSet.load(s.config, { watch: false, logger: log });
  const client = new RegistryClient({ logger: log });
  // Bounds raised past the defaults (10 000 entries, 64 MiB) so that CACHE_ENTRIES answers all stay cached.
  const cache = {
    maxEntries: Math.max(CACHE_ENTRIES, DEFAULT_CACHE.maxEntries),
    maxBytes: Math.max(256 * 1024 * 1024, DEFAULT_CACHE.maxBytes),
  };
  const engine = new VerificationEngine({
    environments,
    client,
    sourceFor: (host) => (host === MEMORY_HOST ? (ref) => content.source(`memory:${ref.repository}`) : undefined),
    revocation: { offline: s.config.revocation.offline },
    cache,
    // The fill sends 10 repositories × all images per request to one in-memory host: the flood
    // bounds (limits.maxPendingPerRegistry 256) would answer most of them OVERLOADED, and this part
    // measures cached results, not admission control.
    maxPendingPerRegistry: 1_000_000,
    maxPending: 1_000_000,
    logger: log,
  });
  try {
    // Warm everything that is not the cache (verifier, JIT), then empty the cache.
    const warm = await engine.verify(keysOf(repositories), { deadline: Date.now() + 60_000 });
    expectVerified(warm, IMAGES, false);
    // The answers' own size: the JSON of each provider item, marked cached as a cache would serve it.
    const answerJsonBytes = warm.reduce((n, r) => n + JSON.stringify({ key: r.key, value: { ...r.value, cached: true } }).length, 0);
    engine.clearCache();
    // Several collections with turns of the event loop between them: objects held by WeakRefs
    // and FinalizationRegistry cleanups (AbortSignal.any uses both) need more than one.
    const snapshot = async () => {
      for (let i = 0; i < 4; i++) {
        gc();
        await sleep(20);
      }
      return process.memoryUsage();
    };
    const before = await snapshot();
    const started = performance.now();
    for (let r = 0; r < repositories; r += 10) {
      const keys = Array.from({ length: Math.min(10, repositories - r) }, (_, i) => keysOf(r + i)).flat();
      expectVerified(await engine.verify(keys, { deadline: Date.now() + 120_000 }), keys.length, false);
    }
    const fillMs = performance.now() - started;
    const stats = engine.stats();
    const filled = await snapshot();
    if (HEAP_SNAPSHOT_DIR !== undefined)
      console.log(`    heap snapshot: ${writeHeapSnapshot(join(HEAP_SNAPSHOT_DIR, 'provider-d-filled.heapsnapshot'))}`);
    engine.clearCache();
    const cleared = await snapshot();
    if (HEAP_SNAPSHOT_DIR !== undefined)
      console.log(`    heap snapshot: ${writeHeapSnapshot(join(HEAP_SNAPSHOT_DIR, 'provider-d-cleared.heapsnapshot'))}`);
    const entries = stats.entries;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    const row = (name: string, m: NodeJS.MemoryUsage) => [
      name,
      mib(m.rss),
      mib(m.heapTotal),
      mib(m.heapUsed),
      mib(m.external + m.arrayBuffers),
    ];
    console.log(
      `\n(d) Memory with ${entries} cached verified results (${IMAGES} signed images × ${repositories} repository names, ` +
        `filled through engine.verify in ${(fillMs / 1000).toFixed(1)} s, ${((entries / fillMs) * 1000).toFixed(0)} verifications/s)`,
    );
    printTable([
      ['', 'RSS', 'heap total', 'heap used', 'external + array buffers'],
      row('empty cache (warm)', before),
      row(`${entries} entries`, filled),
      row('after clearCache()', cleared),
    ]);
    const per = (a: number, b: number) => `${((a - b) / entries).toFixed(0)} B`;
    console.log(
      `    per entry: heap ${per(filled.heapUsed, cleared.heapUsed)} (filled − cleared), ${per(filled.heapUsed, before.heapUsed)} (filled − empty), ` +
        `RSS ${per(filled.rss, before.rss)} (filled − empty); the cache's own estimate ${(stats.bytes / entries).toFixed(0)} B ` +
        `(${mib(stats.bytes)} of the ${mib(cache.maxBytes)} budget)`,
    );
    const rssPerEntry = (filled.rss - before.rss) / entries;
    const heapPerEntry = (filled.heapUsed - cleared.heapUsed) / entries;
    const answerBytes = answerJsonBytes / IMAGES;
    printTargets([
      targetRow(
        `(d) RSS with ${entries} entries (baseline: empty cache)`,
        mib(filled.rss),
        mib(before.rss),
        filled.rss / before.rss,
        '< 300 MiB',
        filled.rss < 300 * 1024 * 1024,
      ),
      targetRow(
        '(d) RSS per entry (baseline: its answer as JSON)',
        `${rssPerEntry.toFixed(0)} B`,
        `${answerBytes.toFixed(0)} B`,
        rssPerEntry / answerBytes,
        '≤ 1 KB',
        rssPerEntry <= 1024,
      ),
      targetRow(
        '(d) heap per entry (baseline: its answer as JSON)',
        `${heapPerEntry.toFixed(0)} B`,
        `${answerBytes.toFixed(0)} B`,
        heapPerEntry / answerBytes,
        '',
        undefined,
      ),
      targetRow(
        "(d) the cache's own estimate per entry (baseline: heap measured)",
        `${(stats.bytes / entries).toFixed(0)} B`,
        `${heapPerEntry.toFixed(0)} B`,
        stats.bytes / entries / heapPerEntry,
        '≥ ×1 (a bound)',
        stats.bytes / entries >= heapPerEntry,
      ),
    ]);
  } finally {
    await engine.close();
    await environments.close();
    await client.close();
  }
}

export async function benchProvider(): Promise<void> {
  log = moduleLogger('bench');
  // (d) measures RSS, which keeps whatever the process did before (`npm run bench` runs other
  // benchmarks first: 40 MiB more RSS at the same heap): it runs alone in a fresh process.
  if (PARTS.includes('d') && PARTS !== 'd') await benchMemoryInChild();
  const s = await prepare();
  try {
    if (PARTS === 'd') await benchMemory(s);
    if (PARTS.includes('a')) await benchCold(s);
    if (PARTS.includes('b')) await benchCached(s);
    if (PARTS.includes('c')) await benchBatch(s);
    if (PARTS.includes('e'))
      await benchFreshConnections({ dir: s.dir, registryHost: s.registry.host, keys: s.images.map((i) => i.key), log });
  } finally {
    await s.registry.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

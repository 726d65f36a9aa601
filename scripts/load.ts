// Load (issue #11, "Endurance"): 60 s of Gatekeeper-shaped traffic against `vouch serve` running as a
// child process over HTTPS with mTLS, with real registries. Not a test: a script that reports and
// checks. `npm run load`; VOUCH_LOAD_SECONDS shortens it. docs/reliability.md "Load" has how to read it.
//
// Traffic, all on a NEW TLS 1.3 connection with a client certificate per request (Gatekeeper's
// external data client builds a new http.Transport per call: frameworks pkg/externaldata/request.go),
// connections left open for the server to close, as Go's Transport leaves them:
//  - admission: VOUCH_LOAD_CONCURRENCY (default 8) callers, each request the 1-3 images of one Pod,
//    of one kind: cached (signed, verified before), uncached (signed, never asked), failing
//    (unsigned: NO_SIGNATURE; signed by an untrusted CA: UNTRUSTED_SIGNER), hung (a registry that
//    accepts connections and never answers), rate-limited (a registry front answering 429 with
//    Retry-After past a token bucket);
//  - audit: sweeps of 10,000 Pods over 2,000 distinct signed images, 500 Pods per request (the
//    default --audit-chunk-size of Gatekeeper's audit, which lists and evaluates objects in chunks
//    of 500), one request after the other; a sweep starts every VOUCH_LOAD_AUDIT_INTERVAL seconds
//    (default 20, shorter than Gatekeeper's --audit-interval of 60 s so that one run has a cold
//    sweep and warm ones).
// "Uncached" needs a fresh verification per key without pushing thousands more images: the same
// images are asked in further environments (`[u3]host/repo@digest`), each with the same trust; the
// result cache is per environment, so each such key is a full verification with registry traffic.
//
// Checks (exit 1 when one fails): every answer equals the expected one for its key (a verdict never
// differs from the image's real state; cached keys are always answered verified; rate-limited keys
// are verified or undecided, never a negative verdict); every request answered (HTTP 200, one answer
// per key); hung keys are undecided DEADLINE_EXCEEDED within the request budget; every key that a
// rate-limited registry left undecided is verified when asked again later.

import { readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { generateSigningIdentity } from '../src/notation/identity-generation.js';
import { buildSignatureManifest, signEnvelope } from '../src/notation/sign.js';
import { RegistryClient, type Descriptor } from '../src/oci/index.js';
import { PROVIDER_API_VERSION } from '../src/server/index.js';
import { prepare } from '../bench/provider.js';
import { summarize } from '../bench/stats.js';
import { startHungServer } from '../test/helpers/hung-server.js';
import { buildImage, pushManifest, pushReferrer } from '../test/helpers/oci-fixtures.js';
import { startRateLimitedRegistry, tokenBucket } from '../test/helpers/rate-limited-registry.js';
import { createTlsMaterial } from '../test/helpers/tls.js';
import { answersOf, codeOf, startVouch, type ProviderResponseJson } from '../test/e2e/support/vouch-process.js';

const SECONDS = Number(process.env['VOUCH_LOAD_SECONDS'] ?? 60);
const CONCURRENCY = Number(process.env['VOUCH_LOAD_CONCURRENCY'] ?? 8);
const AUDIT_PODS = 10_000;
const AUDIT_IMAGES = Number(process.env['VOUCH_LOAD_AUDIT_IMAGES'] ?? 2_000);
/** Gatekeeper audit's default --audit-chunk-size. */
const AUDIT_CHUNK = 500;
const AUDIT_INTERVAL_S = Number(process.env['VOUCH_LOAD_AUDIT_INTERVAL'] ?? 20);
/** Environments besides the default one, for uncached and rate-limited keys. */
const EXTRA_ENVIRONMENTS = 16;
const FAILING_IMAGES = 20;
const HUNG_KEYS = 50;
const REQUEST_TIMEOUT_MS = 1500;
/** What an answer may take beyond the request budget (response transfer on a shared, loaded machine). */
const SLACK_MS = 1000;
/** Mix of admission requests by kind (weights). */
const MIX: Array<[Kind, number]> = [
  ['cached', 55],
  ['uncached', 15],
  ['failing', 15],
  ['hung', 5],
  ['rate-limited', 10],
];
/** The rate-limited front's budget: requests per second and burst (Retry-After: seconds to the next token). */
const FRONT_RATE = 40;
const FRONT_BURST = 20;

type Kind = 'cached' | 'uncached' | 'failing' | 'hung' | 'rate-limited' | 'audit';
/** What a key must be answered: a verdict code, or one of several codes (undecided ones allowed). */
interface Expectation {
  kind: Kind;
  /** Codes that are right for this key (`verified`, a reason code, or an error code). */
  accept: ReadonlySet<string>;
}

interface RequestRecord {
  kind: Kind;
  keys: number;
  ms: number;
  ok: boolean;
}

const log = (...args: unknown[]) => console.log(...args);

async function main(): Promise<number> {
  const started = Date.now();
  log(`load: preparing ${AUDIT_IMAGES} signed images in olareg, failing images, a hung and a rate-limited registry…`);
  const setup = await prepare(AUDIT_IMAGES);
  const registry = setup.registry;
  const dir = setup.dir;
  const hung = await startHungServer();
  const front = await startRateLimitedRegistry({ upstream: registry.host, policy: tokenBucket(FRONT_RATE, FRONT_BURST) });
  const tls = await createTlsMaterial();
  const failing = await pushFailingImages(registry.host);
  log(`load: prepared in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const trust = { trustPolicy: join(dir, 'trustpolicy.json'), trustStore: join(dir, 'truststore') };
  const environments: Record<string, typeof trust> = { bench: trust };
  for (let i = 0; i < EXTRA_ENVIRONMENTS; i++) environments[`u${i}`] = trust;
  const configFile = join(dir, 'vouch-load.yaml');
  await writeFile(
    configFile,
    stringify({
      // 500 Pods of 1-3 containers name up to ~1,100 distinct images of 2,000: above the default maxKeys (1,000).
      server: { address: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: REQUEST_TIMEOUT_MS, maxKeys: 2_000 },
      defaultEnvironment: 'bench',
      environments,
      registries: Object.fromEntries([registry.host, front.host, hung.host].map((h) => [h, { plainHttp: true }])),
      revocation: { offline: true },
    }),
  );
  const vouch = await startVouch({ configFile, tls, readyTimeoutMs: 60_000 });
  const port = Number(new URL(vouch.url).port);
  const secureContext = createSecureContext({ ...tls.clientOptions, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  const call = async (keys: string[]) => (await gatekeeperCall(port, secureContext, keys)).body;

  // ---- keys and what each must be answered ---------------------------------------------------------
  const expected = new Map<string, Expectation>();
  const expect = (key: string, kind: Kind, ...accept: string[]) => {
    expected.set(key, { kind, accept: new Set(accept) });
    return key;
  };
  const images = setup.images;
  // Warm: the cached set is verified once before the clock starts.
  const cachedKeys = images.slice(0, 50).map((i) => expect(i.key, 'cached', 'verified'));
  for (let i = 0; i < cachedKeys.length; i += 25) await settleVerified(call, cachedKeys.slice(i, i + 25));
  // Failing keys are decided once before the clock too: from then on their negative verdict is
  // cached and must be answered exactly, whatever the load.
  const failingKeys = [
    ...failing.unsigned.map((k) => expect(k, 'failing', 'NO_SIGNATURE')),
    ...failing.untrusted.map((k) => expect(k, 'failing', 'UNTRUSTED_SIGNER')),
  ];
  await settleAnswered(call, failingKeys, (key) => expected.get(key)!.accept);
  // Undecided within the request budget: DEADLINE_EXCEEDED while the work goes on, or the work's own
  // error (REGISTRY_UNAVAILABLE, reason TIMEOUT) when a request joins it just as the registry client gives up.
  const hungKeys = Array.from({ length: HUNG_KEYS }, (_, i) =>
    expect(`${hung.host}/load/hung-${i}@sha256:${randomBytes(32).toString('hex')}`, 'hung', 'DEADLINE_EXCEEDED', 'REGISTRY_UNAVAILABLE'),
  );
  // Fresh (environment, image) pairs: environments u0..u7 for uncached keys, u8..u15 through the front.
  const pairs = (host: string, envs: number[], kind: Kind, ...accept: string[]) => {
    let next = 0;
    return (): string => {
      const n = next++;
      const image = images[n % images.length]!;
      const env = envs[Math.floor(n / images.length) % envs.length]!;
      return expect(`[u${env}]${image.key.replace(registry.host, host)}`, kind, ...accept);
    };
  };
  const half = EXTRA_ENVIRONMENTS / 2;
  const nextUncached = pairs(
    registry.host,
    Array.from({ length: half }, (_, i) => i),
    'uncached',
    'verified',
    'DEADLINE_EXCEEDED',
  );
  // Through the throttling front: verified, or undecided (never a negative verdict).
  const nextLimited = pairs(
    front.host,
    Array.from({ length: half }, (_, i) => half + i),
    'rate-limited',
    'verified',
    'DEADLINE_EXCEEDED',
    'REGISTRY_UNAVAILABLE',
  );
  for (const image of images) expect(image.key, expected.get(image.key)?.kind ?? 'audit', 'verified', 'DEADLINE_EXCEEDED');
  for (const key of cachedKeys) expect(key, 'cached', 'verified');

  const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
  const podSize = () => 1 + Math.floor(Math.random() * 3);
  const totalWeight = MIX.reduce((a, [, w]) => a + w, 0);
  const kindOf = (): Kind => {
    let r = Math.random() * totalWeight;
    for (const [kind, weight] of MIX) if ((r -= weight) < 0) return kind;
    return 'cached';
  };
  const keysFor = (kind: Kind): string[] => {
    const n = podSize();
    switch (kind) {
      case 'cached':
        return Array.from({ length: n }, () => pick(cachedKeys));
      case 'uncached':
        return Array.from({ length: n }, nextUncached);
      case 'failing':
        return Array.from({ length: n }, () => pick(failingKeys));
      case 'hung':
        return [pick(hungKeys)];
      case 'rate-limited':
        return Array.from({ length: n }, nextLimited);
      default:
        throw new Error(kind);
    }
  };

  // ---- run --------------------------------------------------------------------------------------------
  const records: RequestRecord[] = [];
  const wrong: string[] = [];
  const dropped: string[] = [];
  const codes = new Map<string, number>();
  const late: string[] = [];
  const limitedUndecided = new Set<string>();
  const auditUndecided = new Set<string>();
  const samples: Array<{ s: number; rssMiB: number; fds: number; sockets: number }> = [];

  const check = async (kind: Kind, keys: string[]): Promise<void> => {
    const t0 = performance.now();
    let body: ProviderResponseJson;
    let afterHandshakeMs: number;
    try {
      ({ body, afterHandshakeMs } = await gatekeeperCall(port, secureContext, keys));
    } catch (error) {
      dropped.push(`${kind}: ${(error as Error).message}`);
      records.push({ kind, keys: keys.length, ms: performance.now() - t0, ok: false });
      return;
    }
    const ms = performance.now() - t0;
    records.push({ kind, keys: keys.length, ms, ok: true });
    const answers = answersOf(keys, body);
    const answered = new Set(answers.map((a) => a.key));
    for (const key of new Set(keys)) if (!answered.has(key)) dropped.push(`${kind}: no answer for ${key}`);
    for (const item of answers) {
      let code: string;
      try {
        code = codeOf(item);
      } catch (error) {
        wrong.push(`${kind} ${item.key}: ${(error as Error).message}`);
        continue;
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
      const want = expected.get(item.key);
      if (want === undefined || !want.accept.has(code)) {
        wrong.push(`${want?.kind ?? kind} ${item.key}: answered ${code}, expected ${[...(want?.accept ?? [])].join(' or ')}`);
      }
      if (want?.kind === 'hung' && afterHandshakeMs > REQUEST_TIMEOUT_MS + SLACK_MS) {
        late.push(`${item.key}: answered ${afterHandshakeMs.toFixed(0)} ms after the handshake (${ms.toFixed(0)} ms in all)`);
      }
      if (want?.kind === 'rate-limited' && code !== 'verified') limitedUndecided.add(item.key);
      if (want?.kind === 'audit' && code !== 'verified') auditUndecided.add(item.key);
      if (want?.kind === 'audit' && code === 'verified') auditUndecided.delete(item.key);
    }
  };

  // The load generator's own event loop delay: how far the machine held back the client side too.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const runStart = Date.now();
  const end = runStart + SECONDS * 1000;
  log(`load: ${SECONDS} s of traffic: ${CONCURRENCY} admission callers and the audit, vouch pid ${vouch.pid}`);
  const sampler = (async () => {
    while (Date.now() < end + 500) {
      samples.push({ s: (Date.now() - runStart) / 1000, ...(await processState(vouch.pid)) });
      await sleep(1000);
    }
  })();
  const admission = Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) {
      const kind = kindOf();
      await check(kind, keysFor(kind));
    }
  });
  const sweeps: Array<{ seconds: number; requests: number; keys: number; undecided: number }> = [];
  const audit = (async () => {
    for (let next = runStart; Date.now() < end; next += AUDIT_INTERVAL_S * 1000) {
      if (next > Date.now()) await sleep(next - Date.now());
      if (Date.now() >= end) break;
      const sweepStart = Date.now();
      let requests = 0;
      let keys = 0;
      for (let pod = 0; pod < AUDIT_PODS && Date.now() < end; pod += AUDIT_CHUNK) {
        // The distinct images of 500 Pods of 1-3 containers each, drawn from the 2,000.
        const chunk = new Set<string>();
        for (let p = 0; p < Math.min(AUDIT_CHUNK, AUDIT_PODS - pod); p++) for (let c = podSize(); c > 0; c--) chunk.add(pick(images).key);
        await check('audit', [...chunk]);
        requests++;
        keys += chunk.size;
      }
      sweeps.push({ seconds: (Date.now() - sweepStart) / 1000, requests, keys, undecided: auditUndecided.size });
    }
  })();
  await Promise.all([...admission, audit]);
  const runSeconds = (Date.now() - runStart) / 1000;
  loopDelay.disable();
  await sampler;

  // Rate-limited keys left undecided must be verified once the registry lets vouch through.
  const limitedLeft = [...limitedUndecided];
  const settleStart = Date.now();
  const stillUndecided = new Set(limitedLeft);
  while (stillUndecided.size > 0 && Date.now() - settleStart < 60_000) {
    const batch = [...stillUndecided].slice(0, 50);
    const body = await call(batch);
    for (const item of answersOf(batch, body)) {
      const code = codeOf(item);
      if (code === 'verified') stillUndecided.delete(item.key);
      else if (!['DEADLINE_EXCEEDED', 'REGISTRY_UNAVAILABLE'].includes(code))
        wrong.push(`rate-limited ${item.key}: answered ${code} later`);
    }
    if (stillUndecided.size > 0) await sleep(500);
  }
  const afterIdle = await (async () => {
    await sleep(6_000); // past server.keepAliveTimeoutMs (5 s): connections Gatekeeper left open are closed
    return processState(vouch.pid);
  })();
  const metricsText = await scrape(port, secureContext);
  await vouch.stop();
  await Promise.all([registry.stop(), hung.close(), front.close()]);
  await rm(dir, { recursive: true, force: true });
  await rm(tls.dir, { recursive: true, force: true });

  // ---- report -----------------------------------------------------------------------------------------
  log(`\nload: ${runSeconds.toFixed(1)} s, ${CONCURRENCY} admission callers + audit; every request on a new TLS 1.3 mTLS connection`);
  const kinds: Kind[] = ['cached', 'uncached', 'failing', 'hung', 'rate-limited', 'audit'];
  const rows: string[][] = [['kind', 'requests', 'keys', 'req/s', 'keys/s', 'p50', 'p99', 'max']];
  for (const kind of [...kinds, 'all' as const]) {
    const of = records.filter((r) => (kind === 'all' || r.kind === kind) && r.ok);
    if (of.length === 0) continue;
    const s = summarize(of.map((r) => r.ms));
    const keys = of.reduce((a, r) => a + r.keys, 0);
    rows.push([
      kind,
      String(of.length),
      String(keys),
      (of.length / runSeconds).toFixed(1),
      (keys / runSeconds).toFixed(0),
      `${s.p50.toFixed(1)} ms`,
      `${s.p99.toFixed(1)} ms`,
      `${Math.max(...of.map((r) => r.ms)).toFixed(0)} ms`,
    ]);
  }
  table(rows);
  log(
    `load generator event loop delay: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
  );
  log(`answers by code: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  log(
    `audit sweeps (${AUDIT_PODS} Pods over ${images.length} images, ${AUDIT_CHUNK} Pods per request): ${sweeps
      .map((s) => `${s.seconds.toFixed(1)} s / ${s.requests} requests / ${s.keys} keys / ${s.undecided} undecided after`)
      .join('; ')}`,
  );
  log(
    `rate-limited front: ${front.seen} requests, ${front.throttled} answered 429 (token bucket ${FRONT_RATE}/s, burst ${FRONT_BURST}), at most ${front.maxInFlight} in flight; ${limitedLeft.length} keys undecided during the run, ${limitedLeft.length - stillUndecided.size} verified when asked again within ${((Date.now() - settleStart) / 1000).toFixed(0)} s`,
  );
  log(`hung registry: ${hung.connections} connections accepted, ${hung.open} open at the end`);
  log('vouch process (sampled every 1 s from /proc): t, RSS MiB, fds, sockets');
  const step = Math.max(1, Math.floor(samples.length / 12));
  log(
    '  ' +
      samples
        .filter((_, i) => i % step === 0 || i === samples.length - 1)
        .map((s) => `${s.s.toFixed(0)}s ${s.rssMiB.toFixed(0)}/${s.fds}/${s.sockets}`)
        .join('  '),
  );
  const rss = samples.map((s) => s.rssMiB);
  log(
    `  RSS min ${Math.min(...rss).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB; sockets max ${Math.max(...samples.map((s) => s.sockets))}; after 6 s idle: RSS ${afterIdle.rssMiB.toFixed(0)} MiB, ${afterIdle.fds} fds, ${afterIdle.sockets} sockets`,
  );
  for (const line of metricsText.split('\n')) {
    if (/^vouch_(registry_throttled_total|registry_concurrency_limit|overloaded_keys_total|connections_refused_total)/.test(line))
      log(`  ${line}`);
  }

  const failures: string[] = [];
  if (wrong.length > 0) failures.push(`${wrong.length} wrong answers, e.g.\n    ${wrong.slice(0, 10).join('\n    ')}`);
  if (dropped.length > 0) failures.push(`${dropped.length} dropped, e.g.\n    ${dropped.slice(0, 10).join('\n    ')}`);
  if (late.length > 0) failures.push(`${late.length} hung keys answered late, e.g.\n    ${late.slice(0, 10).join('\n    ')}`);
  if (stillUndecided.size > 0) failures.push(`${stillUndecided.size} rate-limited keys never verified`);
  if (!records.some((r) => r.kind === 'hung')) failures.push('no hung-registry request was sent');
  if (front.throttled === 0) failures.push('the rate-limited registry never throttled (raise the load or lower FRONT_RATE)');
  log(
    `\nchecks: wrong answers ${wrong.length}, dropped ${dropped.length}, hung keys late ${late.length}, rate-limited keys never verified ${stillUndecided.size}`,
  );
  if (failures.length > 0) {
    log(`FAILED:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  log('all checks passed');
  return 0;
}

interface CallAnswer {
  body: ProviderResponseJson;
  /** From the end of the TLS handshake to the end of the answer. */
  afterHandshakeMs: number;
}

/** One call as Gatekeeper makes it: a new agent (Go: a new Transport), a full TLS 1.3 handshake with the client certificate, the connection left open. */
function gatekeeperCall(port: number, secureContext: SecureContext, keys: string[]): Promise<CallAnswer> {
  const agent = new Agent({ keepAlive: true, secureContext, servername: 'localhost' } as ConstructorParameters<typeof Agent>[0]);
  const body = JSON.stringify({ apiVersion: PROVIDER_API_VERSION, kind: 'ProviderRequest', request: { keys } });
  let connected = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/verify',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
          else {
            try {
              resolve({
                body: JSON.parse(Buffer.concat(chunks).toString()) as ProviderResponseJson,
                afterHandshakeMs: performance.now() - connected,
              });
            } catch (error) {
              reject(error as Error);
            }
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    // vouch's budget starts when the request arrives: after the TLS handshake.
    req.once('socket', (socket) => socket.once('secureConnect', () => (connected = performance.now())));
    req.end(body);
  });
}

async function scrape(port: number, secureContext: SecureContext): Promise<string> {
  const agent = new Agent({ secureContext, servername: 'localhost' } as ConstructorParameters<typeof Agent>[0]);
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on('error', () => resolve(''));
    req.end();
  });
}

/** Asks until every key is answered verified (the warm-up of the cached set). */
function settleVerified(call: (keys: string[]) => Promise<ProviderResponseJson>, keys: string[]): Promise<void> {
  return settleAnswered(call, keys, () => new Set(['verified']));
}

/** Asks until every key is answered with a code `accept` allows (warm-up; undecided answers are asked again). */
async function settleAnswered(
  call: (keys: string[]) => Promise<ProviderResponseJson>,
  keys: string[],
  accept: (key: string) => ReadonlySet<string>,
): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const answers = answersOf(keys, await call(keys));
    if (answers.length === keys.length && answers.every((a) => accept(a.key).has(codeOf(a)))) return;
    await sleep(200);
  }
  throw new Error(`warm-up: keys not answered as expected: ${keys.join(', ')}`);
}

/** Unsigned images, and images signed by a signer whose CA the trust store does not hold. */
async function pushFailingImages(host: string): Promise<{ unsigned: string[]; untrusted: string[] }> {
  const stranger = await generateSigningIdentity({ subject: 'CN=stranger,O=Elsewhere,C=US' });
  const client = new RegistryClient({ hosts: { [host]: { plainHttp: true } } });
  const unsigned: string[] = [];
  const untrusted: string[] = [];
  try {
    for (let i = 0; i < FAILING_IMAGES; i++) {
      const repo = client.repository(host, `load/unsigned-${i}`);
      const image: Descriptor = await pushManifest(repo, buildImage(), 'v1');
      unsigned.push(`${host}/load/unsigned-${i}@${image.digest}`);
      const signedRepo = client.repository(host, `load/untrusted-${i}`);
      const subject = await pushManifest(signedRepo, buildImage(), 'v1');
      const envelope = signEnvelope({
        format: 'jws',
        privateKey: stranger.privateKey,
        certificateChain: stranger.certificateChain,
        payload: { targetArtifact: subject },
        signingAgent: 'vouch load',
      });
      await pushReferrer(signedRepo, buildSignatureManifest(envelope, subject, { form: 'legacy' }));
      untrusted.push(`${host}/load/untrusted-${i}@${subject.digest}`);
    }
  } finally {
    await client.close();
  }
  return { unsigned, untrusted };
}

/** RSS (VmRSS), open file descriptors and of those sockets, of a process (Linux /proc). */
async function processState(pid: number): Promise<{ rssMiB: number; fds: number; sockets: number }> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    const fds = await readdir(`/proc/${pid}/fd`);
    let sockets = 0;
    await Promise.all(
      fds.map(async (fd) => {
        try {
          if ((await readlink(`/proc/${pid}/fd/${fd}`)).startsWith('socket:')) sockets++;
        } catch {
          // closed meanwhile
        }
      }),
    );
    return { rssMiB: rssKiB / 1024, fds: fds.length, sockets };
  } catch {
    return { rssMiB: 0, fds: 0, sockets: 0 };
  }
}

function table(rows: string[][]): void {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  for (const r of rows) log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);

// `npm run bench:flood` (or `npm run bench` part "flood"): the memory a burst of undecided keys holds
// (docs/security.md, attack item 7). 40 000 distinct digest keys, sent as 40 concurrent requests of
// 1 000 keys (server.maxKeys) with the provider's 2.9 s budget, name registries that accept
// connections on loopback and never answer, so every verification stays pending until the 30 s
// background budget runs out. The stack is the provider's own (parseConfig → createVerificationStack,
// registry client included): with the limits effectively off (the behaviour before `limits:`), with
// the defaults, and over so many registries that every pending job could run at once, holding a
// connection (the worst case), once with maxConcurrent effectively off (4096, the behaviour before
// it) and once with the defaults (64). Each variant runs in a fresh child process, so none sees
// another's garbage. Reported: jobs running and sockets open to the registries at most, RSS and
// heap before, at peak and after the background work ended, the heap a pending job holds, and how
// fast a further request of new keys is answered while the work is pending.

import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS, parseConfig, type LimitsConfig } from '../src/config/index.js';
import { moduleLogger } from '../src/log.js';
import { createVerificationStack } from '../src/app/index.js';
import { startHungServer, type HungServer } from '../test/helpers/hung-server.js';
import { writeTrustMaterial } from '../test/helpers/trust-material.js';
import { printTable } from './stats.js';

const KEYS = Number(process.env['BENCH_FLOOD_KEYS'] ?? 40_000);
/** Hung registries of the first two variants: more than maxPending / maxPendingPerRegistry, so the total limit binds. */
const HOSTS = Number(process.env['BENCH_FLOOD_HOSTS'] ?? 10);
/** Hung registries of the worst case: more than maxPending / concurrencyPerRegistry, so every pending job could run. */
const WIDE_HOSTS = Number(process.env['BENCH_FLOOD_WIDE_HOSTS'] ?? 300);
const KEYS_PER_REQUEST = 1_000;
const REQUEST_BUDGET_MS = 2_900;
const CHILD_FLAG = '--vouch-flood-child';

interface Variant {
  name: string;
  limits: LimitsConfig;
  hosts: number;
}

/** The largest maxConcurrent the configuration accepts: no cap below maxPending, as before the setting. */
const UNCAPPED = 4096;

const VARIANTS: Variant[] = [
  {
    name: `limits off (before), ${HOSTS} registries`,
    limits: { ...DEFAULT_LIMITS, maxPendingPerRegistry: 1_000_000, maxPending: 1_000_000, maxConcurrent: UNCAPPED },
    hosts: HOSTS,
  },
  { name: `limits: defaults, ${HOSTS} registries`, limits: { ...DEFAULT_LIMITS }, hosts: HOSTS },
  {
    name: `maxConcurrent off (before), ${WIDE_HOSTS} registries`,
    limits: { ...DEFAULT_LIMITS, maxConcurrent: UNCAPPED },
    hosts: WIDE_HOSTS,
  },
  { name: `limits: defaults, ${WIDE_HOSTS} registries`, limits: { ...DEFAULT_LIMITS }, hosts: WIDE_HOSTS },
];

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

interface VariantResult {
  variant: string;
  before: Memory;
  /** Highest RSS and heap sampled (every 20 ms, no GC) from the burst until the work ended. */
  sampledPeak: Memory;
  /** After GC, right after every request was answered: what the pending work retains. */
  peak: Memory;
  /** After GC, once every background job ended (the parsed-key memo is all that is left). */
  after: Memory;
  pendingAtPeak: number;
  /** Jobs running (holding a slot) at most, sampled every 20 ms from the burst until the work ended. */
  runningPeak: number;
  /** Connections the hung registries had accepted when every request was answered. */
  connections: number;
  /** Connections open to the hung registries when every request was answered. */
  socketsAtAnswer: number;
  /**
   * Connections open to the hung registries at most (sampled every 20 ms by the parent). Includes
   * the ones closing when the background budget runs out: a slot freed by an expiring job goes to a
   * queued job whose own budget expires a moment later; it connects and is aborted at once.
   */
  socketsPeak: number;
  overloaded: number;
  /** From the first request of the burst to the last answer. */
  answerMs: number;
  /** A further request of new keys while the burst's work is pending: how long until it is answered. */
  retryMs: number;
  drainMs: number;
}

type ChildMessage = { stage: 'peak' } | { stage: 'done'; result: VariantResult };

// ---- child: one variant ----------------------------------------------------------------------------

async function runVariant(limits: LimitsConfig, hosts: string[], dir: string): Promise<VariantResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('flood bench child needs --expose-gc');
  const snapshot = async (): Promise<Memory> => {
    for (let i = 0; i < 4; i++) {
      gc();
      await sleep(20);
    }
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
  };
  const registries = hosts.map((host) => `  "${host}": { plainHttp: true }`).join('\n');
  const text =
    `environments:\n  bench: { trustPolicy: policy.json, trustStore: store }\n` +
    `registries:\n${registries}\n` +
    `limits: { concurrencyPerRegistry: ${limits.concurrencyPerRegistry}, maxConcurrent: ${limits.maxConcurrent}, ` +
    `maxPendingPerRegistry: ${limits.maxPendingPerRegistry}, maxPending: ${limits.maxPending} }\n`;
  const config = parseConfig(text, join(dir, 'vouch.yaml'), { env: {} });
  const stack = await createVerificationStack(config, { logger: moduleLogger('bench'), watch: false });
  const keyOf = (i: number) => `${hosts[i % hosts.length]}/flood/app-${i}@sha256:${i.toString(16).padStart(64, '0')}`;
  try {
    const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
    const before = await snapshot();

    const sampledPeak: Memory = { ...before };
    let runningPeak = 0;
    const sampler = setInterval(() => {
      runningPeak = Math.max(runningPeak, stack.engine.stats().running);
      const m = process.memoryUsage();
      sampledPeak.rss = Math.max(sampledPeak.rss, m.rss);
      sampledPeak.heapUsed = Math.max(sampledPeak.heapUsed, m.heapUsed);
      sampledPeak.external = Math.max(sampledPeak.external, m.external + m.arrayBuffers);
    }, 20);

    const started = performance.now();
    const requests: Array<ReturnType<typeof stack.engine.verify>> = [];
    for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
      requests.push(stack.engine.verify(keys.slice(i, i + KEYS_PER_REQUEST), { deadline: Date.now() + REQUEST_BUDGET_MS }));
    }
    const results = (await Promise.all(requests)).flat();
    const answerMs = performance.now() - started;
    const overloaded = results.filter((r) => r.error?.reason === 'OVERLOADED').length;
    const pendingAtPeak = stack.engine.stats().pending;
    const peak = await snapshot();
    process.send!({ stage: 'peak' } satisfies ChildMessage);

    const retryStarted = performance.now();
    const retry = Array.from({ length: KEYS_PER_REQUEST }, (_, i) => keyOf(KEYS + i));
    await stack.engine.verify(retry, { deadline: Date.now() + REQUEST_BUDGET_MS });
    const retryMs = performance.now() - retryStarted;

    const drainStarted = performance.now();
    while (stack.engine.stats().pending > 0) await sleep(100);
    const drainMs = performance.now() - drainStarted;
    clearInterval(sampler);
    const after = await snapshot();
    return {
      variant: '',
      before,
      sampledPeak,
      peak,
      after,
      pendingAtPeak,
      runningPeak,
      connections: 0,
      socketsAtAnswer: 0,
      socketsPeak: 0,
      overloaded,
      answerMs,
      retryMs,
      drainMs,
    };
  } finally {
    await stack.close();
  }
}

if (process.argv[2] === CHILD_FLAG) {
  process.env['VOUCH_LOG_LEVEL'] ??= 'silent';
  const [limits, hosts, dir] = JSON.parse(process.argv[3]!) as [LimitsConfig, string[], string];
  const result = await runVariant(limits, hosts, dir);
  process.send!({ stage: 'done', result } satisfies ChildMessage, () => process.exit(0));
}

// ---- parent ----------------------------------------------------------------------------------------

function runChild(variant: Variant, servers: HungServer[], dir: string): Promise<VariantResult> {
  const used = servers.slice(0, variant.hosts);
  const accepted = () => used.reduce((sum, s) => sum + s.connections, 0);
  const initially = accepted();
  const open = () => used.reduce((sum, s) => sum + s.open, 0);
  let connections = 0;
  let socketsAtAnswer = 0;
  let socketsPeak = 0;
  const sampler = setInterval(() => (socketsPeak = Math.max(socketsPeak, open())), 20);
  return new Promise((resolve, reject) => {
    const hosts = used.map((s) => s.host);
    const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify([variant.limits, hosts, dir])], {
      execArgv: [...process.execArgv, '--expose-gc'],
      env: { ...process.env, VOUCH_LOG_LEVEL: 'silent' },
    });
    let result: VariantResult | undefined;
    child.on('message', (message: ChildMessage) => {
      if (message.stage === 'peak') {
        connections = accepted() - initially;
        socketsAtAnswer = open();
      } else {
        result = { ...message.result, variant: variant.name, connections, socketsAtAnswer, socketsPeak };
      }
    });
    child.on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (result) resolve(result);
      else reject(new Error(`flood bench child exited ${String(code)} without a result`));
    });
  });
}

export async function benchFlood(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-bench-flood-'));
  const servers: HungServer[] = [];
  try {
    await writeTrustMaterial(dir, { store: 'bench' });
    const most = Math.max(...VARIANTS.map((v) => v.hosts));
    for (let i = 0; i < most; i++) servers.push(await startHungServer());

    const results: VariantResult[] = [];
    for (const variant of VARIANTS) results.push(await runChild(variant, servers, dir));

    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `\nFlood: ${KEYS} distinct undecided digest keys on hung loopback registries, ${KEYS / KEYS_PER_REQUEST} concurrent requests ` +
        `of ${KEYS_PER_REQUEST} keys with a ${REQUEST_BUDGET_MS} ms budget. Memory in MiB: "peak" after GC while the work is ` +
        `pending, "sampled" the highest seen without GC; "retry" a further request of ${KEYS_PER_REQUEST} new keys meanwhile; ` +
        `"running" the most jobs running at once; "sockets" the connections open to the registries when every request ` +
        `was answered, "max" the most at any time (including ones closing as the budget runs out), "conns" the ` +
        `connections accepted until every request was answered.`,
    );
    printTable([
      [
        '',
        'pending',
        'running',
        'sockets',
        'max',
        'conns',
        'OVERLOADED',
        'answered',
        'retry',
        'RSS before',
        'sampled',
        'after',
        'heap before',
        'peak',
        'sampled',
        'after',
        'drained',
      ],
      ...results.map((r) => [
        r.variant,
        String(r.pendingAtPeak),
        String(r.runningPeak),
        String(r.socketsAtAnswer),
        String(r.socketsPeak),
        String(r.connections),
        String(r.overloaded),
        s(r.answerMs),
        s(r.retryMs),
        mib(r.before.rss),
        mib(r.sampledPeak.rss),
        mib(r.after.rss),
        mib(r.before.heapUsed),
        mib(r.peak.heapUsed),
        mib(r.sampledPeak.heapUsed),
        mib(r.after.heapUsed),
        s(r.drainMs),
      ]),
    ]);
    for (const r of results) {
      const perJob = r.pendingAtPeak > 0 ? (r.peak.heapUsed - r.after.heapUsed) / r.pendingAtPeak : 0;
      console.log(
        `    ${r.variant}: ${(perJob / 1024).toFixed(1)} KiB heap per pending job (peak − after, both after GC); ` +
          `RSS ${mib(r.sampledPeak.rss - r.before.rss)} MiB above before at most; parsed-key memo and the burst's key strings ` +
          `${((r.after.heapUsed - r.before.heapUsed) / KEYS).toFixed(0)} B a key (after − before)`,
      );
    }
  } finally {
    await Promise.all(servers.map((server) => server.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

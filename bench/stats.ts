// Small measurement helpers: interleaved runs (so machine noise hits every variant alike),
// percentiles, and table output. Benchmarks report ratios against a baseline from the same run.

export interface Sample {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  count: number;
}

export function summarize(durations: number[]): Sample {
  const sorted = [...durations].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, count: sorted.length };
}

/** Runs each variant `iterations` times, alternating between them, after a short warm-up. */
export async function measure<K extends string>(iterations: number, variants: Record<K, () => Promise<void>>): Promise<Record<K, Sample>> {
  const timed = Object.fromEntries(
    Object.entries<() => Promise<void>>(variants).map(([name, fn]) => [
      name,
      async () => {
        const started = performance.now();
        await fn();
        return performance.now() - started;
      },
    ]),
  ) as Record<K, () => Promise<number>>;
  return measureTimed(iterations, timed);
}

/**
 * Like measure, but each variant times itself and returns the duration in ms, so per-iteration
 * setup and teardown (a fresh server, a new connection pool) stay outside the measurement.
 */
export async function measureTimed<K extends string>(
  iterations: number,
  variants: Record<K, () => Promise<number>>,
): Promise<Record<K, Sample>> {
  const names = Object.keys(variants) as K[];
  const durations = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  const warmup = Math.max(3, Math.floor(iterations / 10));
  for (let i = 0; i < warmup; i++) for (const n of names) await variants[n]();
  for (let i = 0; i < iterations; i++) {
    for (const n of i % 2 === 0 ? names : [...names].reverse()) durations[n].push(await variants[n]());
  }
  return Object.fromEntries(names.map((n) => [n, summarize(durations[n])])) as Record<K, Sample>;
}

export function formatMs(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

export function printTable(rows: string[][]): void {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  for (const r of rows)
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

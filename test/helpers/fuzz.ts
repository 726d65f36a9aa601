// Shared settings and oracles of the property tests (test/**/*.fuzz.test.ts, docs/reliability.md
// "Fuzzing"). `npm test` runs a small number of cases per property; `npm run fuzz` runs many.
//   VOUCH_FUZZ_RUNS  cases per property (default FUZZ_DEFAULT_RUNS)
//   VOUCH_FUZZ_SEED  replay a failing run: fast-check prints the seed (and path) of every failure
// The oracle of every parser: it returns, or throws a VouchError with a code from the stable set
// (src/core/errors.ts); any other throw (TypeError, RangeError, SyntaxError…) is a bug, as is a
// call that runs longer than the hang bound.

import * as fc from 'fast-check';
import type { ExecutionContext } from 'ava';
import { ANSWER_CODES, DOCKER_HUB_HOST, INTERNAL_CODES, UNDECIDED_CODES, VouchError } from '../../src/core/index.js';

/** Cases per property in `npm test`: all fuzz files together stay within a few seconds on 2 cores. */
export const FUZZ_DEFAULT_RUNS = 100;

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

/** Cases per property; `scale` shrinks it for expensive properties (at least 10 cases). */
export function fuzzRuns(scale = 1): number {
  return Math.max(10, Math.round(positiveInteger('VOUCH_FUZZ_RUNS', FUZZ_DEFAULT_RUNS) * scale));
}

/** fast-check parameters: run count, the replay seed when set, and the full counterexample on failure. */
export function fuzzParameters<T>(scale = 1): fc.Parameters<T> {
  const seedText = process.env['VOUCH_FUZZ_SEED'];
  const parameters: fc.Parameters<T> = { numRuns: fuzzRuns(scale), verbose: fc.VerbosityLevel.None };
  if (seedText !== undefined && seedText !== '') parameters.seed = Number(seedText);
  return parameters;
}

/**
 * Runs a property and turns a failure into an ava failure whose message carries fast-check's report:
 * the seed and path to replay it (VOUCH_FUZZ_SEED) and the shrunk counterexample.
 */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(
  t: ExecutionContext,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void,
  scale = 1,
): void {
  const details = fc.check(fc.property(...arbitraries, predicate), fuzzParameters(scale));
  if (details.failed) t.fail(failureReport(details));
  else t.pass(`${details.numRuns} cases`);
}

/** The async variant of checkProperty. */
export async function checkAsyncProperty<Ts extends [unknown, ...unknown[]]>(
  t: ExecutionContext,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => Promise<void>,
  scale = 1,
): Promise<void> {
  const details = await fc.check(fc.asyncProperty(...arbitraries, predicate), fuzzParameters(scale));
  if (details.failed) t.fail(failureReport(details));
  else t.pass(`${details.numRuns} cases`);
}

function failureReport<T>(details: fc.RunDetails<T>): string {
  const error = details.errorInstance;
  const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const seed = `replay: VOUCH_FUZZ_SEED=${details.seed} (path ${details.counterexamplePath ?? '?'})`;
  return `${why}\n${seed}\n${fc.defaultReportMessage(details)}`.slice(0, 4000);
}

const STABLE_CODES: ReadonlySet<string> = new Set<string>([...ANSWER_CODES, ...UNDECIDED_CODES, ...INTERNAL_CODES]);

/** A call that takes more CPU time than this on one input is a hang (generous: inputs are small). */
export const HANG_BOUND_MS = 2000;

/**
 * The parser oracle: `call` returns, or throws a VouchError whose code is in the stable set (and,
 * when given, in `codes`), within HANG_BOUND_MS. Anything else throws an Error describing it, so
 * fast-check records the input as a counterexample. Returns the value or the VouchError.
 */
export function typedOutcome<T>(call: () => T, codes?: readonly string[]): { value: T } | { error: VouchError } {
  // CPU time: a hang spins, and time the process spends waiting for the shared cores is not a hang.
  const started = process.cpuUsage();
  let outcome: { value: T } | { error: VouchError };
  try {
    outcome = { value: call() };
  } catch (error) {
    if (!(error instanceof VouchError)) {
      throw new Error(`untyped throw: ${describe(error)}`, { cause: error });
    }
    if (!STABLE_CODES.has(error.code)) throw new Error(`VouchError with an unknown code ${JSON.stringify(error.code)}`);
    if (codes !== undefined && !codes.includes(error.code)) {
      throw new Error(`VouchError ${error.code} (${error.reason}) not among ${codes.join(', ')}: ${error.message}`);
    }
    outcome = { error };
  }
  const used = process.cpuUsage(started);
  const elapsed = (used.user + used.system) / 1000;
  if (elapsed > HANG_BOUND_MS) throw new Error(`call took ${Math.round(elapsed)} ms of CPU (bound ${HANG_BOUND_MS} ms)`);
  return outcome;
}

/** typedOutcome for async calls (wall time, with more room: the calls wait for I/O). */
export async function typedOutcomeAsync<T>(
  call: () => Promise<T>,
  codes?: readonly string[],
): Promise<{ value: T } | { error: VouchError }> {
  const started = performance.now();
  let outcome: { value: T } | { error: VouchError };
  try {
    outcome = { value: await call() };
  } catch (error) {
    if (!(error instanceof VouchError)) throw new Error(`untyped throw: ${describe(error)}`, { cause: error });
    if (!STABLE_CODES.has(error.code)) throw new Error(`VouchError with an unknown code ${JSON.stringify(error.code)}`);
    if (codes !== undefined && !codes.includes(error.code)) {
      throw new Error(`VouchError ${error.code} (${error.reason}) not among ${codes.join(', ')}: ${error.message}`);
    }
    outcome = { error };
  }
  const elapsed = performance.now() - started;
  if (elapsed > 2.5 * HANG_BOUND_MS) throw new Error(`call took ${Math.round(elapsed)} ms (bound ${2.5 * HANG_BOUND_MS} ms)`);
  return outcome;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * CPU milliseconds of the fastest of `repeat` runs of `call`. CPU time of this process, not wall
 * time: other processes on the shared cores do not count, and the minimum filters out the rest.
 */
export function fastestMs(call: () => unknown, repeat = 5): number {
  let best = Infinity;
  for (let i = 0; i < repeat; i++) {
    const started = process.cpuUsage();
    try {
      call();
    } catch {
      // outcome checked elsewhere; only the time matters here
    }
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

/**
 * Growth check against quadratic blow-ups: the time for an input `factor` times larger must be at
 * most `factor * slack` times the time for the small one (linear within noise; quadratic would be
 * `factor`² ). `build(n)` makes an input of size n. Times below 1 ms are floored so noise on tiny
 * inputs does not decide.
 */
export function assertRoughlyLinear(
  t: ExecutionContext,
  what: string,
  build: (n: number) => unknown,
  call: (input: never) => unknown,
  { small = 20_000, factor = 16, slack = 4 }: { small?: number; factor?: number; slack?: number } = {},
): void {
  const smallInput = build(small);
  const largeInput = build(small * factor);
  const run = call as (input: unknown) => unknown;
  run(smallInput); // warm up the JIT
  // The CPU is shared (other test processes, other work): a blow-up must show in three measurements
  // in a row, noise rarely does. A quadratic cost is factor² where linear is factor.
  let report = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const smallMs = Math.max(
      1,
      fastestMs(() => run(smallInput)),
    );
    const largeMs = fastestMs(() => run(largeInput), 3);
    if (largeMs <= smallMs * factor * slack) {
      t.pass();
      return;
    }
    report += ` ${small} → ${Math.round(smallMs * 10) / 10} ms, ${small * factor} → ${Math.round(largeMs * 10) / 10} ms;`;
  }
  t.fail(`${what}: more than ${factor * slack}× for ${factor}× the input:${report}`);
}

// ---- generators shared by several files ----

/** Text that stresses parsers: unicode, controls, quotes, separators, long runs. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'"\\,;=: \t<>[]{}@/%.-_*\'\u0000\r\n\u00a0\ufeff\u212a\u0130'.split('')), maxLength: 40 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'null', 'NaN', '1e400', '-0'),
);

/**
 * Arbitrary JSON-ish values including the odd ones: __proto__ keys, huge and non-finite numbers,
 * deep nesting (via `depthSize`), long arrays.
 */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -0, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 0.5, -1, 1e21),
    fc.integer(),
    hostileText,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileText, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** JSON text of an object that has an own `__proto__` member (JSON.stringify cannot write one). */
export function withProtoMember(json: string, value: string): string {
  return json.replace(/^\s*\{/, `{"__proto__":${value}${json.trim() === '{}' ? '' : ','}`);
}

/** `depth` levels of `[`…`]` (or `{"a":`…`}`) around `inner`. */
export function deeplyNested(depth: number, inner = '0', kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? '['.repeat(depth) + inner + ']'.repeat(depth) : '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}

/**
 * Registry hosts with the spellings a container runtime pulls the same image for: letter case, port
 * with leading zeros, `:443` (the default) written out, IPv6 long and short forms, Docker Hub aliases.
 * `canonical` is the form src/core/reference.ts must produce.
 */
export const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
export const topLabel = fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,4}[a-z0-9])?$/);
export const port = fc.integer({ min: 1, max: 65535 });
export const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
const ipv6Groups = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 });

/** A registry host in canonical form, with the spellings a runtime treats as the same endpoint. */
export interface HostSpelling {
  canonical: string;
  spellings: fc.Arbitrary<string>;
}

const flipCase = (text: string, flips: boolean[]): string =>
  [...text].map((c, i) => (flips[i % Math.max(1, flips.length)] ? c.toUpperCase() : c)).join('');

const withPortSpelling = (name: string, portNumber: number | undefined): fc.Arbitrary<string> => {
  if (portNumber === undefined) return fc.constantFrom(name, `${name}:443`, `${name}:0443`);
  return fc.nat(3).map((zeros) => `${name}:${'0'.repeat(zeros)}${portNumber}`);
};

export const dnsHost: fc.Arbitrary<HostSpelling> = fc
  .tuple(fc.array(label, { minLength: 0, maxLength: 2 }), topLabel, fc.option(port, { nil: undefined }), fc.boolean())
  .map(([labels, top, portNumber, useLocalhost]) => {
    const name = useLocalhost ? 'localhost' : [...labels, top].join('.');
    // a lone lowercase label without a port is not a host (it is Docker Hub's first path component)
    const effectivePort = !name.includes('.') && name !== 'localhost' && portNumber === undefined ? 5000 : portNumber;
    const canonical = effectivePort === undefined || effectivePort === 443 ? name : `${name}:${effectivePort}`;
    return {
      canonical,
      spellings: fc
        .tuple(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), withPortSpelling(name, effectivePort))
        .map(([flips, spelled]) => flipCase(spelled.slice(0, name.length), flips) + spelled.slice(name.length)),
    };
  });

export const ipv4Host: fc.Arbitrary<HostSpelling> = fc.tuple(ipv4, fc.option(port, { nil: undefined })).map(([name, portNumber]) => ({
  canonical: portNumber === undefined || portNumber === 443 ? name : `${name}:${portNumber}`,
  spellings: withPortSpelling(name, portNumber),
}));

export const ipv6Host: fc.Arbitrary<HostSpelling> = fc
  .tuple(ipv6Groups, fc.option(port, { nil: undefined }))
  .map(([groups, portNumber]) => {
    const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
    const name = new URL(`http://[${full}]/`).hostname; // RFC 5952 form
    return {
      canonical: portNumber === undefined || portNumber === 443 ? name : `${name}:${portNumber}`,
      spellings: fc
        .tuple(fc.constantFrom(full, groups.map((g) => g.toString(16)).join(':'), name.slice(1, -1)), fc.boolean())
        .chain(([text, upper]) => withPortSpelling(`[${upper ? text.toUpperCase() : text}]`, portNumber)),
    };
  });

export const dockerHubHost: fc.Arbitrary<HostSpelling> = fc.constant({
  canonical: DOCKER_HUB_HOST,
  spellings: fc
    .tuple(fc.constantFrom('docker.io', 'index.docker.io', 'registry-1.docker.io'), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }))
    .chain(([name, flips]) => withPortSpelling(flipCase(name, flips), undefined)),
});

export { fc };

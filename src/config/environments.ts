// The trust material of every configured environment: its Notary Project trust policy and trust
// store, loaded and validated at start (every trust store the policy references is loaded, so a
// broken configuration fails before the first admission request), then reloaded without a restart
// when the files change.
//
// After the start, trust only shrinks while files are invalid and grows only through a valid load
// (docs/security.md "Trust withdrawal"):
// - the trust policy: a valid file is served; a present but invalid one (a typo, also a policy
//   naming a store it did not name before that cannot be loaded, as at start) keeps the last good
//   policy and reports the error; a file removed or emptied (0 bytes, whitespace) withdraws all trust
//   of the environment: a policy without statements is served, so every image answers NO_TRUST_POLICY.
// - each trust store the served policy references: a valid store is served as loaded; otherwise the
//   last good certificates of that store that are still in a file valid on its own (a removed,
//   emptied or broken root is untrusted at once, while a broken file added next to good ones costs
//   nothing). When none is left the store is withdrawn: the served trust store answers
//   INVALID_CONFIG / WITHDRAWN for it and the verifier fails every statement naming it.
// "Keep the last good material" is right for a typo; it is wrong when the operator removed a
// compromised root (notation itself fails verification with such files). Every change of what is
// served gets a new generation, so no cached answer outlives it. status() says what is withdrawn.
//
// Changes are noticed two ways: fs.watch on the directories involved (the policy file's directory,
// the trust store root and every x509/<type>/<name> directory under it; renames and atomic replaces
// show up as directory events), and a periodic content check, because fs.watch is unreliable on
// network filesystems and some container runtimes. Both only trigger the same check: hash the
// policy file and every trust store file; when the hash differs from the last check's, re-evaluate.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { VouchError, errorMessage } from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  hasVolumeLayout,
  isVolumeBookkeeping,
  readOciTrustPolicyFile,
  referencedTrustStores,
  scanTrustStore,
  TRUST_STORE_TYPES,
  TrustStoreSnapshot,
  volumeFileTarget,
  type Certificate,
  type OciTrustPolicy,
  type TrustStore,
  type TrustStoreEntry,
  type TrustStoreRef,
  type TrustStoreScan,
} from '../trust/index.js';
import { loadPolicyFile, type LoadPolicyOptions } from '../policy/index.js';
import { loadCosignPublicKey, parseTrustedRoot, type CosignPublicKey, type CosignTrust } from '../cosign/index.js';
import { decisionPolicyOf, type DecisionPolicy } from '../verify/index.js';
import { formatConfigPath } from './parse.js';
import type { CosignConfig, EnvironmentConfig, VouchConfig } from './schema.js';

/**
 * One environment's trust material, immutable: a request takes it once and uses a consistent
 * policy and store throughout. A reload replaces the object, with a new `generation`.
 */
export interface LoadedEnvironment {
  readonly name: string;
  /** The Notary part: the trust policy; undefined for an environment that trusts cosign signatures only. */
  readonly policy: OciTrustPolicy | undefined;
  /**
   * The trust stores the policy references, as decided at load time (TrustStoreSnapshot). It never
   * looks at the filesystem, so a store broken on disk cannot affect the material being served
   * beyond what the withdrawal rules above decide.
   */
  readonly trustStore: TrustStore | undefined;
  /** The cosign part (keys, trusted root, identities), when the environment configures one. */
  readonly cosign: CosignTrust | undefined;
  /**
   * Changes whenever the trust material served changes; never reused, across environments and
   * EnvironmentSets, so caches can key results by it.
   */
  readonly generation: number;
  readonly loadedAt: Date;
  /** The environment's decision policy (`policy:`), when it names one. */
  readonly decisionPolicy: DecisionPolicy | undefined;
  /**
   * sha256 of the content served ({@link trustFingerprint}): equal on replicas serving equal material,
   * so the shared result cache can key entries by it (`generation` is per process).
   */
  readonly fingerprint: string;
}

/**
 * trusted: served as loaded (the files may still hold a broken extra file: see `error`);
 * degraded: some certificates of the last good load are no longer in valid files and no longer trusted;
 * withdrawn: none is, the store trusts nothing and every statement naming it fails.
 */
export type TrustStoreState = 'trusted' | 'degraded' | 'withdrawn';

export interface TrustStoreStatus {
  /** As the trust policy names it: `ca:acme-prod`. */
  store: string;
  directory: string;
  state: TrustStoreState;
  /** Certificates trusted now. */
  certificates: number;
  /** Certificates of the last good load no longer trusted. */
  withdrawnCertificates: number;
  /** Since when the store has been in this state (not trusted only). */
  since: Date | undefined;
  /** Why (the first problem found, naming the file); not trusted only. */
  why: string | undefined;
}

export interface EnvironmentStatus {
  name: string;
  /** Material is being served (always true after a successful EnvironmentSet.load). */
  loaded: boolean;
  /**
   * ok: serving the files as they are; reload-failed: some file is invalid, the last good material
   * is served and nothing was withdrawn; degraded: trust was withdrawn (see policyWithdrawn and
   * trustStores); not-loaded.
   */
  state: 'ok' | 'reload-failed' | 'degraded' | 'not-loaded';
  generation: number | undefined;
  loadedAt: Date | undefined;
  /** Why the files on disk could not be loaded as they are; cleared when they can. */
  error: string | undefined;
  errorSince: Date | undefined;
  /** Set while the trust policy file is removed or empty: no statement is served. */
  policyWithdrawn: { path: string; since: Date; why: string } | undefined;
  /** Every trust store the served policy references. */
  trustStores: TrustStoreStatus[];
  /**
   * The decision policy (`policy:`), when configured: the file, the entrypoint served and, while the
   * file cannot be loaded, why and since when (the last good policy is served; state `degraded`).
   */
  decisionPolicy: { path: string; entrypoint: string; error: string | undefined; since: Date | undefined } | undefined;
  /**
   * The cosign part, when configured: keys served, key files whose key is withdrawn (removed or
   * emptied), whether a trusted root is served and, while some file cannot be loaded as it is, why
   * and since when (state `degraded`).
   */
  cosign: { keys: number; withdrawnKeys: string[]; trustedRoot: boolean; error: string | undefined; since: Date | undefined } | undefined;
}

export interface EnvironmentSetStatus {
  /** Every environment has material to serve. */
  ready: boolean;
  /** Some environment serves less trust than its last good material (withdrawn policy or store). */
  degraded: boolean;
  environments: EnvironmentStatus[];
}

export interface EnvironmentSetOptions {
  /** Watch and poll for changes (default true). Off for one-shot commands such as `vouch verify`. */
  watch?: boolean;
  /** Period of the fallback content check in ms (default 3000; 0 disables it). */
  pollIntervalMs?: number;
  /** Delay after a filesystem event before checking, to let a burst of writes finish (default 100 ms). */
  debounceMs?: number;
  /** Use fs.watch besides the periodic check (default true; tests turn it off to exercise polling alone). */
  fsWatch?: boolean;
  logger?: Logger;
  /**
   * Numbers the trust generations this set serves (each must differ from every earlier one). Default:
   * a counter of this set; sets that feed one verification engine in turn must share one source,
   * since the engine keys its cache by environment name and generation.
   */
  nextGeneration?: () => number;
  /** How decision policies are loaded: opa for `.rego` files, the clock, evaluation limits (src/policy). */
  policy?: LoadPolicyOptions;
}

/** 1, 2, 3, …: a fresh counter per call. */
function generationCounter(): () => number {
  let last = 0;
  return () => ++last;
}

const DEFAULT_POLL_INTERVAL_MS = 3000;
const DEFAULT_DEBOUNCE_MS = 100;
/** Most files hashed in one trust store (a guard against pointing trustStore at a huge tree). */
const MAX_STORE_FILES = 10_000;
/** A policy file larger than this is never "emptied" (whitespace only), only invalid. */
const MAX_BLANK_POLICY_BYTES = 64 * 1024;
/**
 * How long a replaced decision policy keeps running before it is closed: verifications that took the
 * old material before the reload may still evaluate it (their background budget is 30 s by default).
 */
const RETIRED_POLICY_GRACE_MS = 60_000;
/** Attempts to read a policy file that keeps changing while it is read. */
const POLICY_READ_ATTEMPTS = 3;

/** The trust policy being served. */
interface ServedPolicy {
  readonly policy: OciTrustPolicy;
  /** What it was built from (the file's digest, or the withdrawal): equal digests, equal policies. */
  readonly digest: string;
  /** Set while the policy file is removed or empty. */
  readonly withdrawn: { path: string; since: Date; why: string } | undefined;
}

/** One trust store of the served policy. */
interface StoreState {
  readonly ref: TrustStoreRef;
  readonly directory: string;
  /** The certificates of the last valid load of this store: the most it is trusted for until the next one. */
  readonly lastGood: readonly Certificate[];
  /** Trusted now: lastGood, or the part of it still in valid files. */
  readonly effective: readonly Certificate[];
  readonly state: TrustStoreState;
  readonly since: Date | undefined;
  readonly why: string | undefined;
}

/**
 * One cosign trust file as served: the digest of the file last evaluated, what is served from it
 * (the last good value; undefined once the file was removed or emptied) and, while the file on disk
 * is not what is served, why.
 */
interface CosignFile<T> {
  readonly file: string;
  readonly digest: string;
  readonly value: T | undefined;
  /** The digest of the file `value` was loaded from: restoring those bytes serves the same value. */
  readonly goodDigest: string | undefined;
  readonly problem: string | undefined;
}

/** The cosign part served: one entry per configured key file, and the trusted root. */
interface CosignServed {
  readonly keys: readonly CosignFile<CosignPublicKey>[];
  readonly trustedRoot: CosignFile<unknown> | undefined;
}

/** The Notary part of an environment, when it has one. */
interface NotaryPart {
  readonly trustPolicy: string;
  readonly trustStore: string;
}

function notaryPart(environment: EnvironmentConfig): NotaryPart | undefined {
  const { trustPolicy, trustStore } = environment;
  return trustPolicy === undefined || trustStore === undefined ? undefined : { trustPolicy, trustStore };
}

interface EnvironmentState {
  readonly config: EnvironmentConfig;
  current: LoadedEnvironment | undefined;
  /** Content hash of the files as of the last evaluation. */
  stamp: string | undefined;
  error: { message: string; since: Date } | undefined;
  /** Directories worth watching, as of the last check. */
  directories: string[];
  policy: ServedPolicy | undefined;
  /** The stores `policy` references, keyed `type:name`. */
  stores: Map<string, StoreState>;
  /** The decision policy served and the digest of the file it was loaded from. */
  decision: { policy: DecisionPolicy; digest: string } | undefined;
  /** Why the decision policy file on disk cannot be loaded (the last good one is served). */
  decisionError: { message: string; since: Date } | undefined;
  /** The cosign part served, when configured. */
  cosign: CosignServed | undefined;
  /** Since when some cosign file is not served as it is on disk. */
  cosignErrorSince: Date | undefined;
}

interface Stamp {
  hash: string;
  /** Directories worth watching for this environment (those that exist). */
  directories: string[];
}

/**
 * The loaded trust material of every configured environment, kept up to date with the files.
 * Build it with EnvironmentSet.load; call close() to stop watching.
 */
export class EnvironmentSet {
  readonly defaultEnvironment: string;
  readonly #file: string;
  readonly #states = new Map<string, EnvironmentState>();
  readonly #log: Logger;
  readonly #watch: boolean;
  readonly #pollIntervalMs: number;
  readonly #debounceMs: number;
  readonly #fsWatch: boolean;
  readonly #nextGeneration: () => number;
  readonly #policyOptions: LoadPolicyOptions;
  /** Replaced decision policies waiting to be closed. */
  readonly #retired = new Map<DecisionPolicy, NodeJS.Timeout>();
  readonly #watchers = new Map<string, FSWatcher>();
  #pollTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #queued: Promise<void> | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(config: VouchConfig, options: EnvironmentSetOptions) {
    this.defaultEnvironment = config.defaultEnvironment;
    this.#file = config.file;
    this.#log = options.logger ?? moduleLogger('config');
    this.#watch = options.watch ?? true;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.#fsWatch = options.fsWatch ?? true;
    this.#nextGeneration = options.nextGeneration ?? generationCounter();
    this.#policyOptions = { logger: this.#log, timeoutMs: config.limits.policyTimeoutMs, ...options.policy };
    for (const [name, environment] of config.environments) {
      this.#states.set(name, {
        config: environment,
        current: undefined,
        stamp: undefined,
        error: undefined,
        directories: [],
        policy: undefined,
        stores: new Map(),
        decision: undefined,
        decisionError: undefined,
        cosign: undefined,
        cosignErrorSince: undefined,
      });
    }
  }

  /**
   * Loads every environment's trust policy and trust store and validates every referenced store.
   * Throws INVALID_CONFIG naming the configuration file, the field and the broken file on the first
   * problem (at start nothing is served from partial material). Then, unless `watch: false`, starts
   * watching for changes.
   */
  static async load(config: VouchConfig, options: EnvironmentSetOptions = {}): Promise<EnvironmentSet> {
    const set = new EnvironmentSet(config, options);
    try {
      for (const state of set.#states.values()) {
        const stamp = await set.#stampOf(state.config);
        state.directories = stamp.directories;
        await set.#evaluate(state, true);
        state.stamp = stamp.hash;
      }
    } catch (error) {
      // Decision policies already loaded run worker threads: stop them.
      await set.close();
      throw error;
    }
    if (set.#watch) {
      set.#syncWatchers();
      if (set.#pollIntervalMs > 0) {
        set.#pollTimer = setInterval(() => void set.checkNow(), set.#pollIntervalMs);
        set.#pollTimer.unref();
      }
    }
    return set;
  }

  /** The material of an environment, or undefined for a name that is not configured. */
  get(name: string): LoadedEnvironment | undefined {
    return this.#states.get(name)?.current;
  }

  /** Configured environment names, in configuration order. */
  names(): string[] {
    return [...this.#states.keys()];
  }

  status(): EnvironmentSetStatus {
    const environments = [...this.#states.values()].map((state): EnvironmentStatus => {
      const trustStores = [...state.stores.entries()].map(([store, s]): TrustStoreStatus => ({
        store,
        directory: s.directory,
        state: s.state,
        certificates: s.effective.length,
        withdrawnCertificates: s.lastGood.length - s.effective.length,
        since: s.since,
        why: s.why,
      }));
      const withdrawn = state.policy?.withdrawn;
      const loaded = state.current !== undefined;
      const cosignFiles =
        state.cosign === undefined ? [] : [...state.cosign.keys, ...(state.cosign.trustedRoot ? [state.cosign.trustedRoot] : [])];
      const cosignError = cosignFiles.flatMap((f) => (f.problem === undefined ? [] : [f.problem])).join('; ') || undefined;
      const degraded =
        withdrawn !== undefined ||
        trustStores.some((s) => s.state !== 'trusted') ||
        state.decisionError !== undefined ||
        cosignError !== undefined;
      return {
        name: state.config.name,
        loaded,
        state: !loaded ? 'not-loaded' : degraded ? 'degraded' : state.error !== undefined ? 'reload-failed' : 'ok',
        generation: state.current?.generation,
        loadedAt: state.current?.loadedAt,
        // A decision policy file that cannot be loaded counts too (vouch_trust_material_reload_failing).
        error: [state.error?.message, state.decisionError?.message, cosignError].filter((m) => m !== undefined).join('; ') || undefined,
        errorSince: state.error?.since ?? state.decisionError?.since ?? state.cosignErrorSince,
        policyWithdrawn: withdrawn === undefined ? undefined : { ...withdrawn },
        trustStores,
        decisionPolicy:
          state.config.policy === undefined
            ? undefined
            : {
                path: state.config.policy,
                entrypoint: state.decision?.policy.entrypoint ?? '',
                error: state.decisionError?.message,
                since: state.decisionError?.since,
              },
        cosign:
          state.cosign === undefined
            ? undefined
            : {
                keys: state.cosign.keys.filter((k) => k.value !== undefined).length,
                withdrawnKeys: state.cosign.keys.filter((k) => k.value === undefined).map((k) => k.file),
                trustedRoot: state.cosign.trustedRoot?.value !== undefined,
                error: cosignError,
                since: cosignError === undefined ? undefined : state.cosignErrorSince,
              },
      };
    });
    return {
      ready: environments.every((e) => e.loaded),
      degraded: environments.some((e) => e.state === 'degraded'),
      environments,
    };
  }

  /**
   * Checks every environment's files now and reloads what changed (also what a filesystem event or
   * the periodic check would do). Resolves when a check that started after this call has finished;
   * never rejects (failures are in status()).
   */
  checkNow(): Promise<void> {
    if (this.#closed) return this.#tail;
    if (this.#queued !== undefined) return this.#queued;
    const run = this.#tail
      .then(async () => {
        this.#queued = undefined;
        if (this.#closed) return;
        for (const state of this.#states.values()) await this.#check(state);
        if (this.#watch && !this.#closed) this.#syncWatchers();
      })
      .catch((error: unknown) => this.#log.error({ err: errorMessage(error) }, 'trust material check failed'));
    this.#queued = run;
    this.#tail = run;
    return run;
  }

  /** Stops watching and polling; resolves once any check in progress has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#debounceTimer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#tail;
    const policies = new Set<DecisionPolicy>(this.#retired.keys());
    for (const timer of this.#retired.values()) clearTimeout(timer);
    this.#retired.clear();
    for (const state of this.#states.values()) if (state.decision !== undefined) policies.add(state.decision.policy);
    await Promise.allSettled([...policies].map((policy) => policy.wasm.close()));
  }

  // ---- checking and loading ---------------------------------------------------------------------

  async #check(state: EnvironmentState): Promise<void> {
    const stamp = await this.#stampOf(state.config);
    state.directories = stamp.directories;
    // The evaluation depends on nothing but these files: unchanged files, unchanged outcome.
    if (stamp.hash === state.stamp) return;
    await this.#evaluate(state, false);
    // Taken before evaluating, so a change racing with it is seen as a change by the next check.
    state.stamp = stamp.hash;
  }

  #at(environment: EnvironmentConfig, ...field: Array<string | number>): string {
    return `${this.#file}: ${formatConfigPath(['environments', environment.name, ...field])}`;
  }

  // Decides what to serve from the files now on disk and the last good material (see the top of the
  // file), installs it under a new generation when it differs from what is served, and logs every
  // withdrawal and restoration. At start (`initial`) any problem throws INVALID_CONFIG naming the
  // configuration field and the broken file; later only unexpected failures throw.
  async #evaluate(state: EnvironmentState, initial: boolean): Promise<void> {
    const environment = state.config;
    const now = new Date();
    const problems: string[] = [];

    // 1–2. The Notary part (trust policy and the trust stores it references), when configured.
    const notary = notaryPart(environment);
    const { served, stores } =
      notary === undefined
        ? { served: undefined, stores: new Map<string, StoreState>() }
        : await this.#evaluateNotary(state, notary, initial, now, problems);

    // 3. The decision policy: loaded when its file changed; one that cannot be loaded stops the start,
    //    later the last good one stays (reported, state degraded).
    const previousDecision = state.decision;
    const decision = await this.#decisionPolicy(state, initial, now);

    // 4. The cosign part: keys and trusted root, each file on its own (see #evaluateCosign).
    const previousCosign = state.cosign;
    const cosign = environment.cosign === undefined ? undefined : await this.#evaluateCosign(state, environment.cosign, initial, now);

    const previousPolicy = state.policy;
    const previousStores = state.stores;
    const changed =
      state.current === undefined ||
      previousPolicy?.digest !== served?.digest ||
      !sameStores(previousStores, stores) ||
      previousDecision !== decision ||
      !sameCosign(previousCosign, cosign);
    state.decision = decision;
    state.cosign = cosign;
    if (previousDecision !== undefined && previousDecision !== decision) this.#retire(previousDecision.policy);
    state.policy = served;
    state.stores = stores;
    if (!initial && notary !== undefined && served !== undefined) {
      this.#logTransitions(notary, environment.name, previousPolicy, served, previousStores, stores);
    }
    if (changed) this.#install(state, !initial);

    const message = problems.length > 0 ? problems.join('; ') : undefined;
    if (message === undefined) {
      if (state.error !== undefined) {
        state.error = undefined;
        this.#log.info({ environment: environment.name, generation: state.current?.generation }, 'trust material files are valid again');
      }
    } else if (state.error?.message !== message) {
      state.error = { message, since: now };
      this.#log.error(
        { environment: environment.name, err: message, generation: state.current?.generation },
        'trust material reload failed; serving the last good material still present on disk',
      );
    }
  }

  // The trust policy and every trust store it references: what to serve and why (see the top of the file).
  async #evaluateNotary(
    state: EnvironmentState,
    notary: NotaryPart,
    initial: boolean,
    now: Date,
    problems: string[],
  ): Promise<{ served: ServedPolicy; stores: Map<string, StoreState> }> {
    const environment = state.config;
    const read = await readPolicy(notary.trustPolicy);
    let served: ServedPolicy;
    if ('policy' in read) {
      served = { policy: read.policy, digest: read.digest, withdrawn: undefined };
    } else {
      // Trust policy messages already start with the policy file's path.
      const message = `${this.#at(environment, 'trustPolicy')}: ${errorMessage(read.error)}`;
      if (initial || state.policy === undefined) {
        throw new VouchError('INVALID_CONFIG', message, { reason: reasonOf(read.error), cause: read.error });
      }
      if (read.absent !== undefined) {
        const why = `the trust policy file ${notary.trustPolicy} was ${read.absent}, which withdraws all trust of environment ${JSON.stringify(environment.name)}`;
        const previous = state.policy.withdrawn;
        served = {
          policy: { version: '1.0', source: notary.trustPolicy, statements: [], withdrawn: why },
          digest: `withdrawn:${read.absent}`,
          withdrawn: { path: notary.trustPolicy, since: previous?.why === why ? previous.since : now, why },
        };
      } else {
        // A typo: the last good policy (which may be a withdrawal) stays.
        problems.push(message);
        served = state.policy;
      }
    }

    // 2. Every trust store the served policy references. A new policy naming a store the served one
    //    does not, which cannot be loaded, is refused like a typo (as at start, where it fails): the
    //    last good policy stays. Trust grows only through a policy whose new stores all load.
    const storeMessage = (error: VouchError): string =>
      `${this.#at(environment, 'trustStore')}: ${notary.trustStore}: ${error.message} (referenced by ${notary.trustPolicy})`;
    let scans = await scanStores(notary.trustStore, served.policy);
    if (state.policy !== undefined && served !== state.policy && served.withdrawn === undefined) {
      const unloadable = scans.find((scan) => 'error' in scan.result && !state.stores.has(storeKey(scan)));
      if (unloadable !== undefined && 'error' in unloadable.result) {
        problems.push(`${storeMessage(unloadable.result.error)}; the last good trust policy stays`);
        served = state.policy;
        scans = await scanStores(notary.trustStore, served.policy);
      }
    }
    const stores = new Map<string, StoreState>();
    for (const scan of scans) {
      const key = storeKey(scan);
      const ref: TrustStoreRef = { type: scan.type, name: scan.name };
      if ('certificates' in scan.result) {
        const certificates = scan.result.certificates;
        stores.set(key, {
          ref,
          directory: scan.directory,
          lastGood: certificates,
          effective: certificates,
          state: 'trusted',
          since: undefined,
          why: undefined,
        });
        continue;
      }
      const error = scan.result.error;
      if (initial) throw new VouchError('INVALID_CONFIG', storeMessage(error), { reason: error.reason, cause: error });
      problems.push(storeMessage(error));
      // Never more than the last good load of this very store, and of that only what is still in a
      // file valid on its own.
      const previous = state.stores.get(key);
      const lastGood = previous?.lastGood ?? [];
      const effective = lastGood.filter((cert) => scan.usable.some((usable) => usable.equals(cert)));
      const trust: TrustStoreState = effective.length === 0 ? 'withdrawn' : effective.length < lastGood.length ? 'degraded' : 'trusted';
      stores.set(key, {
        ref,
        directory: scan.directory,
        lastGood,
        effective,
        state: trust,
        since: trust === 'trusted' ? undefined : previous?.state === trust ? previous.since : now,
        why: trust === 'trusted' ? undefined : error.message,
      });
    }

    return { served, stores };
  }

  // The cosign part, file by file: an unchanged file keeps what it served; a valid one is served as
  // loaded; at start any problem throws INVALID_CONFIG naming the field and the file. Later a file
  // removed or emptied withdraws its key (or the trusted root: keyless and log-backed signatures then
  // fail) at once, as for trust store certificates, and a present but invalid one (a typo, a
  // half-written file) keeps the last good value. Either is reported, and the environment is degraded.
  async #evaluateCosign(state: EnvironmentState, cosign: CosignConfig, initial: boolean, now: Date): Promise<CosignServed> {
    const environment = state.config;
    const previous = state.cosign;
    const load = async <T>(file: string, at: Array<string | number>, last: CosignFile<T> | undefined, parse: (text: string) => T) => {
      const digest = await fileDigest(file);
      if (last !== undefined && last.digest === digest) return last;
      if (last?.value !== undefined && last.goodDigest === digest) return { ...last, digest, problem: undefined };
      try {
        const value = parse(await readFile(file, 'utf8'));
        return { file, digest, value, goodDigest: digest, problem: undefined };
      } catch (error) {
        const detail = errorMessage(error);
        const message = `${this.#at(environment, ...at)}: ${detail.startsWith(file) ? detail : `${file}: ${detail}`}`;
        if (initial || last === undefined) throw new VouchError('INVALID_CONFIG', message, { reason: reasonOf(error), cause: error });
        const absent = await policyAbsence(file);
        if (absent !== undefined) {
          return {
            file,
            digest,
            value: undefined,
            goodDigest: undefined,
            problem: `${message}: the file was ${absent}, which withdraws what it held`,
          };
        }
        return { file, digest, value: last.value, goodDigest: last.goodDigest, problem: `${message}; the last good one stays` };
      }
    };
    const keys: CosignFile<CosignPublicKey>[] = [];
    for (const [i, file] of cosign.keys.entries()) {
      keys.push(await load(file, ['cosign', 'keys', i], previous?.keys[i], (pem) => loadCosignPublicKey(pem, file)));
    }
    const trustedRoot =
      cosign.trustedRoot === undefined
        ? undefined
        : await load(cosign.trustedRoot, ['cosign', 'trustedRoot'], previous?.trustedRoot, (text) => {
            // Served as parsed JSON (what CosignTrust holds), once checked to be a usable trusted root.
            const json = JSON.parse(text) as unknown;
            parseTrustedRoot(json);
            return json;
          });
    const served: CosignServed = { keys, trustedRoot };
    const problems = [...keys, ...(trustedRoot ? [trustedRoot] : [])].flatMap((f) => (f.problem === undefined ? [] : [f.problem]));
    const before = previous === undefined ? [] : [...previous.keys, ...(previous.trustedRoot ? [previous.trustedRoot] : [])];
    const hadProblems = before.some((f) => f.problem !== undefined);
    if (problems.length === 0) {
      if (hadProblems) this.#log.info({ environment: environment.name }, 'cosign trust files are valid again');
      state.cosignErrorSince = undefined;
    } else {
      const previousProblems = before.flatMap((f) => (f.problem === undefined ? [] : [f.problem]));
      if (previousProblems.join('; ') !== problems.join('; ')) {
        this.#log.error(
          { environment: environment.name, err: problems.join('; ') },
          'cosign trust file reload failed; removed files are withdrawn, broken ones keep the last good content',
        );
      }
      state.cosignErrorSince = hadProblems ? (state.cosignErrorSince ?? now) : now;
    }
    return served;
  }

  // The decision policy to serve: the one served while its file is unchanged, else the file loaded
  // anew. A failure throws INVALID_CONFIG at start; later it is recorded and the last good one stays.
  async #decisionPolicy(
    state: EnvironmentState,
    initial: boolean,
    now: Date,
  ): Promise<{ policy: DecisionPolicy; digest: string } | undefined> {
    const environment = state.config;
    const file = environment.policy;
    if (file === undefined) return undefined;
    const digest = await fileDigest(file);
    if (state.decision !== undefined && state.decision.digest === digest) {
      this.#decisionProblem(state, undefined, now);
      return state.decision;
    }
    let wasm;
    try {
      wasm = await loadPolicyFile(file, this.#policyOptions);
    } catch (error) {
      // loadPolicyFile's errors name the file (src/policy/load.ts).
      const message = `${this.#at(environment, 'policy')}: ${errorMessage(error)}`;
      if (initial || state.decision === undefined)
        throw new VouchError('INVALID_CONFIG', message, { reason: reasonOf(error), cause: error });
      this.#decisionProblem(state, message, now);
      return state.decision;
    }
    try {
      const policy = decisionPolicyOf(wasm, file);
      this.#decisionProblem(state, undefined, now);
      if (!initial)
        this.#log.info({ environment: environment.name, policy: file, entrypoint: policy.entrypoint }, 'decision policy reloaded');
      return { policy, digest };
    } catch (error) {
      await wasm.close().catch(() => undefined);
      const message = `${this.#at(environment, 'policy')}: ${errorMessage(error)}`;
      if (initial || state.decision === undefined)
        throw new VouchError('INVALID_CONFIG', message, { reason: reasonOf(error), cause: error });
      this.#decisionProblem(state, message, now);
      return state.decision;
    }
  }

  #decisionProblem(state: EnvironmentState, message: string | undefined, now: Date): void {
    const environment = state.config;
    if (message === undefined) {
      if (state.decisionError !== undefined) {
        this.#log.info({ environment: environment.name, policy: environment.policy }, 'decision policy file is valid again');
      }
      state.decisionError = undefined;
    } else if (state.decisionError?.message !== message) {
      state.decisionError = { message, since: now };
      this.#log.error(
        { environment: environment.name, policy: environment.policy, err: message },
        'decision policy reload failed; serving the last good policy',
      );
    }
  }

  // Closes a replaced decision policy once verifications that took it can have finished.
  #retire(policy: DecisionPolicy): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#retired.delete(policy);
      void policy.wasm.close().catch(() => undefined);
    }, RETIRED_POLICY_GRACE_MS);
    timer.unref();
    this.#retired.set(policy, timer);
  }

  #install(state: EnvironmentState, reload: boolean): void {
    const name = state.config.name;
    const entries = [...state.stores.entries()].map(([key, store]): [TrustStoreRef, TrustStoreEntry] => [
      store.ref,
      store.state === 'withdrawn'
        ? {
            error: new VouchError(
              'INVALID_CONFIG',
              `trust store ${key} of environment ${JSON.stringify(name)} (${store.directory}) is withdrawn: ${store.why ?? 'no certificate left'}`,
              { reason: 'WITHDRAWN' },
            ),
          }
        : { certificates: store.effective },
    ]);
    const cosign = state.cosign;
    const loaded: LoadedEnvironment = Object.freeze({
      name,
      policy: state.policy?.policy,
      trustStore: state.policy === undefined ? undefined : new TrustStoreSnapshot(entries),
      cosign: cosign === undefined ? undefined : cosignTrust(state.config.cosign!, cosign),
      generation: this.#nextGeneration(),
      loadedAt: new Date(),
      decisionPolicy: state.decision?.policy,
      fingerprint: trustFingerprint(state),
    });
    state.current = loaded;
    const fields = {
      environment: loaded.name,
      generation: loaded.generation,
      ...(loaded.policy !== undefined
        ? { trustPolicy: state.config.trustPolicy, trustStore: state.config.trustStore, statements: loaded.policy.statements.length }
        : {}),
      ...(loaded.cosign !== undefined
        ? { cosignKeys: loaded.cosign.keys.length, cosignTrustedRoot: loaded.cosign.trustedRoot !== undefined }
        : {}),
      ...(state.config.policy !== undefined ? { policy: state.config.policy } : {}),
    };
    if (reload) this.#log.info(fields, 'trust material reloaded');
    else this.#log.debug(fields, 'trust material loaded');
  }

  // Error lines when trust is withdrawn or reduced, info lines when it is back, each naming the
  // environment and the policy file or the store (type:name) and its directory.
  #logTransitions(
    environment: NotaryPart,
    name: string,
    previousPolicy: ServedPolicy | undefined,
    policy: ServedPolicy,
    previousStores: ReadonlyMap<string, StoreState>,
    stores: ReadonlyMap<string, StoreState>,
  ): void {
    if (policy.withdrawn !== undefined && previousPolicy?.withdrawn?.why !== policy.withdrawn.why) {
      this.#log.error(
        { environment: name, trustPolicy: environment.trustPolicy, why: policy.withdrawn.why },
        'trust withdrawn: the trust policy file was removed or emptied; every image of the environment answers NO_TRUST_POLICY',
      );
    } else if (policy.withdrawn === undefined && previousPolicy?.withdrawn !== undefined) {
      this.#log.info({ environment: name, trustPolicy: environment.trustPolicy }, 'trust restored: the trust policy file is valid again');
    }
    for (const [key, store] of stores) {
      const previous = previousStores.get(key);
      const fields = {
        environment: name,
        store: key,
        directory: store.directory,
        state: store.state,
        certificates: store.effective.length,
        withdrawnCertificates: store.lastGood.length - store.effective.length,
        why: store.why,
      };
      if (store.state !== 'trusted') {
        if (previous?.state === store.state && previous.effective.length === store.effective.length && previous.why === store.why) continue;
        this.#log.error(
          fields,
          store.state === 'withdrawn'
            ? 'trust withdrawn: no certificate of the trust store is trusted any more; statements naming it verify nothing'
            : 'trust reduced: certificates removed from the trust store or broken on disk are no longer trusted',
        );
      } else if (previous !== undefined && previous.state !== 'trusted') {
        this.#log.info(fields, 'trust restored: the trust store is valid again');
      }
    }
  }

  // A hash of everything the material is built from: the policy file's bytes and the name and bytes
  // of every file under x509/<type>/<name>/ of the trust store.
  async #stampOf(environment: EnvironmentConfig): Promise<Stamp> {
    const hash = createHash('sha256');
    const directories: string[] = [];
    if (environment.policy !== undefined) {
      hash.update(`decision\0${await fileDigest(environment.policy)}\0`);
      directories.push(path.dirname(environment.policy));
    }
    const cosign = environment.cosign;
    if (cosign !== undefined) {
      for (const file of [...cosign.keys, ...(cosign.trustedRoot === undefined ? [] : [cosign.trustedRoot])]) {
        hash.update(`cosign\0${file}\0${await fileDigest(file)}\0`);
        if (!directories.includes(path.dirname(file))) directories.push(path.dirname(file));
      }
    }
    const notary = notaryPart(environment);
    if (notary === undefined) return { hash: hash.digest('hex'), directories };

    directories.push(path.dirname(notary.trustPolicy));
    hash.update(`policy\0${await fileDigest(notary.trustPolicy)}\0`);
    const root = notary.trustStore;
    if (await isDirectory(root)) directories.push(root);
    const x509 = path.join(root, 'x509');
    if (await isDirectory(x509)) directories.push(x509);
    let files = 0;
    for (const type of TRUST_STORE_TYPES) {
      const typeDir = path.join(x509, type);
      const stores = await listDirectory(typeDir);
      if (stores === undefined) continue;
      directories.push(typeDir);
      for (const store of stores) {
        const storeDir = path.join(typeDir, store);
        const entries = await listDirectory(storeDir);
        if (entries === undefined) {
          hash.update(`store\0${type}/${store}\0${await fileDigest(storeDir)}\0`);
          continue;
        }
        directories.push(storeDir);
        hash.update(`store\0${type}/${store}\0`);
        const volume = await hasVolumeLayout(storeDir);
        for (const entry of entries) {
          if (volume && isVolumeBookkeeping(entry)) continue;
          if (++files > MAX_STORE_FILES) break;
          hash.update(`file\0${entry}\0${await fileDigest(path.join(storeDir, entry))}\0`);
        }
      }
    }
    return { hash: hash.digest('hex'), directories };
  }

  // ---- watching ---------------------------------------------------------------------------------

  #onEvent(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => void this.checkNow(), this.#debounceMs);
    this.#debounceTimer.unref();
  }

  // Watches exactly the directories that exist now (new store directories appear through their
  // parent's events); watchers that failed are re-created here on the next check. A directory
  // watched for the first time may have changed between the check that found it and now, so a new
  // watcher schedules one more check (which adds no watcher, so this settles).
  #syncWatchers(): void {
    if (!this.#fsWatch || this.#closed) return;
    const wanted = new Set<string>();
    for (const state of this.#states.values()) {
      for (const directory of state.directories) wanted.add(directory);
    }
    for (const [directory, watcher] of this.#watchers) {
      if (!wanted.has(directory)) {
        watcher.close();
        this.#watchers.delete(directory);
      }
    }
    let added = false;
    for (const directory of wanted) {
      if (this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, { persistent: false }, () => this.#onEvent());
        watcher.on('error', () => {
          watcher.close();
          if (this.#watchers.get(directory) === watcher) this.#watchers.delete(directory);
          this.#onEvent();
        });
        this.#watchers.set(directory, watcher);
        added = true;
      } catch (error) {
        // The periodic check still covers this directory.
        this.#log.debug({ directory, err: errorMessage(error) }, 'cannot watch directory');
      }
    }
    if (added) this.#onEvent();
  }
}

function reasonOf(error: unknown): VouchError['reason'] {
  return error instanceof VouchError ? error.reason : 'OTHER';
}

const storeKey = (ref: { type: string; name: string }): string => `${ref.type}:${ref.name}`;

/** Every trust store a policy references, read from disk now. */
async function scanStores(trustStore: string, policy: OciTrustPolicy): Promise<TrustStoreScan[]> {
  const scans: TrustStoreScan[] = [];
  for (const ref of referencedTrustStores(policy)) scans.push(await scanTrustStore(trustStore, ref.type, ref.name));
  return scans;
}

/** Same stores, each serving the same certificates in the same state for the same reason. */
function sameStores(a: ReadonlyMap<string, StoreState>, b: ReadonlyMap<string, StoreState>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, x] of a) {
    const y = b.get(key);
    if (y === undefined || x.state !== y.state || x.why !== y.why || x.effective.length !== y.effective.length) return false;
    if (!x.effective.every((cert, i) => cert.equals(y.effective[i]!))) return false;
  }
  return true;
}

/**
 * What an environment serves, by content: the trust policy file's digest (or its withdrawal), each
 * referenced store's state and the SHA-256 of every certificate trusted in it, the digests of the
 * cosign key and trusted root files served, the cosign identities and tlog rule, and the decision
 * policy file's digest. Paths and load times are left out, so replicas mounting the same material
 * agree; anything that can change a verdict is in (docs/reliability.md "Several replicas").
 */
function trustFingerprint(state: EnvironmentState): string {
  const hash = createHash('sha256');
  const policy = state.policy;
  hash.update(`policy\0${policy === undefined ? 'none' : policy.withdrawn === undefined ? policy.digest : 'withdrawn'}\0`);
  for (const key of [...state.stores.keys()].sort()) {
    const store = state.stores.get(key)!;
    hash.update(`store\0${key}\0${store.state}\0`);
    if (store.state !== 'withdrawn') for (const cert of store.effective) hash.update(`cert\0${cert.sha256Fingerprint}\0`);
  }
  const cosign = state.cosign;
  if (cosign !== undefined) {
    for (const key of cosign.keys) hash.update(`cosign-key\0${key.value === undefined ? 'withdrawn' : key.goodDigest}\0`);
    const root = cosign.trustedRoot;
    hash.update(`cosign-root\0${root === undefined ? 'none' : root.value === undefined ? 'withdrawn' : root.goodDigest}\0`);
    const config = state.config.cosign!;
    hash.update(`cosign-rules\0${JSON.stringify({ identities: config.identities, requireTlog: config.requireTlog })}\0`);
  }
  hash.update(`decision\0${state.decision?.digest ?? 'none'}\0`);
  return hash.digest('hex');
}

/** Same cosign material served (unchanged files keep their value objects). */
function sameCosign(a: CosignServed | undefined, b: CosignServed | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.keys.length === b.keys.length &&
    a.keys.every((key, i) => key.value === b.keys[i]!.value) &&
    a.trustedRoot?.value === b.trustedRoot?.value
  );
}

/** What the verifier gets: the keys and trusted root served, the identities and log rule as configured. */
function cosignTrust(config: CosignConfig, served: CosignServed): CosignTrust {
  const root = served.trustedRoot?.value;
  return Object.freeze({
    keys: served.keys.flatMap((k) => (k.value === undefined ? [] : [k.value])),
    ...(root !== undefined ? { trustedRoot: root } : {}),
    identities: config.identities,
    requireTlog: config.requireTlog,
  });
}

type PolicyRead = { policy: OciTrustPolicy; digest: string } | { error: unknown; absent: 'removed' | 'emptied' | undefined };

// Reads and validates the trust policy, with the digest of the very bytes parsed (a file that
// changes while it is read is read again), or says why not and whether the file is gone or empty.
async function readPolicy(file: string): Promise<PolicyRead> {
  let error: unknown;
  for (let attempt = 0; attempt < POLICY_READ_ATTEMPTS; attempt++) {
    const before = await fileDigest(file);
    try {
      const policy = await readOciTrustPolicyFile(file);
      if ((await fileDigest(file)) === before) return { policy, digest: before };
      error = new VouchError('INVALID_CONFIG', `${file}: the trust policy file kept changing while it was read`);
    } catch (caught) {
      return { error: caught, absent: await policyAbsence(file) };
    }
  }
  return { error, absent: undefined };
}

// 'removed' when the policy file does not exist (also a Kubernetes volume key removed: its link is
// gone), 'emptied' when it holds nothing but whitespace; undefined when it is there with content.
async function policyAbsence(file: string): Promise<'removed' | 'emptied' | undefined> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'removed' : undefined;
  }
  const target = info.isSymbolicLink() ? await volumeFileTarget(path.dirname(file), path.basename(file)) : file;
  if (target === undefined) return undefined;
  try {
    const targetInfo = await lstat(target);
    if (!targetInfo.isFile() || targetInfo.size > MAX_BLANK_POLICY_BYTES) return undefined;
    // trim() also drops a byte order mark.
    return (await readFile(target, 'utf8')).trim() === '' ? 'emptied' : undefined;
  } catch {
    return undefined;
  }
}

// sha256 of a regular file's bytes, or a marker for what is there instead (missing, a directory, a
// symlink, unreadable); FIFOs and devices are never opened.
async function fileDigest(file: string): Promise<string> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    return `error:${(error as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
  if (info.isSymbolicLink()) {
    // A Kubernetes ConfigMap/Secret volume's file: its content, read through the link (an update
    // swaps the volume's `..data` link, so the content is what changes).
    const target = await volumeFileTarget(path.dirname(file), path.basename(file));
    return target === undefined ? 'symlink' : `volume:${await fileDigest(target)}`;
  }
  if (info.isDirectory()) return 'directory';
  if (!info.isFile()) return 'special';
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch (error) {
    return `error:${(error as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    const info = await lstat(dir);
    return info.isDirectory();
  } catch {
    return false;
  }
}

// Sorted entry names of a real directory (not a symlink to one), or undefined.
async function listDirectory(dir: string): Promise<string[] | undefined> {
  if (!(await isDirectory(dir))) return undefined;
  try {
    return (await readdir(dir)).sort();
  } catch {
    return undefined;
  }
}

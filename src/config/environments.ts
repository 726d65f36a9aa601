// The trust material of every configured environment: its Notary Project trust policy and trust
// store, loaded and validated at start (every trust store the policy references is loaded, so a
// broken configuration fails before the first admission request), then reloaded without a restart
// when the files change. A reload that fails validation keeps the last good material and reports
// the error in status() (for /readyz) and the log.
//
// Changes are noticed two ways: fs.watch on the directories involved (the policy file's directory,
// the trust store root and every x509/<type>/<name> directory under it; renames and atomic replaces
// show up as directory events), and a periodic content check, because fs.watch is unreliable on
// network filesystems and some container runtimes. Both only trigger the same check: hash the
// policy file and every trust store file; when the hash differs from the loaded material's, rebuild.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { VouchError, errorMessage } from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  FileTrustStore,
  hasVolumeLayout,
  isVolumeBookkeeping,
  readOciTrustPolicyFile,
  referencedTrustStores,
  TRUST_STORE_TYPES,
  volumeFileTarget,
  type OciTrustPolicy,
} from '../trust/index.js';
import { formatConfigPath, type EnvironmentConfig, type VouchConfig } from './schema.js';

/**
 * One environment's trust material, immutable: a request takes it once and uses a consistent
 * policy and store throughout. A reload replaces the object, with a new `generation`.
 */
export interface LoadedEnvironment {
  readonly name: string;
  readonly policy: OciTrustPolicy;
  /**
   * The trust store as loaded. It never looks at the filesystem again (a reload builds a new one),
   * so a store broken on disk cannot affect the material being served.
   */
  readonly trustStore: FileTrustStore;
  /**
   * Changes whenever the trust policy file or any trust store file of this environment changes;
   * never reused, across environments and EnvironmentSets, so caches can key results by it.
   */
  readonly generation: number;
  readonly loadedAt: Date;
}

export interface EnvironmentStatus {
  name: string;
  /** Material is being served (always true after a successful EnvironmentSet.load). */
  loaded: boolean;
  generation: number | undefined;
  loadedAt: Date | undefined;
  /** Why the files on disk could not be loaded; cleared by the next successful reload. */
  error: string | undefined;
  errorSince: Date | undefined;
}

export interface EnvironmentSetStatus {
  /** Every environment has material to serve. */
  ready: boolean;
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
}

const DEFAULT_POLL_INTERVAL_MS = 3000;
const DEFAULT_DEBOUNCE_MS = 100;
/** Most files hashed in one trust store (a guard against pointing trustStore at a huge tree). */
const MAX_STORE_FILES = 10_000;

let lastGeneration = 0;
const nextGeneration = (): number => ++lastGeneration;

interface EnvironmentState {
  readonly config: EnvironmentConfig;
  current: LoadedEnvironment | undefined;
  /** Content hash of the files the current material was built from. */
  stamp: string | undefined;
  error: { message: string; since: Date } | undefined;
  /** Directories worth watching, as of the last check. */
  directories: string[];
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
    for (const [name, environment] of config.environments) {
      this.#states.set(name, { config: environment, current: undefined, stamp: undefined, error: undefined, directories: [] });
    }
  }

  /**
   * Loads every environment's trust policy and trust store and validates every referenced store.
   * Throws INVALID_CONFIG naming the configuration file, the field and the broken file on the first
   * problem. Then, unless `watch: false`, starts watching for changes.
   */
  static async load(config: VouchConfig, options: EnvironmentSetOptions = {}): Promise<EnvironmentSet> {
    const set = new EnvironmentSet(config, options);
    for (const state of set.#states.values()) {
      const stamp = await set.#stampOf(state.config);
      state.directories = stamp.directories;
      const material = await set.#build(state.config);
      set.#install(state, material, stamp.hash, false);
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
    const environments = [...this.#states.values()].map((state): EnvironmentStatus => ({
      name: state.config.name,
      loaded: state.current !== undefined,
      generation: state.current?.generation,
      loadedAt: state.current?.loadedAt,
      error: state.error?.message,
      errorSince: state.error?.since,
    }));
    return { ready: environments.every((e) => e.loaded), environments };
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
  }

  // ---- checking and loading ---------------------------------------------------------------------

  async #check(state: EnvironmentState): Promise<void> {
    const stamp = await this.#stampOf(state.config);
    state.directories = stamp.directories;
    if (stamp.hash === state.stamp) {
      // Unchanged since the material was loaded: a stale error (the files were broken and have been
      // restored) is over.
      if (state.error !== undefined) this.#recovered(state);
      return;
    }
    let material: Material;
    try {
      material = await this.#build(state.config);
    } catch (error) {
      const message = errorMessage(error);
      if (state.error?.message !== message) {
        state.error = { message, since: new Date() };
        this.#log.error(
          { environment: state.config.name, err: message, generation: state.current?.generation },
          'trust material reload failed; keeping the last good material',
        );
      }
      return;
    }
    this.#install(state, material, stamp.hash, true);
  }

  #install(state: EnvironmentState, material: Material, stamp: string, reload: boolean): void {
    const loaded: LoadedEnvironment = Object.freeze({
      name: state.config.name,
      policy: material.policy,
      trustStore: material.trustStore,
      generation: nextGeneration(),
      loadedAt: new Date(),
    });
    state.current = loaded;
    state.stamp = stamp;
    state.error = undefined;
    const fields = {
      environment: loaded.name,
      generation: loaded.generation,
      trustPolicy: state.config.trustPolicy,
      trustStore: state.config.trustStore,
      statements: loaded.policy.statements.length,
    };
    if (reload) this.#log.info(fields, 'trust material reloaded');
    else this.#log.debug(fields, 'trust material loaded');
  }

  #recovered(state: EnvironmentState): void {
    state.error = undefined;
    this.#log.info({ environment: state.config.name, generation: state.current?.generation }, 'trust material files are valid again');
  }

  // Reads and validates the policy, then every store it references, into a store that will not look
  // at the filesystem again. Errors name the configuration field and the broken file.
  async #build(environment: EnvironmentConfig): Promise<Material> {
    const at = (field: 'trustPolicy' | 'trustStore'): string =>
      `${this.#file}: ${formatConfigPath(['environments', environment.name, field])}`;
    let policy: OciTrustPolicy;
    try {
      policy = await readOciTrustPolicyFile(environment.trustPolicy);
    } catch (error) {
      // Trust policy messages already start with the policy file's path.
      throw new VouchError('INVALID_CONFIG', `${at('trustPolicy')}: ${errorMessage(error)}`, { reason: reasonOf(error), cause: error });
    }
    const trustStore = new FileTrustStore(environment.trustStore, { recheckIntervalMs: Number.POSITIVE_INFINITY });
    try {
      await trustStore.validateReferences(referencedTrustStores(policy), { recheck: true });
    } catch (error) {
      throw new VouchError(
        'INVALID_CONFIG',
        `${at('trustStore')}: ${environment.trustStore}: ${errorMessage(error)} (referenced by ${environment.trustPolicy})`,
        { reason: reasonOf(error), cause: error },
      );
    }
    return { policy, trustStore };
  }

  // A hash of everything the material is built from: the policy file's bytes and the name and bytes
  // of every file under x509/<type>/<name>/ of the trust store. Taken before building, so a change
  // racing with a build is seen as a change by the next check.
  async #stampOf(environment: EnvironmentConfig): Promise<Stamp> {
    const hash = createHash('sha256');
    const directories: string[] = [path.dirname(environment.trustPolicy)];
    hash.update(`policy\0${await fileDigest(environment.trustPolicy)}\0`);

    const root = environment.trustStore;
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

interface Material {
  policy: OciTrustPolicy;
  trustStore: FileTrustStore;
}

function reasonOf(error: unknown): VouchError['reason'] {
  return error instanceof VouchError ? error.reason : 'OTHER';
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

// Runs Notary Project plugins (https://github.com/notaryproject/specifications/blob/main/specs/plugin-extensibility.md):
// executables `notation-<name>` in `<directory>/<name>/` that take a command as their one argument, a JSON
// request on stdin, and answer JSON on stdout (exit 0) or an error JSON on stderr (non-zero exit).
//
// A plugin is a separate, fallible process that vouch did not write. So (docs/security.md "Plugins"):
// - it is found only in the configured directory, never through PATH; the executable and the
//   directories above it must not be writable by anyone but their owner, who must be root or vouch's
//   own user, and a symbolic link may not lead out of the plugin's folder;
// - it gets a scrubbed environment (only what the operator passes), its own folder as working
//   directory, and no terminal;
// - every command has a time limit (which includes waiting for a free slot), a bounded number of
//   processes at once, and bounded output; past any of them the process group is killed;
// - its answer is parsed against the contract (plugin-protocol.ts), and nothing else is accepted.
// Every failure is PLUGIN_ERROR with a reason naming what went wrong: never a verdict.

import { spawn } from 'node:child_process';
import { realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import semver from 'semver';
import { BoundedCache, KeyedSemaphore, VouchError, errorMessage, raceAbort, throwIfAborted, type ErrorReason } from '../core/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  PLUGIN_BINARY_PREFIX,
  PLUGIN_COMMAND,
  PLUGIN_CONTRACT_VERSION,
  PLUGIN_NAME,
  RESPONSE_SCHEMAS,
  pluginErrorSchema,
  type PluginCommand,
  type PluginConfig,
  type PluginMetadata,
  type PluginRequests,
  type PluginResponses,
} from './plugin-protocol.js';

export const DEFAULT_PLUGIN_TIMEOUT_MS = 1000;
export const DEFAULT_PLUGIN_MAX_OUTPUT_BYTES = 1024 * 1024;
export const DEFAULT_PLUGIN_MAX_CONCURRENT = 4;
export const DEFAULT_PLUGIN_METADATA_TTL_MS = 60_000;
/** Metadata answers kept at most (one per plugin and configuration). */
const METADATA_CACHE_ENTRIES = 256;
/** How much of a crashing plugin's stderr a message quotes. */
const STDERR_QUOTE_CHARS = 300;
/** The one key of the process slots (KeyedSemaphore): the limit is over all plugins. */
const SLOT_KEY = 'plugins';
/** The PATH a plugin gets: system directories only, never the caller's. */
export const PLUGIN_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface PluginHostOptions {
  /** Absolute; notation's layout `<directory>/<name>/notation-<name>`. */
  directory: string;
  /** One command, including the wait for a free slot (default 1000 ms). */
  timeoutMs?: number;
  /** Bytes of stdout, and of stderr, one command may write (default 1 MiB). */
  maxOutputBytes?: number;
  /** Plugin processes running at once over all plugins (default 4). */
  maxConcurrent?: number;
  /** The entire environment of a plugin process (default: pluginEnvironment([])). */
  environment?: Readonly<Record<string, string>>;
  /** How long get-plugin-metadata answers are reused (default 60 s; 0: never). */
  metadataTtlMs?: number;
  logger?: Logger;
  /** Clock in ms (metadata expiry). */
  now?: () => number;
  /** Told of every command (metrics); an exception thrown by it is ignored. */
  observer?: PluginObserver;
}

export interface PluginObserver {
  /**
   * A command ended. `plugin` is the plugin's name once its executable was found, else "" (names come
   * from signatures, which anyone can write: only installed plugins may become metric labels).
   * `outcome` is "ok", or the PLUGIN_ERROR reason (DEADLINE_EXCEEDED's ABORTED when the caller gave up).
   */
  commandFinished?(event: { plugin: string; command: PluginCommand; outcome: 'ok' | ErrorReason; durationMs: number }): void;
}

export interface PluginRunOptions {
  signal?: AbortSignal;
}

/** A scrubbed environment: a fixed PATH plus the named variables copied from `from` where set. */
export function pluginEnvironment(pass: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const environment: Record<string, string> = { PATH: PLUGIN_PATH };
  for (const name of pass) {
    const value = from[name];
    if (value !== undefined) environment[name] = value;
  }
  return environment;
}

/** SemVer 2.0.0 without a leading "v" (the regular expression of https://semver.org, as notation-go internal/semver). */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export function isSemVer(version: string): boolean {
  return version.length <= 256 && SEMVER.test(version);
}

/**
 * True when SemVer `version` >= `minimum`, as notation-go's isRequiredVerificationPluginVer (both strict
 * SemVer without a leading "v"; pre-releases order below their release). An invalid `version` is never enough.
 */
export function pluginVersionAtLeast(version: string, minimum: string): boolean {
  return isSemVer(version) && isSemVer(minimum) && semver.gte(version, minimum);
}

function pluginError(reason: ErrorReason, message: string, cause?: unknown): VouchError {
  return new VouchError('PLUGIN_ERROR', message, cause === undefined ? { reason } : { reason, cause });
}

/** Printable, single-line, bounded text from a plugin (its messages are untrusted). */
export function sanitizePluginText(text: string, max = STDERR_QUOTE_CHARS): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

interface Located {
  path: string;
  folder: string;
  /** Changes when the executable is replaced: part of the metadata cache key. */
  identity: string;
}

export class PluginHost {
  readonly directory: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly maxConcurrent: number;
  readonly #environment: Readonly<Record<string, string>>;
  readonly #metadataTtlMs: number;
  readonly #metadata: BoundedCache<PluginMetadata>;
  readonly #log: Logger;
  readonly #observer: PluginObserver;
  /** One key: maxConcurrent plugin processes over all plugins. */
  readonly #slots: KeyedSemaphore;

  constructor(options: PluginHostOptions) {
    this.directory = options.directory;
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS);
    this.maxOutputBytes = positive('maxOutputBytes', options.maxOutputBytes ?? DEFAULT_PLUGIN_MAX_OUTPUT_BYTES);
    this.maxConcurrent = positive('maxConcurrent', options.maxConcurrent ?? DEFAULT_PLUGIN_MAX_CONCURRENT);
    this.#slots = new KeyedSemaphore(this.maxConcurrent);
    this.#environment = Object.freeze({ ...(options.environment ?? pluginEnvironment([])) });
    this.#metadataTtlMs = Math.max(0, options.metadataTtlMs ?? DEFAULT_PLUGIN_METADATA_TTL_MS);
    this.#metadata = new BoundedCache<PluginMetadata>({
      maxEntries: this.#metadataTtlMs > 0 ? METADATA_CACHE_ENTRIES : 0,
      ...(options.now ? { now: options.now } : {}),
    });
    this.#log = options.logger ?? moduleLogger('notation.plugins');
    this.#observer = options.observer ?? {};
  }

  /** Plugin processes running now, and commands waiting for a slot. */
  get load(): { running: number; waiting: number } {
    const { active, waiting } = this.#slots.usage(SLOT_KEY);
    return { running: active, waiting };
  }

  /**
   * The plugin's metadata (get-plugin-metadata), checked as notation-go does (plugin.go validate): it
   * names itself `name` and supports contract version 1.0. Cached per plugin, configuration and
   * executable (replacing the file invalidates it) for metadataTtlMs.
   */
  async metadata(name: string, config: PluginConfig | undefined, options: PluginRunOptions = {}): Promise<PluginMetadata> {
    const located = await this.#find(name, PLUGIN_COMMAND.getMetadata);
    const key = JSON.stringify([name, located.identity, sortedEntries(config)]);
    // One get-plugin-metadata per plugin, configuration and executable at a time: a burst of signatures
    // on a cold cache shares it instead of starting a process each. It runs under the host's own time
    // limit, not one caller's signal, so a caller giving up does not fail the others.
    const shared = this.#metadata.getOrCompute(key, () => this.#fetchMetadata(name, located, config), {
      ttlMs: this.#metadataTtlMs,
    });
    return raceAbort(shared, options.signal, `plugin "${name}" get-plugin-metadata`);
  }

  async #fetchMetadata(name: string, located: Located, config: PluginConfig | undefined): Promise<PluginMetadata> {
    const request = config === undefined ? {} : { pluginConfig: config };
    const metadata = await this.#execute(name, located, PLUGIN_COMMAND.getMetadata, request, {});
    if (metadata.name !== name) {
      throw pluginError(
        'BAD_OUTPUT',
        `plugin "${name}": get-plugin-metadata names the plugin "${sanitizePluginText(metadata.name)}"; its executable must be ${PLUGIN_BINARY_PREFIX}${metadata.name}`,
      );
    }
    if (!metadata.supportedContractVersions.includes(PLUGIN_CONTRACT_VERSION)) {
      throw pluginError(
        'PLUGIN_VERSION',
        `plugin "${name}" does not support plugin contract version ${PLUGIN_CONTRACT_VERSION} (it supports ${metadata.supportedContractVersions.map((v) => sanitizePluginText(v, 20)).join(', ')})`,
      );
    }
    return Object.freeze({ ...metadata, capabilities: Object.freeze([...metadata.capabilities]) }) as PluginMetadata;
  }

  /** Runs one command and returns its answer, validated against the contract. */
  async run<C extends PluginCommand>(
    name: string,
    command: C,
    request: PluginRequests[C],
    options: PluginRunOptions = {},
  ): Promise<PluginResponses[C]> {
    const located = await this.#find(name, command);
    return this.#execute(name, located, command, request, options);
  }

  /** #locate, telling the observer of a plugin that cannot be run. */
  async #find(name: string, command: PluginCommand): Promise<Located> {
    try {
      return await this.#locate(name);
    } catch (error) {
      this.#observe('', command, error, 0);
      throw error;
    }
  }

  #observe(plugin: string, command: PluginCommand, error: unknown, durationMs: number): void {
    const outcome = error === undefined ? 'ok' : error instanceof VouchError ? error.reason : 'OTHER';
    try {
      this.#observer.commandFinished?.({ plugin, command, outcome, durationMs });
    } catch {
      // metrics never change an answer
    }
  }

  /**
   * `<directory>/<name>/notation-<name>`, after the checks of the header comment. Looked up on every
   * call (a stat or three): an operator can remove or replace a plugin at any time.
   */
  async #locate(name: string): Promise<Located> {
    if (!PLUGIN_NAME.test(name) || name.includes('..')) {
      throw pluginError('PLUGIN_NOT_FOUND', `"${sanitizePluginText(name, 80)}" is not a valid plugin name`);
    }
    // Both paths resolved at once, then every stat at once: these run before each command, and one
    // round trip to the file system after another was most of a cached command's cost (bench/plugin.ts).
    const file = join(this.directory, name, `${PLUGIN_BINARY_PREFIX}${name}`);
    const [rootOutcome, fileOutcome] = await Promise.allSettled([realpath(this.directory), realpath(file)]);
    if (rootOutcome.status === 'rejected') {
      const error: unknown = rootOutcome.reason;
      throw pluginError('PLUGIN_NOT_FOUND', `plugin directory ${this.directory} cannot be read: ${errorMessage(error)}`, error);
    }
    if (fileOutcome.status === 'rejected') {
      const error: unknown = fileOutcome.reason;
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw pluginError(
        'PLUGIN_NOT_FOUND',
        missing
          ? `plugin "${name}" is not installed: ${file} does not exist`
          : `plugin "${name}": ${file} cannot be read: ${errorMessage(error)}`,
        error,
      );
    }
    const root = rootOutcome.value;
    const real = fileOutcome.value;
    const folder = join(root, name);
    if (!real.startsWith(folder + sep)) {
      throw pluginError('PLUGIN_UNSAFE', `plugin "${name}": ${file} is a symbolic link leading out of ${folder} (to ${real})`);
    }
    // The file and every directory from it up to the plugins directory: a writable one lets someone
    // other than the owner swap the executable.
    const paths: string[] = [];
    for (let path = real; path.startsWith(root + sep); path = dirname(path)) paths.push(path);
    paths.push(root);
    const entries = await Promise.all(paths.map((path) => stat(path)));
    const info = entries[0]!;
    if (!info.isFile()) throw pluginError('PLUGIN_UNSAFE', `plugin "${name}": ${file} is not a regular file`);
    if ((info.mode & 0o100) === 0) throw pluginError('PLUGIN_UNSAFE', `plugin "${name}": ${file} is not executable by its owner`);
    for (const [i, entry] of entries.entries()) unsafeOwnership(name, paths[i]!, entry.uid, entry.mode);
    return { path: real, folder, identity: `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}` };
  }

  async #execute<C extends PluginCommand>(
    name: string,
    located: Located,
    command: C,
    request: PluginRequests[C],
    options: PluginRunOptions,
  ): Promise<PluginResponses[C]> {
    const signal = options.signal;
    const what = `plugin "${name}" ${command}`;
    throwIfAborted(signal, what);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    timer.unref();
    const onAbort = (): void => deadline.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const started = Date.now();
    let failure: unknown;
    try {
      let release: () => void;
      try {
        release = await this.#slots.acquire(SLOT_KEY, deadline.signal);
      } catch {
        throwIfAborted(signal, what);
        throw pluginError(
          'TIMEOUT',
          `plugin "${name}" ${command}: no plugin slot became free within ${this.timeoutMs} ms (${this.maxConcurrent} plugin processes at once)`,
        );
      }
      try {
        // The deadline may have passed between the grant and here: #spawn then starts nothing.
        const output = await this.#spawn(name, located, command, JSON.stringify(request), deadline.signal);
        if (output.kind === 'aborted') {
          throwIfAborted(signal, what);
          throw pluginError('TIMEOUT', `plugin "${name}" ${command} did not answer within ${this.timeoutMs} ms; it was killed`);
        }
        return this.#answer(name, command, output);
      } finally {
        release();
      }
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const durationMs = Date.now() - started;
      this.#observe(name, command, failure, durationMs);
      this.#log.debug({ plugin: name, command, ms: durationMs, failed: failure !== undefined }, 'plugin command finished');
    }
  }

  #answer<C extends PluginCommand>(name: string, command: C, output: Exclude<ProcessOutput, { kind: 'aborted' }>): PluginResponses[C] {
    if (output.kind === 'overflow') {
      throw pluginError(
        'BAD_OUTPUT',
        `plugin "${name}" ${command} wrote more than ${this.maxOutputBytes} bytes to ${output.stream}; it was killed`,
      );
    }
    if (output.kind === 'spawn-failed') {
      throw pluginError('PLUGIN_CRASHED', `plugin "${name}" ${command} could not be started: ${output.message}`);
    }
    if (output.code !== 0) {
      const answer = parseJson(output.stderr);
      const parsed = answer === undefined ? undefined : pluginErrorSchema.safeParse(answer);
      if (parsed?.success === true) {
        const message = parsed.data.errorMessage === undefined ? '' : `: ${sanitizePluginText(parsed.data.errorMessage)}`;
        throw pluginError(
          'PLUGIN_REFUSED',
          `plugin "${name}" ${command} failed with ${sanitizePluginText(parsed.data.errorCode, 64)}${message}`,
        );
      }
      const how = output.signal !== null ? `was killed by ${output.signal}` : `exited with status ${output.code}`;
      const said = sanitizePluginText(output.stderr.toString('utf8'));
      throw pluginError('PLUGIN_CRASHED', `plugin "${name}" ${command} ${how} without an answer${said ? ` (stderr: ${said})` : ''}`);
    }
    const json = parseJson(output.stdout);
    if (json === undefined) {
      throw pluginError('BAD_OUTPUT', `plugin "${name}" ${command} answered something that is not JSON`);
    }
    const schema = RESPONSE_SCHEMAS[command];
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
      throw pluginError(
        'BAD_OUTPUT',
        `plugin "${name}" ${command} answered JSON that does not follow the plugin contract${where}: ${sanitizePluginText(issue?.message ?? 'invalid')}`,
      );
    }
    return parsed.data as PluginResponses[C];
  }

  #spawn(name: string, located: Located, command: string, input: string, signal: AbortSignal): Promise<ProcessOutput> {
    // A listener added to an already aborted signal never fires: check first.
    if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (output: ProcessOutput): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(output);
      };
      const child = spawn(located.path, [command], {
        cwd: located.folder,
        env: this.#environment,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, so that a timeout kills whatever the plugin started too.
        detached: true,
        windowsHide: true,
      });
      const kill = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const onAbort = (): void => {
        kill();
        finish({ kind: 'aborted' });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const stdout = new BoundedBuffer(this.maxOutputBytes);
      const stderr = new BoundedBuffer(this.maxOutputBytes);
      const collect = (buffer: BoundedBuffer, stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
        if (!buffer.push(chunk)) {
          kill();
          finish({ kind: 'overflow', stream });
        }
      };
      child.stdout.on('data', collect(stdout, 'stdout'));
      child.stderr.on('data', collect(stderr, 'stderr'));
      child.on('error', (error) => {
        kill();
        finish({ kind: 'spawn-failed', message: errorMessage(error) });
      });
      child.on('close', (code, exitSignal) => {
        // Whatever the plugin started and left behind goes with it, also after a clean exit.
        kill();
        finish({ kind: 'exited', code: code ?? -1, signal: exitSignal, stdout: stdout.bytes(), stderr: stderr.bytes() });
      });
      // A plugin that exits without reading its request must not crash vouch with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
      this.#log.debug({ plugin: name, command, pid: child.pid }, 'plugin command started');
    });
  }
}

type ProcessOutput =
  | { kind: 'exited'; code: number; signal: NodeJS.Signals | null; stdout: Buffer; stderr: Buffer }
  | { kind: 'aborted' }
  | { kind: 'overflow'; stream: 'stdout' | 'stderr' }
  | { kind: 'spawn-failed'; message: string };

class BoundedBuffer {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  constructor(readonly max: number) {}
  /** False when the chunk would pass the limit (nothing more is kept). */
  push(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > this.max) return false;
    this.#chunks.push(chunk);
    return true;
  }
  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

function unsafeOwnership(name: string, path: string, uid: number, mode: number): void {
  const self = process.getuid?.();
  if (self !== undefined && uid !== 0 && uid !== self) {
    throw pluginError('PLUGIN_UNSAFE', `plugin "${name}": ${path} is owned by user ${uid}, neither root nor vouch's user (${self})`);
  }
  if ((mode & 0o022) !== 0) {
    throw pluginError(
      'PLUGIN_UNSAFE',
      `plugin "${name}": ${path} is writable by its group or by others (mode ${(mode & 0o777).toString(8)})`,
    );
  }
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function sortedEntries(config: PluginConfig | undefined): Array<[string, string]> {
  return config === undefined ? [] : Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new VouchError('INVALID_CONFIG', `plugins.${name} must be a positive integer, got ${String(value)}`, { reason: 'BAD_CONTENT' });
  }
  return value;
}

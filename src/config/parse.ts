// Reading a configuration file: YAML 1.2 or strict JSON text → the document → vouchConfigSchema
// (schema.ts) → relative paths resolved against the file's directory and `passwordFromEnv` read.
// Every problem is an issue with the key path and the line:col of its node (JSON files are parsed
// by the YAML parser too, so both have node ranges); all of them are reported, in file order, as
// one VouchError INVALID_CONFIG (a ConfigError) whose message has a line per issue:
// `<file>:<line>:<col>: <path>: <what is wrong>`.

import * as path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import { lineColumn, VouchError } from '../core/index.js';
import { canonicalRegistryHost } from './hosts.js';
import { findJsonSyntaxError } from './json-syntax.js';
import { vouchConfigSchema, type PluginsConfig, type SharedCacheConfig, type VouchConfig } from './schema.js';

export interface ParseConfigOptions {
  /** Where `passwordFromEnv` and plugin `fromEnv` variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

type Segment = string | number;

/** What kind of problem an issue is; stable, for tests and tools. */
export type ConfigIssueCode = 'syntax' | 'unknown_key' | 'missing_key' | 'no_value' | 'wrong_type' | 'out_of_range' | 'invalid_value';

/** One problem of a configuration file. */
export interface ConfigIssue {
  code: ConfigIssueCode;
  /** The key path (see formatConfigPath); [] for the document. */
  path: readonly Segment[];
  message: string;
  /** 1-based position of the key or value at fault (or of the nearest enclosing node); absent when unknown. */
  line: number | undefined;
  column: number | undefined;
}

/** An invalid configuration: INVALID_CONFIG, reason BAD_CONTENT, with every issue found. */
export class ConfigError extends VouchError {
  readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[], cause?: unknown) {
    super('INVALID_CONFIG', formatIssues(file, issues), { reason: 'BAD_CONTENT', cause });
    this.issues = issues;
  }
}

/** Messages list at most this many issues (the error's `issues` has all). */
const MAX_LISTED_ISSUES = 20;

/** Keys that are known to be coming but not accepted yet, with the reason given to the user. */
const NOT_YET: Readonly<Record<string, string>> = {};

/**
 * Parses and validates configuration text. `file` names the source in messages and anchors relative
 * paths. `.json` files must be strict JSON; anything else is YAML 1.2 (of which JSON is a subset).
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions = {}): VouchConfig {
  const document = readDocument(text, file);
  const where = positionFinder(document.doc, document.lines);
  const issue = (code: ConfigIssueCode, at: readonly Segment[], message: string, on: 'key' | 'value' = 'value'): ConfigIssue => ({
    code,
    path: at,
    message,
    ...where(at, on),
  });

  if (document.doc.contents === null) {
    const empty = {
      code: 'missing_key',
      path: [],
      message: 'the configuration is empty: environments is required',
      line: 1,
      column: 1,
    } as const;
    throw new ConfigError(file, [empty]);
  }
  let input: unknown;
  try {
    input = document.doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new VouchError('INVALID_CONFIG', `${file}: ${(error as Error).message}`, { reason: 'BAD_CONTENT', cause: error });
  }

  const result = vouchConfigSchema.safeParse(input, { reportInput: true });
  const protoKeys = pluginConfigProtoKeys(input).map((at) => issue('invalid_value', at, '"__proto__" cannot be a key here', 'key'));
  if (!result.success) {
    const issues = result.error.issues.flatMap((zodIssue) => fromZodIssue(zodIssue, issue));
    throw new ConfigError(file, sortIssues([...issues, ...protoKeys]), result.error);
  }
  if (protoKeys.length > 0) throw new ConfigError(file, protoKeys);

  // What depends on where the file is and on the process: absolute paths, passwords from variables.
  const dir = path.dirname(path.resolve(file));
  const resolve = (p: string): string => path.resolve(dir, p);
  const resolveOptional = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(p));
  const env = options.env ?? process.env;
  const issues: ConfigIssue[] = [];
  const parsed = result.data;
  const registries = new Map<string, VouchConfig['registries'] extends ReadonlyMap<string, infer R> ? R : never>();
  for (const [host, registry] of parsed.registries) {
    let password = registry.password;
    if (registry.passwordFromEnv !== undefined) {
      password = env[registry.passwordFromEnv];
      if (password === undefined || password === '') {
        const key = registryKeyFor(input, host);
        issues.push(
          issue(
            'invalid_value',
            ['registries', key, 'passwordFromEnv'],
            `environment variable ${registry.passwordFromEnv} is not set (or empty)`,
          ),
        );
      }
    }
    registries.set(host, { ...registry, password, ociLayout: resolveOptional(registry.ociLayout) });
  }
  const plugins = parsed.plugins === undefined ? undefined : resolvePlugins(parsed.plugins, resolve, env, issue, issues);
  if (issues.length > 0) throw new ConfigError(file, sortIssues(issues));

  const tls = parsed.server.tls;
  return {
    ...parsed,
    file: path.resolve(file),
    server: {
      ...parsed.server,
      tls:
        tls === undefined
          ? undefined
          : { certFile: resolve(tls.certFile), keyFile: resolve(tls.keyFile), clientCAFile: resolveOptional(tls.clientCAFile) },
    },
    environments: new Map(
      [...parsed.environments].map(([name, e]) => [
        name,
        {
          name,
          trustPolicy: resolveOptional(e.trustPolicy),
          trustStore: resolveOptional(e.trustStore),
          cosign:
            e.cosign === undefined
              ? undefined
              : { ...e.cosign, keys: e.cosign.keys.map(resolve), trustedRoot: resolveOptional(e.cosign.trustedRoot) },
          policy: resolveOptional(e.policy),
        },
      ]),
    ),
    registries,
    plugins,
    revocation: { ...parsed.revocation, crlDirectory: resolveOptional(parsed.revocation.crlDirectory) },
    cache:
      parsed.cache.shared === undefined
        ? parsed.cache
        : { ...parsed.cache, shared: resolveSharedCache(parsed.cache.shared, resolve, resolveOptional) },
  };
}

/** cache.shared with its files resolved against the configuration file's directory. */
function resolveSharedCache(
  shared: SharedCacheConfig,
  resolve: (p: string) => string,
  resolveOptional: (p: string | undefined) => string | undefined,
): SharedCacheConfig {
  return {
    ...shared,
    keyFile: resolve(shared.keyFile),
    previousKeyFiles: shared.previousKeyFiles?.map(resolve),
    passwordFile: resolveOptional(shared.passwordFile),
    caFile: resolveOptional(shared.caFile),
  };
}

/**
 * The plugins section with its directory resolved and the `fromEnv` secrets read from `env`; an unset
 * or empty variable is an issue naming its path (never the value: secrets are not echoed).
 */
function resolvePlugins(
  plugins: NonNullable<z.output<typeof vouchConfigSchema>['plugins']>,
  resolve: (p: string) => string,
  env: Readonly<Record<string, string | undefined>>,
  issue: MakeIssue,
  issues: ConfigIssue[],
): PluginsConfig {
  const config = new Map<string, ReadonlyMap<string, Readonly<Record<string, string>>>>();
  const secretKeys = new Map<string, ReadonlyMap<string, ReadonlySet<string>>>();
  for (const [environment, byPlugin] of plugins.config) {
    const configs = new Map<string, Readonly<Record<string, string>>>();
    const secrets = new Map<string, ReadonlySet<string>>();
    for (const [plugin, entries] of byPlugin) {
      const values: Array<[string, string]> = [];
      const secret = new Set<string>();
      for (const [key, source] of entries) {
        if ('value' in source) {
          values.push([key, source.value]);
          continue;
        }
        const value = env[source.fromEnv];
        if (value === undefined || value === '') {
          const at = ['plugins', 'config', environment, plugin, key, 'fromEnv'];
          issues.push(issue('invalid_value', at, `environment variable ${source.fromEnv} is not set (or empty)`));
        }
        values.push([key, value ?? '']);
        secret.add(key);
      }
      // fromEntries defines own properties: a key such as "__proto__" stays a plain key.
      configs.set(plugin, Object.freeze(Object.fromEntries(values)));
      if (secret.size > 0) secrets.set(plugin, secret);
    }
    config.set(environment, configs);
    if (secrets.size > 0) secretKeys.set(environment, secrets);
  }
  return {
    directory: resolve(plugins.directory),
    timeoutMs: plugins.timeoutMs,
    maxConcurrent: plugins.maxConcurrent,
    maxOutputBytes: plugins.maxOutputBytes,
    metadataTtlMs: plugins.metadataTtlMs,
    passEnvironment: plugins.passEnvironment,
    config,
    secretKeys,
  };
}

/** `a.b["127.0.0.1:5000"][0]`: segments that are not plain words are quoted. */
export function formatConfigPath(segments: readonly Segment[]): string {
  if (segments.length === 0) return '(document)';
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.slice(0, MAX_LISTED_ISSUES).map((i) => {
    const at = i.line === undefined ? file : `${file}:${i.line}:${i.column}`;
    return i.code === 'syntax' ? `${at}: ${i.message}` : `${at}: ${formatConfigPath(i.path)}: ${i.message}`;
  });
  if (issues.length > MAX_LISTED_ISSUES) lines.push(`(and ${issues.length - MAX_LISTED_ISSUES} more problems)`);
  return lines.join('\n');
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (i: ConfigIssue): number => (i.line === undefined ? Number.MAX_SAFE_INTEGER : i.line * 1e6 + (i.column ?? 0));
  return issues
    .map((i, n) => ({ i, n }))
    .sort((a, b) => rank(a.i) - rank(b.i) || a.n - b.n)
    .map(({ i }) => i);
}

// ---- zod issues → config issues ------------------------------------------------------------------------

type MakeIssue = (code: ConfigIssueCode, at: readonly Segment[], message: string, on?: 'key' | 'value') => ConfigIssue;

function fromZodIssue(zodIssue: z.core.$ZodIssue, issue: MakeIssue): ConfigIssue[] {
  const at = zodIssue.path.filter((s): s is Segment => typeof s !== 'symbol');
  switch (zodIssue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(at);
      return zodIssue.keys.map((key) => {
        const pattern = at.map((s, n) => (n === 1 && at[0] === 'environments' ? '*' : String(s))).join('.');
        const notYet = NOT_YET[`${pattern}.${key}`];
        if (notYet !== undefined) return issue('unknown_key', [...at, key], notYet, 'key');
        const suggestion = closest(key, known);
        const message =
          `unknown key${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}` +
          (known.length > 0 ? `; known keys here: ${known.join(', ')}` : '');
        return issue('unknown_key', [...at, key], message, 'key');
      });
    }
    case 'invalid_key':
      return [issue('invalid_value', at, zodIssue.issues[0]?.message ?? zodIssue.message, 'key')];
    case 'invalid_type': {
      const code = zodIssue.input === undefined ? 'missing_key' : zodIssue.input === null ? 'no_value' : 'wrong_type';
      return [issue(code, at, zodIssue.message)];
    }
    case 'too_small':
    case 'too_big':
      return [issue(zodIssue.origin === 'array' || zodIssue.origin === 'string' ? 'invalid_value' : 'out_of_range', at, zodIssue.message)];
    case 'invalid_union': {
      // No branch accepted the input. When exactly one branch got past the type check (say, the
      // mapping branch of "a string or { fromEnv }"), its issues are the ones to report.
      const fitting = zodIssue.errors.filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (fitting.length === 1) {
        return fitting[0]!.flatMap((inner) =>
          fromZodIssue({ ...inner, path: [...zodIssue.path, ...inner.path] } as z.core.$ZodIssue, issue),
        );
      }
      const input = zodIssue.input;
      return [issue(input === undefined ? 'missing_key' : input === null ? 'no_value' : 'wrong_type', at, zodIssue.message)];
    }
    case 'custom': {
      const params = zodIssue.params as { at?: 'key'; issue?: ConfigIssueCode } | undefined;
      return [issue(params?.issue ?? 'invalid_value', at, zodIssue.message, params?.at ?? 'value')];
    }
    default:
      return [issue('invalid_value', at, zodIssue.message)];
  }
}

/** The keys the schema knows for the mapping at `at` (for "did you mean" and the list of known keys). */
function knownKeysAt(at: readonly Segment[]): string[] {
  type Def = {
    type: string;
    in?: unknown;
    innerType?: unknown;
    shape?: Record<string, unknown>;
    valueType?: unknown;
    element?: unknown;
    options?: unknown[];
  };
  const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
  const unwrap = (schema: unknown): unknown => {
    for (;;) {
      const def = defOf(schema);
      if (def.type === 'pipe') schema = def.in;
      else if (def.type === 'union') {
        // The mapping branch, if any (e.g. "a string or { fromEnv }").
        const object = def.options?.find((option) => defOf(unwrap(option)).type === 'object');
        if (object === undefined) return schema;
        schema = object;
      } else if (def.innerType !== undefined)
        schema = def.innerType; // optional, default, prefault, nullable
      else return schema;
    }
  };
  let schema: unknown = vouchConfigSchema;
  for (const segment of at) {
    const def = defOf(unwrap(schema));
    if (def.type === 'object' && typeof segment === 'string') schema = def.shape?.[segment];
    else if (def.type === 'record') schema = def.valueType;
    else if (def.type === 'array') schema = def.element;
    else return [];
    if (schema === undefined) return [];
  }
  const def = defOf(unwrap(schema));
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** The known key closest to a misspelt one (case-insensitive match or edit distance ≤ 2). */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate;
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Paths of "__proto__" keys in plugin configurations (plugins.config.ENV.PLUGIN), which zod's records
 * drop without a word: refused, so that no key of the file is silently lost.
 */
function pluginConfigProtoKeys(input: unknown): Segment[][] {
  const out: Segment[][] = [];
  const own = (value: unknown): Array<[string, unknown]> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
  const plugins = own(input).find(([key]) => key === 'plugins')?.[1];
  const config = own(plugins).find(([key]) => key === 'config')?.[1];
  for (const [environment, byPlugin] of own(config)) {
    for (const [plugin, values] of own(byPlugin)) {
      if (own(values).some(([key]) => key === '__proto__')) out.push(['plugins', 'config', environment, plugin, '__proto__']);
    }
  }
  return out;
}

/** The key under `registries:` as written in the file for a canonical host (for the issue's path). */
function registryKeyFor(input: unknown, host: string): string {
  const registries = (input as { registries?: Record<string, unknown> }).registries ?? {};
  return Object.keys(registries).find((key) => canonicalRegistryHost(key) === host) ?? host;
}

// ---- the document ------------------------------------------------------------------------------------

function readDocument(raw: string, file: string): { doc: Document.Parsed; lines: LineCounter } {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const syntax = (line: number, column: number, message: string): ConfigIssue => ({ code: 'syntax', path: [], message, line, column });
  if (/\.json$/i.test(file)) {
    const problem = findJsonSyntaxError(text);
    if (problem !== undefined) {
      const { line, column } = lineColumn(text, problem.offset);
      throw new ConfigError(file, [syntax(line, column, `JSON syntax error: ${problem.message}`)]);
    }
  }
  const lines = new LineCounter();
  const deep = tooDeepOffset(text);
  if (deep !== undefined) {
    const { line, column } = lineColumn(text, deep);
    throw new ConfigError(file, [syntax(line, column, `YAML syntax error: nesting deeper than ${MAX_NESTING_DEPTH} levels`)]);
  }
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    // Checked below in linear time: the library compares each key with every earlier one (found by fuzzing).
    uniqueKeys: false,
    strict: true,
    merge: false,
    version: '1.2',
    schema: 'core',
    logLevel: 'error',
  });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const { line, col } = lines.linePos(problem.pos[0]);
    const kind = doc.errors.length > 0 ? 'YAML syntax error' : 'YAML problem';
    throw new ConfigError(file, [syntax(line, col, `${kind}: ${problem.message.split('\n')[0]}`)], problem);
  }
  const duplicate = firstDuplicateKey(doc.contents);
  if (duplicate !== undefined) {
    const { line, col } = lines.linePos(duplicate);
    throw new ConfigError(file, [syntax(line, col, 'YAML syntax error: Map keys must be unique')]);
  }
  return { doc, lines };
}

/**
 * The offset of the first repeated scalar key of a mapping (YAML 1.2 §3.2.1.1: keys are unique), or
 * undefined; compared by value as the yaml library's uniqueKeys does, a Set per mapping. Aliases are
 * not followed: their mappings are checked where they are defined. The depth is bounded before this.
 */
function firstDuplicateKey(root: unknown): number | undefined {
  let first: number | undefined;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          if (seen.has(pair.key.value)) {
            const at = pair.key.range?.[0];
            if (at !== undefined && (first === undefined || at < first)) first = at;
          }
          seen.add(pair.key.value);
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item); // not push(...items): a long list would overflow the call's arguments
    }
  }
  return first;
}

/** Deepest nesting of collections accepted; real configurations nest about 6 levels. */
const MAX_NESTING_DEPTH = 64;

/**
 * The offset of a collection nested deeper than MAX_NESTING_DEPTH, or undefined. The yaml library's
 * composer recurses once per level and turns a stack overflow into a syntax error, but an overflow
 * can also strike V8's regular expression compiler, which aborts the process (found by fuzzing). Its
 * CST parser keeps an explicit stack, so the depth is measured on the CST, without recursion.
 */
function tooDeepOffset(text: string): number | undefined {
  type Node = { offset?: number; value?: unknown; items?: Array<{ key?: unknown; value?: unknown }> };
  for (const token of new Parser().parse(text)) {
    const stack: Array<[Node, number]> = [[token as Node, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (depth > MAX_NESTING_DEPTH) return node.offset ?? 0;
      for (const item of node.items ?? []) {
        if (typeof item.key === 'object' && item.key !== null) stack.push([item.key as Node, depth + 1]);
        if (typeof item.value === 'object' && item.value !== null) stack.push([item.value as Node, depth + 1]);
      }
      if (typeof node.value === 'object' && node.value !== null) stack.push([node.value as Node, depth]);
    }
  }
  return undefined;
}

/** Line and column of the key (or value) at a path, or of the deepest node found on the way. */
function positionFinder(doc: Document.Parsed, lines: LineCounter) {
  // Each mapping's keys indexed once: a file with thousands of unknown keys has an issue per key, and
  // a scan of the mapping per issue made that quadratic (8000 keys took 14 s; found by fuzzing).
  const indexes = new WeakMap<object, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, key: string): Pair | undefined => {
    let index = indexes.get(map);
    if (index === undefined) {
      index = new Map();
      for (const item of map.items) {
        if (isPair(item) && isScalar(item.key) && !index.has(String(item.key.value))) index.set(String(item.key.value), item);
      }
      indexes.set(map, index);
    }
    return index.get(key);
  };
  return (segments: readonly Segment[], at: 'key' | 'value'): { line: number | undefined; column: number | undefined } => {
    let node: unknown = doc.contents;
    let offset: number | undefined = rangeStart(node);
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (isAlias(node)) node = node.resolve(doc);
      let next: unknown;
      if (isMap(node)) {
        const pair = pairOf(node, String(segment));
        if (pair === undefined) break;
        if (i === segments.length - 1 && at === 'key') {
          offset = rangeStart(pair.key) ?? offset;
          break;
        }
        next = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
      } else {
        break;
      }
      if (next === undefined || next === null) break;
      node = next;
      offset = rangeStart(node) ?? offset;
    }
    if (offset === undefined) return { line: undefined, column: undefined };
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

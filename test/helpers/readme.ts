// Reads the fenced code blocks of a marked region of README.md (`<!-- NAME:begin -->` … `<!-- NAME:end -->`), so
// tests can run what the README shows instead of a copy of it that could drift.
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './registries.js';

export interface FencedBlock {
  /** The info string after the opening fence (`sh`, `text`, `json`, …). */
  lang: string;
  /** The lines between the fences, with a trailing newline. */
  body: string;
}

/** The fenced blocks between the markers of `region`, in order. Throws when the region is missing or empty. */
export async function readmeBlocks(region: string): Promise<FencedBlock[]> {
  const markdown = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const begin = `<!-- ${region}:begin -->`;
  const end = `<!-- ${region}:end -->`;
  const start = markdown.indexOf(begin);
  const stop = markdown.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`README.md has no region "${begin}" … "${end}"`);
  const blocks = [...markdown.slice(start + begin.length, stop).matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] ?? '',
    body: m[2] ?? '',
  }));
  if (blocks.length === 0) throw new Error(`README.md region "${region}" has no code blocks`);
  return blocks;
}

/**
 * Whether `actual` output shows every line of an `expected` block, in order: `…` stands for anything and runs of
 * spaces for any whitespace (table column widths follow the data), each expected line matching a whole actual line.
 */
export function showsLines(actual: string, expected: string): { ok: true } | { ok: false; missing: string } {
  const lines = actual.split('\n').map((line) => line.trimEnd());
  let at = 0;
  for (const want of expected.split('\n').filter((line) => line.trim() !== '')) {
    const pattern = new RegExp(
      '^' +
        want
          .trim()
          .split(/ +/)
          .map((word) => word.split('…').map(escapeRegExp).join('.*'))
          .join('\\s+') +
        '$',
    );
    while (at < lines.length && !pattern.test(lines[at]!.trim())) at++;
    if (at === lines.length) return { ok: false, missing: want };
    at++;
  }
  return { ok: true };
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a bash script in its own process group (so the registries and servers it starts in the background die with
 * it), killing the group after `timeoutMs` and once the script ends, whatever happened.
 */
export function runScript(file: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<ScriptResult> {
  // detached: its own process group, so the registry and vouch it starts in the background die with it.
  const child = spawn('bash', [file], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const killGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  process.once('exit', killGroup);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Whatever the script left behind (it stops both servers itself; a failed step may not have).
      killGroup();
      process.removeListener('exit', killGroup);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export interface WalkthroughOptions {
  /** The region's blocks (readmeBlocks). */
  blocks: FencedBlock[];
  /** Values for the assignments of the first `sh` block (`NAME=value` at a line start), all required. */
  settings: Readonly<Record<string, string>>;
  /** A fresh temporary directory: the script, HOME and XDG directories go there. */
  dir: string;
  /** The working directory of the script (inside `dir`). */
  work: string;
  /** A log the walkthrough writes (a server's), shown when something fails. */
  logFile: string;
  /** The registry the README shows in expected output, and the one the test runs. */
  readmeRegistry: string;
  registry: string;
  /** Marks each block's end with this line (any string that no output contains). */
  blockMark: string;
}

export interface Walkthrough {
  /** Per `sh` block, its stdout and its stderr, trimmed (one more, empty, after the last). */
  outputs: string[];
  errors: string[];
  /** Exit status, both streams and the log's end: for assertion messages. */
  context: string;
}

/**
 * Runs a README walkthrough as written: its `sh` blocks, in order, in one bash (set -euo pipefail) in
 * `work`, with only the first block's settings replaced; HOME and XDG_CONFIG_HOME point into `dir`, so
 * no tool touches the real home. Then each `text` block must be shown by the output of the `sh` block
 * before it: that block's stderr followed by its stdout, as a terminal shows them (`…` matches anything).
 */
export async function runWalkthrough(t: ExecutionContext, options: WalkthroughOptions): Promise<Walkthrough> {
  const { blocks, blockMark } = options;
  const shellBlocks = blocks.filter((b) => b.lang === 'sh');
  let settings = shellBlocks[0]!.body;
  for (const [name, value] of Object.entries(options.settings)) {
    const assignment = new RegExp(`^${name}=\\S+`, 'm');
    t.regex(settings, assignment, `the first walkthrough block no longer sets ${name}`);
    settings = settings.replace(assignment, `${name}='${value}'`);
  }
  // The marker ends each block on both streams, so each block's stderr can be told apart too.
  const mark = `printf '\\n%s\\n' '${blockMark}'; printf '\\n%s\\n' '${blockMark}' >&2`;
  const script = ['set -euo pipefail', ...[settings, ...shellBlocks.slice(1).map((b) => b.body)].map((body) => `${body}\n${mark}`)].join(
    '\n',
  );
  const scriptFile = join(options.dir, 'walkthrough.sh');
  await writeFile(scriptFile, script);
  const result = await runScript(scriptFile, options.work, {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: options.dir,
    XDG_CONFIG_HOME: join(options.dir, 'xdg-config'),
    XDG_CACHE_HOME: join(options.dir, 'xdg-cache'),
    LANG: 'C.UTF-8',
  });
  const log = await readFile(options.logFile, 'utf8').catch(() => `(no ${options.logFile})`);
  const context = `exit ${result.code} ${result.signal ?? ''}${result.timedOut ? ' (timed out)' : ''}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n--- log\n${log.slice(-4000)}`;
  t.is(result.code, 0, context);

  const split = (stream: string): string[] => stream.split(`\n${blockMark}\n`).map((o) => o.trim());
  const outputs = split(result.stdout);
  const errors = split(result.stderr);
  t.is(outputs.length, shellBlocks.length + 1, context);
  t.is(errors.length, shellBlocks.length + 1, context);
  let shellIndex = -1;
  for (const block of blocks) {
    if (block.lang === 'sh') shellIndex++;
    if (block.lang !== 'text') continue;
    const expected = block.body.replaceAll(options.readmeRegistry, options.registry);
    const shown = showsLines(`${errors[shellIndex] ?? ''}\n${outputs[shellIndex] ?? ''}`, expected);
    t.true(shown.ok, `README output line not shown by block ${shellIndex + 1}: ${shown.ok ? '' : shown.missing}\n${context}`);
  }
  return { outputs, errors, context };
}

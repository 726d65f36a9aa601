// Reads the fenced code blocks of a marked region of README.md (`<!-- NAME:begin -->` … `<!-- NAME:end -->`), so
// tests can run what the README shows instead of a copy of it that could drift.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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

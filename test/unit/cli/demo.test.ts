// `vouch demo` without --dir works in a temporary directory and removes it; it offers `curl` only
// while its provider is still serving (--keep-running).

import test from 'ava';
import { EventEmitter } from 'node:events';
import { access } from 'node:fs/promises';
import { demoCommand } from '../../../src/cli/commands/demo.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** The directory the demo says it generated its setup in. */
function demoDir(out: string[]): string {
  const match = /generated .* in (\S+)/.exec(out.join('\n'));
  if (match === null) throw new Error(`no directory in:\n${out.join('\n')}`);
  return match[1]!;
}

test('demo: without --keep-running no curl line for a provider that has exited, and the temporary directory is gone', async (t) => {
  const c = capture();
  t.is(await demoCommand([], c.io), 0, c.err.join('\n'));
  const text = c.out.join('\n');
  t.regex(text, /environment staging/);
  t.notRegex(text, /curl -s http/);
  t.false(await exists(demoDir(c.out)));
});

test('demo: with --keep-running the curl line names a provider that answers, and the directory goes once it stops', async (t) => {
  const c = capture();
  const signals = new EventEmitter();
  const done = demoCommand(['--keep-running'], c.io, signals);
  let curl: RegExpExecArray | null = null;
  for (let i = 0; i < 600 && curl === null; i++) {
    curl = /curl -s (http:\/\/\S+)\/v1\/verify -d '([^']+)'/.exec(c.out.join('\n'));
    if (curl === null) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.truthy(curl, c.out.join('\n'));
  const dir = demoDir(c.out);
  t.true(await exists(dir));
  const response = await fetch(`${curl![1]}/v1/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: curl![2],
  });
  t.is(response.status, 200);
  const body = (await response.json()) as { response: { items: Array<{ value?: { verified: boolean } }> } };
  t.is(body.response.items[0]?.value?.verified, true);
  signals.emit('SIGINT');
  t.is(await done, 0);
  t.false(await exists(dir));
});

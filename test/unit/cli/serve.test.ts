// `vouch serve` in-process: the stream it writes is JSON log lines only (the "serving" banner is one
// of them, with the addresses as fields), and no line repeats a key.

import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveCommand } from '../../../src/cli/commands/serve.js';
import { writeDemoContent } from '../../../src/cli/demo-content.js';
import { createLogger } from '../../../src/log.js';
import { parseStrictJson } from '../../helpers/strict-json.js';

test('serve: the serving announcement is a JSON log line and every line has one module', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-serve-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const content = await writeDemoContent(dir);
  const lines: string[] = [];
  const logger = createLogger(
    { name: 'vouch', level: 'debug' },
    { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) },
  ).child({ module: 'server' });
  const out: string[] = [];
  const err: string[] = [];
  const signals = new EventEmitter();
  const exit = serveCommand(['--config', content.configFile], { out: (s) => out.push(s), err: (s) => err.push(s) }, signals, logger);

  const parsed = () => lines.map((line) => parseStrictJson(line) as Record<string, unknown>);
  let serving: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && serving === undefined; i++) {
    serving = parsed().find((l) => l['msg'] === 'serving');
    if (serving === undefined) await sleep(50);
  }
  t.truthy(serving, lines.join('\n'));
  t.regex(String(serving!['url']), /^http:\/\/127\.0\.0\.1:\d+$/);
  t.deepEqual(serving!['environments'], ['prod', 'staging']);
  t.is(serving!['module'], 'server');
  // a request, so the nested loggers (server.http, verify, oci.registry) get a chance to write
  const response = await fetch(`${String(serving!['url'])}/v1/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'externaldata.gatekeeper.sh/v1beta1',
      kind: 'ProviderRequest',
      request: { keys: [`[staging]${content.images[0]!.reference}`] },
    }),
  });
  t.is(response.status, 200);
  await response.arrayBuffer();
  signals.emit('SIGTERM');
  t.is(await exit, 0);

  t.deepEqual(err, [], 'nothing but log lines on stderr');
  t.deepEqual(out, []);
  const all = parsed(); // throws on a duplicate key
  t.true(all.length >= 3);
  t.true(all.every((l) => typeof l['module'] === 'string'));
  t.true(new Set(all.map((l) => l['module'])).size > 1, `expected lines from nested modules: ${lines.join('\n')}`);
});

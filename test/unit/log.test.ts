// src/log.ts: every line a strict JSON object with one `module`, however the children stack.

import test from 'ava';
import { createLogger } from '../../src/log.js';
import { DuplicateKeyError, parseStrictJson } from '../helpers/strict-json.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger(
    { name: 'vouch', level: 'debug' },
    { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) },
  );
  return { logger, lines };
}

test('strict-json: the check itself rejects a repeated member name', (t) => {
  const error = t.throws(() => parseStrictJson('{"module":"server","msg":"x","module":"config"}'));
  t.true(error instanceof DuplicateKeyError);
  t.is((error as DuplicateKeyError).key, 'module');
  t.deepEqual(parseStrictJson('{"a":[1,{"b":"\\"c"}],"d":null}'), { a: [1, { b: '"c' }], d: null });
});

test('log: a module child of a module child writes `module` once, the nearest one', (t) => {
  const { logger, lines } = capture();
  const server = logger.child({ module: 'server' });
  const config = server.child({ module: 'config', environment: 'prod' });
  logger.info('root');
  server.info('server');
  config.warn({ file: 'x' }, 'config');
  config.child({ request: 7 }).debug('nested without a module');
  server.info('server again');
  const parsed = lines.map((line) => parseStrictJson(line) as Record<string, unknown>);
  t.is(parsed.length, 5);
  t.deepEqual(
    parsed.map((p) => p['module']),
    [undefined, 'server', 'config', 'config', 'server'],
  );
  t.is(parsed[2]!['environment'], 'prod');
  t.is(parsed[3]!['request'], 7);
});

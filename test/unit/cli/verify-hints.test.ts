// `vouch verify` says when it assumed Docker Hub for a reference without a registry (on stderr, so
// JSON output stays parseable), and its table shows the environment on undecided rows too.
// Docker Hub is outside allowedRegistries here: refused (REGISTRY_NOT_ALLOWED) before any connection.

import test from 'ava';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { writeDemoContent } from '../../../src/cli/demo-content.js';
import { dockerHubAssumed } from '../../../src/cli/hints.js';
import { main } from '../../../src/cli/main.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
}

test('hints: which references name no registry', (t) => {
  t.is(dockerHubAssumed('nginx:1.25'), 'docker.io/library/nginx:1.25');
  t.is(dockerHubAssumed('[prod]bitnami/redis:7'), 'docker.io/bitnami/redis:7');
  t.is(dockerHubAssumed('docker.io/library/nginx:1.25'), undefined);
  t.is(dockerHubAssumed('registry-1.docker.io/library/nginx:1'), undefined);
  t.is(dockerHubAssumed('ghcr.io/acme/app:1'), undefined);
  t.is(dockerHubAssumed('localhost:5000/app:1'), undefined);
  t.is(dockerHubAssumed('Not/A/Valid:ref:'), undefined);
});

test('verify: Docker Hub assumed is noted on stderr; undecided rows show their environment', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-verify-hints-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const content = await writeDemoContent(dir);
  await appendFile(content.configFile, 'allowedRegistries:\n  - demo.local\n');

  const c = capture();
  const code = await main(
    [
      'verify',
      '--config',
      content.configFile,
      '--env',
      'staging',
      'nginx:1.25',
      '[prod]docker.io/library/alpine:3',
      content.images[0]!.reference,
    ],
    c.io,
  );
  t.is(code, 1, c.err.join('\n'));
  const notes = c.err.filter((line) => line.includes('docker.io/library/nginx:1.25'));
  t.is(notes.length, 1, c.err.join('\n'));
  t.false(
    c.err.some((line) => line.includes('alpine')),
    'a reference written with docker.io gets no note',
  );

  const rows = c.out
    .join('\n')
    .split('\n')
    .slice(1)
    .map((line) => line.split(/\s{2,}/));
  const nginx = rows.find((r) => r[2] === 'nginx:1.25');
  t.deepEqual(nginx?.slice(0, 3), ['UNDECIDED', 'staging', 'nginx:1.25']);
  t.regex(nginx?.[4] ?? '', /^REGISTRY_NOT_ALLOWED/);
  const alpine = rows.find((r) => r[2] === 'docker.io/library/alpine:3');
  t.deepEqual(alpine?.slice(0, 2), ['UNDECIDED', 'prod']);
  t.is(rows.find((r) => r[0] === 'VERIFIED')?.[1], 'staging');

  const j = capture();
  t.is(await main(['verify', '--config', content.configFile, '--output', 'json', 'nginx:1.25'], j.io), 1);
  t.is((JSON.parse(j.out.join('\n')) as Array<{ error: { code: string } }>)[0]?.error.code, 'REGISTRY_NOT_ALLOWED');
  t.is(j.err.filter((line) => line.includes('docker.io/library/nginx:1.25')).length, 1);
});

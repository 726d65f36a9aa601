import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../../src/cli/main.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const vectors = path.join(NOTATION_VECTORS, 'notation-cli-e2e/oci_layout');

test('cli: usage errors exit 2', async (t) => {
  const c = capture();
  t.is(await main([], c.io), 2);
  t.is(await main(['nope'], c.io), 2);
  t.is(await main(['referrers'], c.io), 2);
  t.is(await main(['referrers', '--depth', 'x', 'a'], c.io), 2);
  t.is(await main(['referrers', '--bogus', 'a'], c.io), 2);
  t.true(c.err.some((line) => line.includes('unknown command "nope"')));
});

test('cli: config schema prints the JSON Schema of the configuration file', async (t) => {
  const c = capture();
  t.is(await main(['config', 'schema'], c.io), 0);
  const schema = JSON.parse(c.out.join('\n')) as { $schema: string; required: string[]; properties: Record<string, unknown> };
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.deepEqual(schema.required, ['environments']);
  t.true('server' in schema.properties && 'revocation' in schema.properties);
  t.deepEqual(JSON.parse(await readFile(path.join(ROOT, 'docs/vouch.schema.json'), 'utf8')), schema);

  const u = capture();
  t.is(await main(['config'], u.io), 2);
  t.is(await main(['config', 'nope'], u.io), 2);
  t.regex(u.err.join('\n'), /unknown subcommand "nope"/);
});

test('cli: an invalid reference is reported with its code and exit 2', async (t) => {
  const c = capture();
  t.is(await main(['referrers', 'Not/A/Valid:ref:'], c.io), 2);
  t.regex(c.err.join('\n'), /INVALID_REFERENCE/);
});

test('cli: referrers in a real notation layout, as a table and as JSON', async (t) => {
  const c = capture();
  t.is(await main(['referrers', '--layout', path.join(vectors, 'e2e-valid-multiple-signatures'), 'v1'], c.io), 0);
  const text = c.out.join('\n');
  t.regex(text, /found\s+2 referrer/);
  t.regex(text, /notation\s+application\/vnd\.cncf\.notary\.signature\s+sha256:90ceaff260d6/);

  const j = capture();
  t.is(await main(['referrers', '--layout', path.join(vectors, 'e2e-valid-signature'), 'v1', '--output', 'json'], j.io), 0);
  const report = JSON.parse(j.out.join('\n')) as {
    subject: { digest: string };
    referrers: Array<{ kind: string; descriptor: { digest: string } }>;
  };
  t.is(report.subject.digest, 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9');
  t.deepEqual(
    report.referrers.map((r) => [r.kind, r.descriptor.digest]),
    [['notation', 'sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f']],
  );
});

test('cli: a missing tag in a layout is NOT_FOUND with exit 1', async (t) => {
  const c = capture();
  t.is(await main(['referrers', '--layout', path.join(vectors, 'e2e'), 'nope'], c.io), 1);
  t.regex(c.err.join('\n'), /NOT_FOUND/);
});

test('cli: the demo signs sample images, starts the provider and gets the expected verdicts for both environments', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-demo-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const c = capture();
  t.is(await main(['demo', '--dir', dir], c.io), 0, c.err.join('\n'));
  const text = c.out.join('\n');
  t.regex(text, /environment prod/);
  t.regex(text, /environment staging/);
  t.is(text.match(/^VERIFIED /gm)?.length, 4);
  for (const code of ['UNTRUSTED_SIGNER', 'NO_SIGNATURE', 'EXPIRED', 'NO_TRUST_POLICY']) t.regex(text, new RegExp(code));
  // the generated content is a working setup: referrers and verify work on it too
  const refs = capture();
  t.is(
    await main(['referrers', '--layout', path.join(dir, 'registry-demo.local'), 'demo.local/shop/web:1.0', '--output', 'json'], refs.io),
    0,
  );
  t.is((JSON.parse(refs.out.join('\n')) as { referrers: unknown[] }).referrers.length, 2);
  const verified = capture();
  t.is(await main(['verify', '--config', path.join(dir, 'vouch.yaml'), '--env', 'staging', 'demo.local/shop/api:2.3'], verified.io), 0);
  t.regex(verified.out.join('\n'), /VERIFIED\s+staging/);
  const rejected = capture();
  t.is(await main(['verify', '--config', path.join(dir, 'vouch.yaml'), 'demo.local/shop/api:2.3', '--output', 'json'], rejected.io), 1);
  t.is((JSON.parse(rejected.out.join('\n')) as Array<{ reasons: Array<{ code: string }> }>)[0]?.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  const badConfig = capture();
  t.is(await main(['verify', '--config', path.join(dir, 'nope.yaml'), 'x'], badConfig.io), 2);
  t.regex(badConfig.err.join('\n'), /INVALID_CONFIG/);
});

import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main } from '../../../src/cli/main.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

const vectors = path.resolve(process.cwd(), '../shared/vectors/notation/notation-cli-e2e/oci_layout');

test('cli: usage errors exit 2', async (t) => {
  const c = capture();
  t.is(await main([], c.io), 2);
  t.is(await main(['nope'], c.io), 2);
  t.is(await main(['referrers'], c.io), 2);
  t.is(await main(['referrers', '--depth', 'x', 'a'], c.io), 2);
  t.is(await main(['referrers', '--bogus', 'a'], c.io), 2);
  t.true(c.err.some((line) => line.includes('unknown command "nope"')));
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

test('cli: the demo writes a layout and finds every sample referrer, nested ones included', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-demo-test-'));
  const c = capture();
  t.is(await main(['demo', '--dir', dir], c.io), 0);
  const text = c.out.join('\n');
  t.regex(text, /found\s+5 referrer/);
  t.is(text.match(/^notation /gm)?.length, 2);
  t.regex(text, /^cosign-bundle /m);
  t.regex(text, /^└─ notation /m);
  const again = capture();
  t.is(await main(['referrers', '--layout', dir, '1.0', '--depth', '1', '--output', 'json'], again.io), 0);
  t.is((JSON.parse(again.out.join('\n')) as { referrers: unknown[] }).referrers.length, 4);
});

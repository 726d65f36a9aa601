// `vouch promote` as a user runs it (in-process, against the spec-following fake registry): text and
// JSON output, --dry-run, exit codes, the progress line on a TTY and the summary line elsewhere, a
// config whose `ociLayout` registry is the source and whose allowlist bounds the destination.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { promoteCommand } from '../../../src/cli/commands/promote.js';
import { OciLayoutWriter } from '../../../src/oci/index.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/fake-registry.js';
import { buildImage, buildSbomReferrer, type BuiltManifest } from '../../helpers/oci-fixtures.js';
import { writeTrustMaterial } from '../../helpers/trust-material.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

function seed(fake: FakeRegistry, repo: string, manifest: BuiltManifest, tag?: string): void {
  for (const b of manifest.blobs) fake.putBlob(repo, b.bytes);
  fake.putManifest(repo, manifest.bytes, { mediaType: manifest.descriptor.mediaType, ...(tag ? { tag } : {}) });
}

let src: FakeRegistry;
let dst: FakeRegistry;
const noConfig = { env: {} as Record<string, string | undefined> };

test.before(async () => {
  [src, dst] = await Promise.all([startFakeRegistry(), startFakeRegistry()]);
});
test.after.always(async () => {
  await Promise.all([src?.close(), dst?.close()]);
});

test.serial('promote: usage errors exit 2', async (t) => {
  const c = capture();
  t.is(await main(['promote'], c.io), 2);
  t.is(await main(['promote', 'a/b:1'], c.io), 2);
  t.is(await main(['promote', '--output', 'yaml', 'a/b:1', 'c/d'], c.io), 2);
  t.is(await main(['promote', '--max-depth', '0', 'a/b:1', 'c/d'], c.io), 2);
  t.is(await main(['promote', '--plugin', 'kms', '--id', 'k', 'a/b:1', 'c/d'], c.io), 2);
  t.true(c.err.some((l) => l.includes('--plugin signs: it needs --sign-for ENV')));
  t.is(await promoteCommand([`${src.host}/a/b:1`, `${dst.host}/c/d@sha256:${'0'.repeat(64)}`], c.io, noConfig).catch(() => 2), 2);
  t.true(c.err.some((l) => l.includes('expected SRC and DST')));
});

test.serial('promote: --dry-run lists, writes nothing; a run copies; a second run copies nothing', async (t) => {
  const image = buildImage();
  const sbom = buildSbomReferrer(image.descriptor);
  seed(src, 'team/app', image, 'v1');
  seed(src, 'team/app', sbom);
  const args = ['--plain-http', `${src.host}/team/app:v1`, `${dst.host}/prod/app`];

  const dry = capture();
  t.is(await promoteCommand(['--dry-run', ...args], dry.io, noConfig), 0);
  t.regex(dry.out.join('\n'), /would promote/);
  t.is(dry.out.join('\n').match(/would copy/g)?.length, 1 + 2 + 1 + 2 + 1 - 1 + 1); // 6 objects + the summary
  t.false(dst.requests.some((r) => !['GET', 'HEAD'].includes(r.method)));

  const run = capture();
  t.is(await promoteCommand(['--output', 'json', ...args], run.io, noConfig), 0);
  const report = JSON.parse(run.out.join('\n')) as {
    subject: { digest: string };
    tag: string;
    objects: Array<{ kind: string; action: string; descriptor: { digest: string } }>;
    totals: { copied: number; bytesCopied: number };
  };
  t.is(report.subject.digest, image.descriptor.digest);
  t.is(report.tag, 'v1');
  t.true(report.objects.every((o) => o.action === 'copied'));
  t.deepEqual(
    report.objects.filter((o) => o.kind === 'referrer').map((o) => o.descriptor.digest),
    [sbom.descriptor.digest],
  );
  t.deepEqual(run.err, []); // JSON mode: nothing on stderr

  const again = capture();
  t.is(await promoteCommand(args, again.io, { ...noConfig, progress: { write: () => true, isTTY: false } }), 0);
  t.regex(again.out.join('\n'), /nothing to copy/);
});

test.serial('promote: a progress line on a TTY', async (t) => {
  seed(src, 'team/tty', buildImage({ layerBytes: 300 * 1024 }), 'v1');
  const written: string[] = [];
  const c = capture();
  const code = await promoteCommand(['--plain-http', `${src.host}/team/tty:v1`, `${dst.host}/prod/tty:v2`], c.io, {
    ...noConfig,
    progress: { write: (s: string) => written.push(s), isTTY: true, columns: 100 },
  });
  t.is(code, 0);
  t.true(written.some((w) => /copying 3\/3 objects/.test(w)));
  t.true(written.every((w) => w.startsWith('\r')));
  t.deepEqual(c.err, []);
});

test.serial('promote: a missing source exits 1 with NOT_FOUND', async (t) => {
  const c = capture();
  t.is(await promoteCommand(['--plain-http', `${src.host}/team/none:v1`, `${dst.host}/prod/none`], c.io, noConfig), 1);
  t.regex(c.err.join('\n'), /NOT_FOUND/);
});

test.serial('promote: with a config, an ociLayout registry is the source and the allowlist bounds the destination', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-promote-cli-'));
  try {
    await writeTrustMaterial(dir);
    const layout = await OciLayoutWriter.create(join(dir, 'layout'));
    const image = buildImage();
    for (const b of image.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
    await layout.writeManifest(image.bytes, image.descriptor.mediaType, { tag: 'demo.local/app:v1' });
    const config = (allowed: string[]) =>
      [
        'environments:',
        '  prod: { trustPolicy: policy.json, trustStore: store }',
        'registries:',
        `  demo.local: { ociLayout: ${join(dir, 'layout')} }`,
        `  "${dst.host}": { plainHttp: true }`,
        `allowedRegistries: ${JSON.stringify(allowed)}`,
        '',
      ].join('\n');
    await writeFile(join(dir, 'ok.yaml'), config(['demo.local', dst.host]));
    await writeFile(join(dir, 'closed.yaml'), config(['demo.local']));

    const c = capture();
    t.is(await promoteCommand(['--config', join(dir, 'ok.yaml'), 'demo.local/app:v1', `${dst.host}/prod/layout`], c.io, noConfig), 0);
    t.regex(c.out.join('\n'), /promoted demo\.local\/app:v1 -> .*prod\/layout:v1/);

    const closed = capture();
    t.is(
      await promoteCommand(['--config', join(dir, 'closed.yaml'), 'demo.local/app:v1', `${dst.host}/prod/other`], closed.io, noConfig),
      1,
    );
    t.regex(closed.err.join('\n'), /REGISTRY_NOT_ALLOWED/);

    const intoLayout = capture();
    t.is(await main(['promote', '--config', join(dir, 'ok.yaml'), `${dst.host}/prod/layout:v1`, 'demo.local/app'], intoLayout.io), 2);
    t.regex(intoLayout.err.join('\n'), /OCI layout/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

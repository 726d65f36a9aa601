// The copy engine (src/oci/copy.ts) between real registries: olareg (Referrers API) and Debian's
// docker-registry (distribution 2.8.2, referrers tag schema only), both directions, plus one
// repository to another on the same registry (blobs mounted), an OCI layout as the source,
// interruptions and resumption, and a destination that refuses pushes.

import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promoteCommand } from '../../src/cli/commands/promote.js';
import { VouchError, type Digest } from '../../src/core/index.js';
import {
  copyImage,
  LayoutRepository,
  OciLayoutSource,
  OciLayoutWriter,
  RegistryClient,
  walkReferrers,
  type ContentSource,
  type CopyReport,
  type RegistryHostConfig,
  type RegistryRepository,
} from '../../src/oci/index.js';
import {
  buildImage,
  buildIndex,
  buildNotationSignature,
  buildSbomReferrer,
  pushManifest,
  pushReferrer,
  type BuiltManifest,
} from '../helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import { NotationCli } from '../helpers/notation.js';

let olareg: RunningRegistry;
let distribution: RunningRegistry;
let notation: NotationCli;
let repoCounter = 0;

test.before(async () => {
  [olareg, distribution, notation] = await Promise.all([startReferrersRegistry(), startDistributionRegistry(), NotationCli.create()]);
});

test.after.always(async () => {
  await Promise.all([olareg?.stop(), distribution?.stop(), notation?.dispose()]);
});

function clientFor(registries: RunningRegistry[], config: RegistryHostConfig = {}, limits = {}): RegistryClient {
  return new RegistryClient({ hosts: Object.fromEntries(registries.map((r) => [r.host, { plainHttp: true, ...config }])), limits });
}

const repoName = (prefix: string) => `${prefix}/r${++repoCounter}`;

/**
 * A client for both registries, closed when the test ends, with a fresh source repository on `from` and a
 * destination repository on `to`.
 */
function repositories(
  t: ExecutionContext,
  from: RunningRegistry = olareg,
  to: RunningRegistry = distribution,
  limits = {},
): { source: RegistryRepository; destination: RegistryRepository } {
  const client = clientFor([olareg, distribution], {}, limits);
  t.teardown(() => client.close());
  return { source: client.repository(from.host, repoName('src')), destination: client.repository(to.host, repoName('dst')) };
}

/** An image with an SBOM, a notation signature (the real CLI) on the image, and a signature on the SBOM. */
async function seedGraph(registry: RunningRegistry, repo: RegistryRepository, image: BuiltManifest = buildImage()) {
  const subject = await pushManifest(repo, image, 'v1');
  const sbom = await pushReferrer(repo, buildSbomReferrer(subject));
  const sbomSignature = await pushReferrer(repo, buildNotationSignature(sbom, { form: 'artifactType' }));
  await notation.sign(`${registry.host}/${repo.name}@${subject.digest}`);
  const [notationSignature] = await notation.list(`${registry.host}/${repo.name}@${subject.digest}`);
  return { subject, sbom, sbomSignature, notationSignature: notationSignature as Digest };
}

function graphDigests(tree: Awaited<ReturnType<typeof walkReferrers>>): string[] {
  const out: string[] = [];
  const walk = (nodes: typeof tree.referrers) => {
    for (const n of nodes) {
      out.push(n.artifact.descriptor.digest);
      walk(n.referrers);
    }
  };
  walk(tree.referrers);
  return out.sort();
}

function actions(report: CopyReport): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of report.objects) counts[o.action] = (counts[o.action] ?? 0) + 1;
  return counts;
}

for (const [from, to] of [
  ['olareg', 'distribution'],
  ['distribution', 'olareg'],
] as const) {
  test.serial(`${from} → ${to}: an image with an SBOM and signatures arrives whole; a second run copies nothing`, async (t) => {
    const src = from === 'olareg' ? olareg : distribution;
    const dst = to === 'olareg' ? olareg : distribution;
    const { source, destination } = repositories(t, src, dst);
    const seeded = await seedGraph(src, source);

    const report = await copyImage(source, destination, 'v1');
    t.is(report.subject.digest, seeded.subject.digest);
    t.is(report.tag, 'v1');
    t.true(report.tagUpdated);
    t.deepEqual(actions(report), { copied: report.objects.length });
    const referrers = report.objects.filter((o) => o.kind === 'referrer').map((o) => o.descriptor.digest);
    t.deepEqual(referrers.sort(), [seeded.sbom.digest, seeded.sbomSignature.digest, seeded.notationSignature].sort());
    // Every referrer is after its subject in the report (the write order).
    const position = new Map(report.objects.map((o, i) => [o.descriptor.digest, i]));
    for (const o of report.objects.filter((x) => x.kind === 'referrer'))
      t.true(position.get(o.parent!)! < position.get(o.descriptor.digest)!);

    // Same digests at the destination, found by vouch's discovery and by the real notation.
    t.is((await destination.resolve('v1')).digest, seeded.subject.digest);
    const [srcTree, dstTree] = await Promise.all([
      walkReferrers(source, seeded.subject.digest, { maxDepth: 3 }),
      walkReferrers(destination, seeded.subject.digest, { maxDepth: 3 }),
    ]);
    t.deepEqual(graphDigests(dstTree), graphDigests(srcTree));
    t.is(graphDigests(dstTree).length, 3);
    const listed = await notation.list(`${dst.host}/${destination.name}@${seeded.subject.digest}`);
    t.deepEqual(listed, [seeded.notationSignature]);

    const again = await copyImage(source, destination, 'v1');
    t.deepEqual(actions(again), { exists: again.objects.length });
    t.is(again.totals.bytesCopied, 0);
    t.is(again.totals.copied, 0);
    t.false(again.tagUpdated);
  });
}

test.serial('a multi-platform index arrives with every platform (and a signature on the index)', async (t) => {
  const { source, destination } = repositories(t);
  const platforms = [buildImage(), buildImage(), buildImage()];
  for (const p of platforms) await pushManifest(source, p);
  const index = buildIndex(platforms);
  const subject = await pushManifest(source, index, 'multi');
  await pushReferrer(source, buildNotationSignature(subject));
  const child = await pushReferrer(source, buildSbomReferrer(platforms[1]!.descriptor));

  const report = await copyImage(source, destination, 'multi', { tag: 'promoted' });
  t.is(report.objects.filter((o) => o.kind === 'image').length, 3);
  t.is(report.objects.filter((o) => o.kind === 'referrer').length, 2);
  t.is(report.objects.filter((o) => o.kind === 'blob').length, 6 + 2 + 2 - 1); // the empty config is shared
  const position = new Map(report.objects.map((o, i) => [o.descriptor.digest, i]));
  for (const p of platforms) t.true(position.get(p.descriptor.digest)! < position.get(subject.digest)!);
  t.is((await destination.resolve('promoted')).digest, subject.digest);
  for (const p of platforms) t.true(await destination.hasManifest(p.descriptor.digest));
  const childReferrers = await destination.listReferrers(platforms[1]!.descriptor.digest);
  t.deepEqual(
    childReferrers.descriptors.map((d) => d.digest),
    [child.digest],
  );
});

test.serial('same registry, another repository: blobs are mounted, not copied', async (t) => {
  const client = clientFor([olareg, distribution]);
  try {
    for (const registry of [olareg, distribution]) {
      const source = client.repository(registry.host, repoName('src'));
      const destination = client.repository(registry.host, repoName('dst'));
      const image = buildImage({ layerBytes: 4096 });
      const subject = await pushManifest(source, image, 'v1');
      await pushReferrer(source, buildSbomReferrer(subject));
      const report = await copyImage(source, destination, 'v1');
      const blobs = report.objects.filter((o) => o.kind === 'blob');
      t.true(blobs.length >= 3);
      t.true(
        blobs.every((b) => b.action === 'mounted'),
        `${registry.kind}: ${blobs.map((b) => b.action).join(', ')}`,
      );
      t.is(report.totals.mounted, blobs.length);
      t.true(await destination.hasBlob(image.blobs[1]!.descriptor.digest));
    }
  } finally {
    await client.close();
  }
});

test.serial('--dry-run writes nothing and reports what it would copy', async (t) => {
  const { source, destination } = repositories(t);
  const image = buildImage();
  const subject = await pushManifest(source, image, 'v1');
  await pushReferrer(source, buildSbomReferrer(subject));
  const report = await copyImage(source, destination, 'v1', { dryRun: true });
  t.true(report.dryRun);
  t.deepEqual(actions(report), { 'would-copy': report.objects.length });
  t.true(report.totals.bytesCopied > 0);
  t.false(await destination.hasManifest(subject.digest));
  for (const b of image.blobs) t.false(await destination.hasBlob(b.descriptor.digest));
  await t.throwsAsync(destination.resolve('v1'), { instanceOf: VouchError, message: /not found/ });
});

test.serial('an interrupted copy pushes no manifest, and a re-run resumes', async (t) => {
  const { source, destination } = repositories(t);
  const image = buildImage({ layerBytes: 2 * 1024 * 1024 });
  const subject = await pushManifest(source, image, 'v1');
  const sbom = await pushReferrer(source, buildSbomReferrer(subject));
  const controller = new AbortController();
  const error = await t.throwsAsync(
    copyImage(source, destination, 'v1', {
      signal: controller.signal,
      concurrency: 1,
      onProgress: (p) => {
        if (p.objectsDone >= 1) controller.abort();
      },
    }),
  );
  t.true(error instanceof VouchError);
  t.is((error as VouchError).code, 'DEADLINE_EXCEEDED');
  t.false(await destination.hasManifest(subject.digest));
  t.false(await destination.hasManifest(sbom.digest));

  const resumed = await copyImage(source, destination, 'v1');
  t.true(resumed.objects.some((o) => o.action === 'exists'));
  t.true(resumed.objects.some((o) => o.action === 'copied'));
  t.is((await destination.resolve('v1')).digest, subject.digest);
  t.deepEqual(
    (await destination.listReferrers(subject.digest)).descriptors.map((d) => d.digest),
    [sbom.digest],
  );
});

test.serial('a re-run repairs a referrers tag index that lacks an already pushed referrer', async (t) => {
  const { source, destination } = repositories(t);
  const image = buildImage();
  const subject = await pushManifest(source, image, 'v1');
  const sbomManifest = buildSbomReferrer(subject);
  const sbom = await pushReferrer(source, sbomManifest);
  // What an interruption between the referrer's push and the index update leaves behind.
  await pushManifest(destination, image);
  await pushManifest(destination, sbomManifest);
  t.deepEqual((await destination.listReferrers(subject.digest)).descriptors, []);

  const report = await copyImage(source, destination, 'v1');
  const referrer = report.objects.find((o) => o.descriptor.digest === sbom.digest)!;
  t.is(referrer.action, 'exists');
  t.true(referrer.indexRepaired);
  t.deepEqual(
    (await destination.listReferrers(subject.digest)).descriptors.map((d) => d.digest),
    [sbom.digest],
  );
});

test.serial('a missing source is NOT_FOUND and nothing is written', async (t) => {
  const { source, destination } = repositories(t);
  const error = await t.throwsAsync(copyImage(source, destination, 'nope'), { instanceOf: VouchError });
  t.is(error?.code, 'NOT_FOUND');
});

test.serial('a large layer is streamed, never buffered (blob limit far below its size)', async (t) => {
  // 1 MiB buffered-blob limit: fetchBlob refuses the 20 MiB layer, the copy streams it.
  const { source, destination } = repositories(t, olareg, distribution, { maxBlobBytes: 1024 * 1024 });
  const image = buildImage({ layerBytes: 20 * 1024 * 1024 });
  const uploader = clientFor([olareg]);
  await pushManifest(uploader.repository(olareg.host, source.name), image, 'big');
  await uploader.close();
  const layer = image.blobs[1]!.descriptor;
  await t.throwsAsync(source.fetchBlob(layer), { instanceOf: VouchError, message: /limit/ });

  const heapBefore = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const report = await copyImage(source, destination, 'big', {
    onProgress: () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - heapBefore);
    },
  });
  t.is(report.totals.bytesCopied, image.blobs.reduce((s, b) => s + b.descriptor.size, 0) + image.bytes.length);
  t.true(await destination.hasBlob(layer.digest));
  t.true(peak < 16 * 1024 * 1024, `peak external memory ${peak}`);
});

test.serial('an OCI layout as the source', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-copy-layout-'));
  const client = clientFor([olareg]);
  try {
    const writer = await OciLayoutWriter.create(dir);
    const image = buildImage({ layerBytes: 3 * 1024 * 1024 });
    for (const b of image.blobs) await writer.writeBlob(b.bytes, b.descriptor.mediaType);
    await writer.writeManifest(image.bytes, image.descriptor.mediaType, { tag: 'demo.local/app:v1' });
    const sbom = buildSbomReferrer(image.descriptor);
    for (const b of sbom.blobs) await writer.writeBlob(b.bytes, b.descriptor.mediaType);
    await writer.writeManifest(sbom.bytes, sbom.descriptor.mediaType);
    const source: ContentSource = new LayoutRepository(await OciLayoutSource.open(dir), 'demo.local/app');
    const destination = client.repository(olareg.host, repoName('dst'));

    const report = await copyImage(source, destination, 'v1');
    t.is(report.subject.digest, image.descriptor.digest);
    t.is((await destination.resolve('v1')).digest, image.descriptor.digest);
    t.deepEqual(
      (await destination.listReferrers(image.descriptor.digest)).descriptors.map((d) => d.digest),
      [sbom.descriptor.digest],
    );
    t.deepEqual(actions(await copyImage(source, destination, 'v1')), { exists: report.objects.length });
  } finally {
    await client.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('a destination that grants pull only (docker-registry, token auth): REGISTRY_AUTH naming it, nothing pushed', async (t) => {
  const guarded = await startDistributionRegistry({
    auth: { kind: 'token', username: 'ci', password: 'secret', allowedActions: ['pull'] },
  });
  const tokenHost = new URL(guarded.tokenServer!.url).host;
  const client = new RegistryClient({
    hosts: {
      [olareg.host]: { plainHttp: true },
      [guarded.host]: { plainHttp: true, username: 'ci', password: 'secret' },
      [tokenHost]: { plainHttp: true },
    },
    egress: { mayReceiveCredentials: (host: string) => host === tokenHost },
  });
  try {
    const source = client.repository(olareg.host, repoName('src'));
    const image = buildImage();
    const subject = await pushManifest(source, image, 'v1');
    await pushReferrer(source, buildSbomReferrer(subject));
    const destination = client.repository(guarded.host, repoName('dst'));
    const error = await t.throwsAsync(copyImage(source, destination, 'v1'), { instanceOf: VouchError });
    t.is(error?.code, 'REGISTRY_AUTH');
    t.true(error!.message.includes(guarded.host), error!.message);
    t.false(await destination.hasManifest(subject.digest));
    // It asked for push and was granted none: every token request carried the credentials.
    t.true(guarded.tokenServer!.requests.some((r) => r.scope.some((s) => s.endsWith(':pull,push'))));
  } finally {
    await client.close();
    await guarded.stop();
  }
});

test.serial('same registry with token auth: the mount asks for pull on the source too, and mounts', async (t) => {
  const guarded = await startDistributionRegistry({ auth: { kind: 'token', username: 'ci', password: 'secret' } });
  const tokenHost = new URL(guarded.tokenServer!.url).host;
  const client = new RegistryClient({
    hosts: { [guarded.host]: { plainHttp: true, username: 'ci', password: 'secret' }, [tokenHost]: { plainHttp: true } },
    egress: { mayReceiveCredentials: (host: string) => host === tokenHost },
  });
  try {
    const source = client.repository(guarded.host, repoName('src'));
    const destination = client.repository(guarded.host, repoName('dst'));
    const image = buildImage();
    await pushManifest(source, image, 'v1');
    const report = await copyImage(source, destination, 'v1');
    t.deepEqual(
      report.objects.filter((o) => o.kind === 'blob').map((o) => o.action),
      ['mounted', 'mounted'],
    );
    t.true(
      guarded.tokenServer!.requests.some(
        (r) => r.scope.includes(`repository:${destination.name}:pull,push`) && r.scope.includes(`repository:${source.name}:pull`),
      ),
    );
  } finally {
    await client.close();
    await guarded.stop();
  }
});

test.serial('vouch promote between the two real registries (JSON), then `notation list` at the destination', async (t) => {
  const client = clientFor([olareg, distribution]);
  try {
    const source = client.repository(olareg.host, repoName('src'));
    const seeded = await seedGraph(olareg, source);
    const dst = `${distribution.host}/${repoName('dst')}`;
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const code = await promoteCommand(['--plain-http', '--output', 'json', `${olareg.host}/${source.name}:v1`, `${dst}:prod`], io, {
      env: {},
    });
    t.is(code, 0, err.join('\n'));
    const report = JSON.parse(out.join('\n')) as { destination: string; totals: { copied: number; objects: number } };
    t.is(report.destination, `${dst}:prod`);
    t.is(report.totals.copied, report.totals.objects);
    t.deepEqual(await notation.list(`${dst}@${seeded.subject.digest}`), [seeded.notationSignature]);
  } finally {
    await client.close();
  }
});

// Promotion throughput: `vouch promote`'s copy engine (plan the referrer graph, skip what exists,
// stream blobs with digest checks, keep the referrers tag index) next to a bare copy of the same
// objects with the HTTP client alone (undici: GET from the source, POST + monolithic PUT to the
// destination, no checks), measured in the same run, alternating, into fresh repositories.
// Two shapes: a few large layers (bytes-bound) and a multi-platform index with many small
// objects and referrers (round-trip-bound). Source docker-registry, destination olareg.

import { Agent, request } from 'undici';
import { RegistryClient, copyImage, type Descriptor } from '../src/oci/index.js';
import {
  buildImage,
  buildIndex,
  buildNotationSignature,
  buildSbomReferrer,
  pushManifest,
  pushReferrer,
  type BuiltManifest,
} from '../test/helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../test/helpers/registries.js';
import { printTable, summarize } from './stats.js';

const MiB = 1024 * 1024;

interface Shape {
  name: string;
  iterations: number;
  /** Objects in copy order: blobs before the manifests that name them, subjects before referrers. */
  blobs: Descriptor[];
  manifests: Descriptor[];
  bytes: number;
}

async function seed(source: RunningRegistry, repo: string, kind: 'large' | 'small'): Promise<Shape> {
  const client = new RegistryClient({ hosts: { [source.host]: { plainHttp: true } } });
  const r = client.repository(source.host, repo);
  const blobs = new Map<string, Descriptor>();
  const manifests: Descriptor[] = [];
  const push = async (m: BuiltManifest, tag?: string, referrer = false) => {
    for (const b of m.blobs) blobs.set(b.descriptor.digest, b.descriptor);
    manifests.push(referrer ? await pushReferrer(r, m) : await pushManifest(r, m, tag));
  };
  const withReferrers = async (subject: Descriptor) => {
    const sbom = buildSbomReferrer(subject);
    await push(sbom, undefined, true);
    await push(buildNotationSignature(subject), undefined, true);
    await push(buildNotationSignature(sbom.descriptor), undefined, true);
  };
  if (kind === 'large') {
    const image = buildImage({ layerBytes: 4 * MiB });
    // 16 layers of 4 MiB: rebuild the manifest around extra layers.
    const layers = [image.blobs[1]!, ...Array.from({ length: 15 }, () => buildImage({ layerBytes: 4 * MiB }).blobs[1]!)];
    const bytes = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: image.descriptor.mediaType,
        config: image.blobs[0]!.descriptor,
        layers: layers.map((l) => l.descriptor),
      }),
    );
    const { computeDigest } = await import('../src/core/index.js');
    const big: BuiltManifest = {
      descriptor: { mediaType: image.descriptor.mediaType, digest: computeDigest(bytes), size: bytes.length },
      bytes,
      blobs: [image.blobs[0]!, ...layers],
    };
    await push(big, 'v1');
    await withReferrers(big.descriptor);
  } else {
    const platforms = Array.from({ length: 4 }, () => buildImage({ layerBytes: 16 * 1024 }));
    for (const p of platforms) await push(p);
    const index = buildIndex(platforms);
    await push(index, 'v1');
    await withReferrers(index.descriptor);
    for (const p of platforms) await withReferrers(p.descriptor);
  }
  await client.close();
  const list = [...blobs.values()];
  return {
    name: kind === 'large' ? `1 image, 16 × 4 MiB layers + SBOM + 2 signatures` : `index of 4 platforms + 15 referrers`,
    iterations: kind === 'large' ? 6 : 12,
    blobs: list,
    manifests,
    bytes: list.reduce((n, b) => n + b.size, 0) + manifests.reduce((n, m) => n + m.size, 0),
  };
}

/** The same objects with undici alone: no planning, no existence checks, no digest checks. */
async function bareCopy(
  agent: Agent,
  from: RunningRegistry,
  to: RunningRegistry,
  srcRepo: string,
  dstRepo: string,
  shape: Shape,
): Promise<void> {
  const queue = [...shape.blobs];
  const worker = async () => {
    for (let b = queue.shift(); b !== undefined; b = queue.shift()) {
      const get = await request(`${from.url}/v2/${srcRepo}/blobs/${b.digest}`, { dispatcher: agent });
      const start = await request(`${to.url}/v2/${dstRepo}/blobs/uploads/`, { method: 'POST', dispatcher: agent });
      await start.body.dump();
      const location = new URL(String(start.headers['location']), to.url);
      location.searchParams.set('digest', b.digest);
      const put = await request(location, {
        method: 'PUT',
        dispatcher: agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(b.size) },
        body: get.body,
      });
      await put.body.dump();
      if (put.statusCode !== 201) throw new Error(`bare PUT ${b.digest}: ${put.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  for (const m of shape.manifests) {
    const get = await request(`${from.url}/v2/${srcRepo}/manifests/${m.digest}`, { dispatcher: agent, headers: { accept: m.mediaType } });
    const body = Buffer.from(await get.body.arrayBuffer());
    const put = await request(`${to.url}/v2/${dstRepo}/manifests/${m.digest}`, {
      method: 'PUT',
      dispatcher: agent,
      headers: { 'content-type': m.mediaType },
      body,
    });
    await put.body.dump();
    if (put.statusCode !== 201) throw new Error(`bare PUT manifest ${m.digest}: ${put.statusCode}`);
  }
}

export async function benchPromote(): Promise<void> {
  const [source, destination] = await Promise.all([startDistributionRegistry(), startReferrersRegistry()]);
  try {
    const rows: string[][] = [];
    for (const kind of ['large', 'small'] as const) {
      const srcRepo = `bench/${kind}`;
      const shape = await seed(source, srcRepo, kind);
      const client = new RegistryClient({ hosts: { [source.host]: { plainHttp: true }, [destination.host]: { plainHttp: true } } });
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      const times = { vouch: [] as number[], bare: [] as number[] };
      let run = 0;
      const variants = {
        vouch: async () => {
          const dst = client.repository(destination.host, `promoted/${kind}-v${run}`);
          const started = performance.now();
          const report = await copyImage(client.repository(source.host, srcRepo), dst, 'v1', {});
          const ms = performance.now() - started;
          if (report.totals.objects < shape.blobs.length + shape.manifests.length)
            throw new Error('promote copied fewer objects than seeded');
          return ms;
        },
        bare: async () => {
          const started = performance.now();
          await bareCopy(agent, source, destination, srcRepo, `promoted/${kind}-b${run}`, shape);
          return performance.now() - started;
        },
      };
      await variants.vouch();
      await variants.bare();
      for (run = 1; run <= shape.iterations; run++) {
        for (const name of run % 2 === 0 ? (['vouch', 'bare'] as const) : (['bare', 'vouch'] as const))
          times[name].push(await variants[name]());
      }
      await client.close();
      await agent.close();
      const objects = shape.blobs.length + shape.manifests.length;
      const v = summarize(times.vouch).p50;
      const b = summarize(times.bare).p50;
      const mbps = (ms: number) => (shape.bytes / MiB / (ms / 1000)).toFixed(1);
      const ops = (ms: number) => (objects / (ms / 1000)).toFixed(0);
      rows.push([
        shape.name,
        `${objects} / ${(shape.bytes / MiB).toFixed(1)} MiB`,
        `${v.toFixed(0)} ms`,
        `${mbps(v)} MB/s, ${ops(v)} obj/s`,
        `${b.toFixed(0)} ms`,
        `${mbps(b)} MB/s, ${ops(b)} obj/s`,
        `×${(v / b).toFixed(2)}`,
      ]);
    }
    console.log(
      '\nPromote throughput (docker-registry → olareg, fresh repository each run, p50): vouch promote vs bare undici copy of the same objects',
    );
    printTable([['shape', 'objects / size', 'promote', 'promote rate', 'bare', 'bare rate', 'ratio'], ...rows]);
  } finally {
    await Promise.all([source.stop(), destination.stop()]);
  }
}

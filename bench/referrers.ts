// Referrer discovery overhead: vouch's "list referrers + fetch one signature manifest + its
// envelope" against a loopback registry, next to the same HTTP requests made with a bare undici
// client in the same run (the ratio is vouch's overhead: parsing, validation, digest checks).
// Runs against olareg (Referrers API) and docker-registry (tag schema).

import { Agent, request } from 'undici';
import { RegistryClient, findSignatures, type ContentSource, type Descriptor } from '../src/oci/index.js';
import { buildImage, buildNotationSignature, pushManifest, pushReferrer } from '../test/helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../test/helpers/registries.js';
import { formatMs, measure, printTable, type Sample } from './stats.js';

const ITERATIONS = Number(process.env['BENCH_ITERATIONS'] ?? 300);
const REPO = 'bench/app';

interface Fixture {
  registry: RunningRegistry;
  subject: Descriptor;
  signature: Descriptor;
  envelope: Descriptor;
  /** The referrers listing path vouch settles on for this registry. */
  listingPath: string;
  listingAccept: string;
}

async function prepare(registry: RunningRegistry): Promise<Fixture> {
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  const repo = client.repository(registry.host, REPO);
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const signature = buildNotationSignature(image.descriptor);
  await pushReferrer(repo, signature);
  const listing = await repo.listReferrers(image.descriptor.digest);
  await client.close();
  const tagSchema = listing.via === 'tag-schema';
  return {
    registry,
    subject: image.descriptor,
    signature: signature.descriptor,
    envelope: signature.blobs[1]!.descriptor,
    listingPath: tagSchema
      ? `/v2/${REPO}/manifests/sha256-${image.descriptor.digest.slice(7)}`
      : `/v2/${REPO}/referrers/${image.descriptor.digest}`,
    listingAccept: 'application/vnd.oci.image.index.v1+json',
  };
}

async function vouchOnce(source: ContentSource, f: Fixture): Promise<void> {
  const found = await findSignatures(source, f.subject.digest, { concurrency: 1 });
  const manifest = found.artifacts[0]!.manifest.manifest;
  if (manifest.kind !== 'manifest') throw new Error('unexpected');
  await source.fetchBlob(manifest.layers[0]!);
}

/** The same requests vouch makes, with no checks: listing, signature manifest, cosign tag probe, envelope. */
async function bareOnce(dispatcher: Agent, f: Fixture, probeReferrersApi: boolean): Promise<void> {
  const get = async (path: string, accept?: string) => {
    const response = await request(`${f.registry.url}${path}`, { dispatcher, headers: accept ? { accept } : {} });
    return Buffer.from(await response.body.arrayBuffer());
  };
  if (probeReferrersApi) await get(`/v2/${REPO}/referrers/${f.subject.digest}`, f.listingAccept);
  JSON.parse((await get(f.listingPath, f.listingAccept)).toString());
  const accept =
    'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';
  JSON.parse((await get(`/v2/${REPO}/manifests/${f.signature.digest}`, accept)).toString());
  await get(`/v2/${REPO}/manifests/sha256-${f.subject.digest.slice(7)}.sig`, accept);
  await get(`/v2/${REPO}/blobs/${f.envelope.digest}`);
}

export async function benchReferrers(): Promise<void> {
  const registries = await Promise.all([startReferrersRegistry(), startDistributionRegistry()]);
  try {
    const rows: string[][] = [];
    for (const registry of registries) {
      const f = await prepare(registry);
      const tagSchema = f.listingPath.includes('/manifests/');

      // Warm: one long-lived client each (kept-alive connections, capability learnt).
      const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
      const source = client.repository(registry.host, REPO);
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      const warm = await measure(ITERATIONS, {
        vouch: () => vouchOnce(source, f),
        bare: () => bareOnce(agent, f, false),
      });
      await client.close();
      await agent.close();

      // Cold: a new client and new connections every time (capability probed again).
      const cold = await measure(Math.ceil(ITERATIONS / 3), {
        vouch: async () => {
          const c = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
          await vouchOnce(c.repository(registry.host, REPO), f);
          await c.close();
        },
        bare: async () => {
          const a = new Agent();
          await bareOnce(a, f, tagSchema);
          await a.close();
        },
      });
      rows.push(row(`${registry.kind} warm`, warm));
      rows.push(row(`${registry.kind} cold`, cold));
    }
    console.log(
      `\nReferrer discovery: list referrers + fetch 1 signature manifest + envelope (+ cosign .sig probe), ${ITERATIONS} iterations`,
    );
    printTable([['registry', 'vouch p50', 'vouch p95', 'bare p50', 'bare p95', 'ratio p50'], ...rows]);
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
  }
}

function row(name: string, samples: Record<'vouch' | 'bare', Sample>): string[] {
  const { vouch, bare } = samples;
  return [name, formatMs(vouch.p50), formatMs(vouch.p95), formatMs(bare.p50), formatMs(bare.p95), (vouch.p50 / bare.p50).toFixed(2)];
}

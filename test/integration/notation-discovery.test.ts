// Signatures written by the real notation CLI (v1.3.2: legacy manifest form, referrers tag schema
// maintained by default) are found by vouch on both real registries, and vouch finds exactly the
// set `notation list` reports.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { findSignatures, MEDIA_TYPE, RegistryClient } from '../../src/oci/index.js';
import { NotationCli } from '../helpers/notation.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';

let notation: NotationCli;
const registries: Record<string, RunningRegistry> = {};

test.before(async () => {
  const [cli, olareg, distribution] = await Promise.all([NotationCli.create(), startReferrersRegistry(), startDistributionRegistry()]);
  notation = cli;
  registries['olareg'] = olareg;
  registries['distribution'] = distribution;
});

test.after.always(async () => {
  await Promise.all([...Object.values(registries).map((r) => r.stop()), notation?.dispose()]);
});

for (const name of ['olareg', 'distribution']) {
  test(`${name}: JWS and COSE signatures made by notation sign are discovered, as notation list sees them`, async (t) => {
    const registry = registries[name]!;
    const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
    t.teardown(() => client.close());
    const repoName = `notation/${randomBytes(4).toString('hex')}`;
    const repo = client.repository(registry.host, repoName);
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const reference = `${registry.host}/${repoName}@${image.descriptor.digest}`;
    // On a Referrers API registry, sign as notation should be used there: through the API only.
    // (See the last test for what notation's default, the tag schema, does to olareg.)
    const extraArgs = name === 'olareg' ? ['--force-referrers-tag=false'] : [];
    await notation.sign(reference, { format: 'jws', extraArgs });
    await notation.sign(reference, { format: 'cose', extraArgs });

    const discovery = await findSignatures(repo, image.descriptor.digest);
    t.deepEqual(discovery.skipped, []);
    t.is(discovery.artifacts.length, 2);
    for (const artifact of discovery.artifacts) {
      t.is(artifact.kind, 'notation');
      t.is(artifact.descriptor.artifactType, MEDIA_TYPE.notarySignature);
      const manifest = artifact.manifest.manifest;
      if (manifest.kind !== 'manifest') return t.fail('notation signature is not an image manifest');
      // released notation writes the legacy form: config.mediaType carries the type, no artifactType
      t.is(manifest.artifactType, undefined);
      t.is(manifest.config.mediaType, MEDIA_TYPE.notarySignature);
      t.is(manifest.layers.length, 1);
      const envelope = await repo.fetchBlob(manifest.layers[0]!);
      t.true(envelope.length > 0);
    }
    t.deepEqual(
      discovery.artifacts.map((a) => a.manifest.manifest.kind === 'manifest' && a.manifest.manifest.layers[0]!.mediaType).sort(),
      [MEDIA_TYPE.cose, MEDIA_TYPE.jws],
    );
    t.deepEqual(discovery.artifacts.map((a) => a.descriptor.digest).sort(), (await notation.list(reference)).sort());
  });
}

test("olareg: with notation's default tag-schema writes, vouch sees exactly what notation list sees", async (t) => {
  // Registry quirk found here: when clients also rewrite the sha256-<hex> tag index on a registry
  // with the Referrers API, olareg v0.1.2 lists only the newest signature through the API, while
  // the tag index holds both. vouch, like notation and oras, trusts the API when a registry has
  // it, so both tools report the same single signature.
  const registry = registries['olareg']!;
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  t.teardown(() => client.close());
  const repoName = `notation/${randomBytes(4).toString('hex')}`;
  const repo = client.repository(registry.host, repoName);
  const image = buildImage();
  await pushManifest(repo, image, 'v1');
  const reference = `${registry.host}/${repoName}@${image.descriptor.digest}`;
  await notation.sign(reference, { format: 'jws' });
  await notation.sign(reference, { format: 'cose' });
  const discovery = await findSignatures(repo, image.descriptor.digest);
  t.is(discovery.via, 'referrers-api');
  t.deepEqual(discovery.artifacts.map((a) => a.descriptor.digest).sort(), (await notation.list(reference)).sort());
  t.true(discovery.artifacts.length >= 1);
});

// `vouch sign` and signImage against the two real registries (olareg with the Referrers API;
// distribution 2.8.2 without it, so the referrers tag index is written), checked by the real
// `notation verify`: every Notary key type, both envelope formats, signing twice, an RFC 3161
// timestamp from a test TSA, and bad keys / certificates / TSAs that must leave nothing pushed.

import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Digest } from '../../src/core/index.js';
import { signImage, type SigningIdentity } from '../../src/notation/index.js';
import { MEDIA_TYPE, referrersTag, RegistryClient, type Descriptor, type RegistryRepository } from '../../src/oci/index.js';
import { NotationCli } from '../helpers/notation.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { generateChain, NOTARY_KEY_SPECS, type GeneratedChain, type KeySpec } from '../helpers/pki.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import { startTsaServer, type TsaServer } from '../helpers/tsa-server.js';

type RegistryKind = 'olareg' | 'distribution';

interface World {
  registries: Record<RegistryKind, RunningRegistry>;
  client: RegistryClient;
  notation: NotationCli;
  chains: Map<KeySpec, GeneratedChain>;
  tsa: TsaServer;
  otherTsa: TsaServer;
  dir: string;
}

let world: World;
let counter = 0;

test.before(async () => {
  delete process.env['VOUCH_CONFIG'];
  const [olareg, distribution, notation, tsa, otherTsa, dir] = await Promise.all([
    startReferrersRegistry(),
    startDistributionRegistry(),
    NotationCli.create('vouch-sign-unused'),
    startTsaServer(),
    startTsaServer(),
    mkdtemp(join(tmpdir(), 'vouch-sign-')),
  ]);
  const chains = new Map<KeySpec, GeneratedChain>();
  // One root for all key types keeps notation's trust store small; leaves differ per key type.
  const first = await generateChain({ length: 2, leafKey: 'ec-p256' });
  chains.set('ec-p256', first);
  await Promise.all(
    NOTARY_KEY_SPECS.filter((spec) => spec !== 'ec-p256').map(async (spec) => {
      const chain = await generateChain({ length: 2, leafKey: spec });
      chains.set(spec, chain);
    }),
  );
  await notation.addTrustedCertificates(
    'ca',
    'vouch-sign',
    [...chains.values()].map((c) => c.root.certificate.toPem()),
  );
  await notation.addTrustedCertificates('tsa', 'vouch-tsa', [tsa.rootPem]);
  await notation.addTrustedCertificates('tsa', 'other-tsa', [otherTsa.rootPem]);
  const hosts = [olareg.host, distribution.host];
  await notation.setTrustPolicy({
    version: '1.0',
    trustPolicies: [
      {
        name: 'timestamped',
        registryScopes: hosts.map((h) => `${h}/sign/timestamped`),
        signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
        trustStores: ['ca:vouch-sign', 'tsa:vouch-tsa'],
        trustedIdentities: ['*'],
      },
      {
        name: 'timestamped-other-tsa',
        registryScopes: hosts.map((h) => `${h}/sign/timestamped-other-tsa`),
        signatureVerification: { level: 'strict', verifyTimestamp: 'always' },
        trustStores: ['ca:vouch-sign', 'tsa:other-tsa'],
        trustedIdentities: ['*'],
      },
      {
        name: 'default',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:vouch-sign'],
        trustedIdentities: ['*'],
      },
    ],
  });
  const client = new RegistryClient({ hosts: { [olareg.host]: { plainHttp: true }, [distribution.host]: { plainHttp: true } } });
  world = { registries: { olareg, distribution }, client, notation, chains, tsa, otherTsa, dir };
});

test.after.always(async () => {
  if (world === undefined) return;
  await Promise.allSettled([
    world.client.close(),
    world.registries.olareg.stop(),
    world.registries.distribution.stop(),
    world.notation.dispose(),
    world.tsa.stop(),
    world.otherTsa.stop(),
    rm(world.dir, { recursive: true, force: true }),
  ]);
});

function identity(spec: KeySpec): SigningIdentity {
  const chain = world.chains.get(spec)!;
  return { privateKey: chain.leaf.privateKey, certificateChain: chain.certificates, root: chain.root.certificate };
}

/** A fresh image in `repo` of the registry, pushed under tag v1. */
async function freshImage(kind: RegistryKind, repo = `sign/image-${counter++}`) {
  const registry = world.registries[kind];
  const repository = world.client.repository(registry.host, repo);
  const image = buildImage();
  const descriptor = await pushManifest(repository, image, 'v1');
  return { repository, descriptor, reference: `${registry.host}/${repo}@${descriptor.digest}`, tagged: `${registry.host}/${repo}:v1` };
}

async function notationVerifies(t: ExecutionContext, reference: string): Promise<void> {
  const result = await world.notation.verify(reference);
  t.is(result.code, 0, `notation verify ${reference}: ${result.stderr}${result.stdout}`);
}

async function referrerDigests(repository: RegistryRepository, subject: Digest): Promise<string[]> {
  return (await repository.listReferrers(subject)).descriptors.map((d) => d.digest);
}

/** The referrers tag index of `subject`, or undefined when there is none. */
async function tagIndex(repository: RegistryRepository, subject: Digest): Promise<Descriptor[] | undefined> {
  try {
    const fetched = await repository.fetchManifest(referrersTag(subject));
    return fetched.manifest.kind === 'index' ? fetched.manifest.manifests : [];
  } catch (error) {
    if ((error as { code?: string }).code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

// ---- every key type, both envelopes, both registries ---------------------------------------------

const MATRIX: Array<{ registry: RegistryKind; format: 'jws' | 'cose'; key: KeySpec }> = [
  ...NOTARY_KEY_SPECS.map((key) => ({ registry: 'olareg' as const, format: 'jws' as const, key })),
  ...NOTARY_KEY_SPECS.map((key) => ({ registry: 'distribution' as const, format: 'cose' as const, key })),
  { registry: 'olareg', format: 'cose', key: 'ec-p384' },
  { registry: 'distribution', format: 'jws', key: 'rsa-3072' },
];

for (const { registry, format, key } of MATRIX) {
  test(`${registry}, ${format}, ${key}: notation verify accepts what vouch signed`, async (t) => {
    const { repository, descriptor, reference } = await freshImage(registry);
    const signed = await signImage(repository, descriptor, { signer: identity(key), format });
    t.is(signed.envelopeMediaType, format === 'jws' ? MEDIA_TYPE.jws : MEDIA_TYPE.cose);
    t.is(signed.via, registry === 'olareg' ? 'referrers-api' : 'tag-schema');
    // The OCI 1.1 form: artifactType and the empty config.
    const manifest = (await repository.fetchManifest(signed.descriptor)).manifest;
    t.is(manifest.kind, 'manifest');
    if (manifest.kind === 'manifest') {
      t.is(manifest.artifactType, MEDIA_TYPE.notarySignature);
      t.is(manifest.config.mediaType, MEDIA_TYPE.ociEmpty);
      t.is(manifest.subject?.digest, descriptor.digest);
    }
    t.deepEqual(await referrerDigests(repository, descriptor.digest), [signed.descriptor.digest]);
    const index = await tagIndex(repository, descriptor.digest);
    if (registry === 'distribution')
      t.deepEqual(
        index?.map((d) => d.digest),
        [signed.descriptor.digest],
      );
    else t.is(index, undefined, 'olareg indexes the subject itself: no referrers tag needed');
    await notationVerifies(t, reference);
  });
}

test('an unsigned image does not verify with notation (the check can fail)', async (t) => {
  const { reference } = await freshImage('olareg');
  t.not((await world.notation.verify(reference)).code, 0);
});

// ---- signing twice ------------------------------------------------------------------------------

for (const registry of ['olareg', 'distribution'] as const) {
  test(`${registry}: signing twice keeps both signatures listed`, async (t) => {
    const { repository, descriptor, reference } = await freshImage(registry);
    const first = await signImage(repository, descriptor, { signer: identity('ec-p256'), format: 'jws' });
    const second = await signImage(repository, descriptor, { signer: identity('rsa-2048'), format: 'cose' });
    t.not(first.descriptor.digest, second.descriptor.digest);
    t.deepEqual((await referrerDigests(repository, descriptor.digest)).sort(), [first.descriptor.digest, second.descriptor.digest].sort());
    if (registry === 'distribution') {
      const index = await tagIndex(repository, descriptor.digest);
      t.deepEqual(index?.map((d) => d.digest).sort(), [first.descriptor.digest, second.descriptor.digest].sort());
    }
    const listed = await world.notation.list(reference);
    t.deepEqual(listed.sort(), [first.descriptor.digest, second.descriptor.digest].sort());
    await notationVerifies(t, reference);
  });
}

// ---- the CLI ------------------------------------------------------------------------------------

interface CliResult {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['sign', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Key and chain files for one of the world's chains, or for a chain a test generated; either file may be replaced. */
async function pemFiles(
  source: KeySpec | GeneratedChain,
  options: { key?: string; cert?: string } = {},
): Promise<{ key: string; cert: string }> {
  const chain = typeof source === 'string' ? world.chains.get(source)! : source;
  const id = counter++;
  const key = join(world.dir, `key-${id}.pem`);
  const cert = join(world.dir, `chain-${id}.pem`);
  await writeFile(key, options.key ?? (chain.leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
  await writeFile(cert, options.cert ?? chain.chain.map((c) => c.certificate.toPem()).join(''));
  return { key, cert };
}

for (const registry of ['olareg', 'distribution'] as const) {
  test(`${registry}: vouch sign by tag signs the digest; json output names the route`, async (t) => {
    const { repository, descriptor, reference, tagged } = await freshImage(registry);
    const files = await pemFiles('ec-p256');
    const result = await cli([
      '--key',
      files.key,
      '--cert',
      files.cert,
      '--plain-http',
      '--expiry',
      '72h',
      '--annotation',
      'org.example.env=staging',
      '--user-metadata',
      'buildId=42',
      '--output',
      'json',
      tagged,
    ]);
    t.is(result.code, 0, result.err);
    const report = JSON.parse(result.out) as { subject: Descriptor; signature: Descriptor; via: string; referrersTag?: string };
    t.is(report.subject.digest, descriptor.digest);
    t.is(report.via, registry === 'olareg' ? 'referrers-api' : 'tag-schema');
    t.is(report.referrersTag, registry === 'distribution' ? referrersTag(descriptor.digest) : undefined);
    t.deepEqual(await referrerDigests(repository, descriptor.digest), [report.signature.digest]);
    const manifest = (await repository.fetchManifest(report.signature)).manifest;
    t.is(manifest.kind === 'manifest' ? manifest.annotations?.['org.example.env'] : undefined, 'staging');
    await notationVerifies(t, reference);
    // notation checks signed user metadata too: present verifies, a different value does not
    t.is((await world.notation.run(['verify', '--insecure-registry', '--user-metadata', 'buildId=42', reference])).code, 0);
    t.not((await world.notation.run(['verify', '--insecure-registry', '--user-metadata', 'buildId=43', reference])).code, 0);
  });
}

test('vouch sign text output says where the signature went', async (t) => {
  const { reference } = await freshImage('distribution');
  const files = await pemFiles('ec-p384');
  const result = await cli(['--key', files.key, '--cert', files.cert, '--plain-http', '--envelope', 'cose', reference]);
  t.is(result.code, 0, result.err);
  t.regex(
    result.out,
    /^Signed .*@sha256:[a-f0-9]{64}\n  signature sha256:[a-f0-9]{64} \(cose\)\n  referrer: the referrers tag index sha256-[a-f0-9]{64} was updated/,
  );
});

// ---- bad input: clear errors, nothing pushed ----------------------------------------------------

const BAD_INPUTS: Array<{ name: string; files: () => Promise<{ key: string; cert: string }>; reason: string }> = [
  {
    name: 'a key not matching the certificate',
    files: async () =>
      pemFiles('ec-p256', { key: world.chains.get('ec-p384')!.leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }),
    reason: 'BAD_KEY',
  },
  {
    name: 'an encrypted key',
    files: async () =>
      pemFiles('ec-p256', {
        key: world.chains
          .get('ec-p256')!
          .leaf.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
      }),
    reason: 'BAD_KEY',
  },
  {
    name: 'an RSA 1024 key',
    files: async () => pemFiles(await generateChain({ length: 2, leafKey: 'rsa-1024' })),
    reason: 'BAD_KEY',
  },
  {
    name: 'an Ed25519 key',
    files: async () => pemFiles(await generateChain({ length: 2, leafKey: 'ed25519' })),
    reason: 'BAD_KEY',
  },
  {
    name: 'a certificate without the codeSigning EKU',
    files: async () => pemFiles(await generateChain({ length: 2, leaf: { extendedKeyUsage: { usages: ['1.3.6.1.5.5.7.3.1'] } } })),
    reason: 'BAD_CONTENT',
  },
  {
    name: 'a missing key file',
    files: async () => ({ ...(await pemFiles('ec-p256')), key: join(world.dir, 'missing.pem') }),
    reason: 'NOT_FOUND',
  },
];

for (const registry of ['olareg', 'distribution'] as const) {
  for (const bad of BAD_INPUTS) {
    test(`${registry}: ${bad.name}: exit 2, INVALID_INPUT, nothing pushed`, async (t) => {
      const { repository, descriptor, reference } = await freshImage(registry);
      const files = await bad.files();
      const result = await cli(['--key', files.key, '--cert', files.cert, '--plain-http', reference]);
      t.is(result.code, 2, result.err);
      t.regex(result.err, /^vouch sign: INVALID_INPUT: /);
      t.deepEqual(await referrerDigests(repository, descriptor.digest), []);
      t.is(await tagIndex(repository, descriptor.digest), undefined);
      // the reason, through the library
      const { loadSigningIdentity } = await import('../../src/notation/index.js');
      const error = await t.throwsAsync(loadSigningIdentity(files.key, files.cert));
      t.is((error as { reason?: string }).reason, bad.reason);
    });
  }
}

// ---- RFC 3161 timestamps ------------------------------------------------------------------------

for (const [registry, format] of [
  ['olareg', 'jws'],
  ['distribution', 'cose'],
] as const) {
  test(`${registry}, ${format}: a timestamped signature verifies with notation (verifyTimestamp always)`, async (t) => {
    const { repository, descriptor, reference } = await freshImage(registry, 'sign/timestamped');
    const rootFile = join(world.dir, `tsa-root-${counter++}.pem`);
    await writeFile(rootFile, world.tsa.rootPem);
    const files = await pemFiles('rsa-2048');
    const before = world.tsa.requests.length;
    const result = await cli([
      '--key',
      files.key,
      '--cert',
      files.cert,
      '--plain-http',
      '--envelope',
      format,
      '--timestamp-url',
      world.tsa.url.href,
      '--timestamp-root',
      rootFile,
      reference,
    ]);
    t.is(result.code, 0, result.err);
    t.regex(result.out, /timestamped/);
    t.true(world.tsa.requests.length > before, 'the TSA was asked');
    t.is((await referrerDigests(repository, descriptor.digest)).length, 1);
    await notationVerifies(t, reference);
    const inspect = await world.notation.run(['inspect', '--insecure-registry', '--output', 'json', reference]);
    t.regex(inspect.stdout, /timestamp/i);
  });
}

test('a timestamp from a TSA notation does not trust fails notation verify (the TSA check is real)', async (t) => {
  const { repository, descriptor } = await freshImage('olareg', 'sign/timestamped-other-tsa');
  await signImage(repository, descriptor, {
    signer: identity('ec-p256'),
    format: 'jws',
    timestamp: { url: world.tsa.url, roots: [world.tsa.root.certificate] },
  });
  const reference = `${world.registries.olareg.host}/sign/timestamped-other-tsa@${descriptor.digest}`;
  const result = await world.notation.run(['verify', '--insecure-registry', '-d', reference]);
  t.not(result.code, 0);
  // refused for the timestamp's trust, not for anything else
  t.regex(result.stderr, /authenticTimestamp validation failed.*certificate signed by unknown authority/);
});

for (const registry of ['olareg', 'distribution'] as const) {
  test(`${registry}: a TSA answering garbage, or a token not chaining to --timestamp-root: exit 1, nothing pushed`, async (t) => {
    const { repository, descriptor, reference } = await freshImage(registry);
    const files = await pemFiles('ec-p256');
    const wrongRoot = join(world.dir, `wrong-root-${counter++}.pem`);
    await writeFile(wrongRoot, world.otherTsa.rootPem);
    const untrusted = await cli([
      '--key',
      files.key,
      '--cert',
      files.cert,
      '--plain-http',
      '--timestamp-url',
      world.tsa.url.href,
      '--timestamp-root',
      wrongRoot,
      reference,
    ]);
    t.is(untrusted.code, 1);
    t.regex(untrusted.err, /^vouch sign: UNTRUSTED_SIGNER: timestamp authority /);

    const garbage = await startTsaServer('garbage');
    try {
      const rootFile = join(world.dir, `garbage-root-${counter++}.pem`);
      await writeFile(rootFile, garbage.rootPem);
      const result = await cli([
        '--key',
        files.key,
        '--cert',
        files.cert,
        '--plain-http',
        '--timestamp-url',
        garbage.url.href,
        '--timestamp-root',
        rootFile,
        reference,
      ]);
      t.is(result.code, 1);
      t.regex(result.err, /^vouch sign: INVALID_SIGNATURE: timestamp authority /);
    } finally {
      await garbage.stop();
    }
    t.deepEqual(await referrerDigests(repository, descriptor.digest), []);
    t.is(await tagIndex(repository, descriptor.digest), undefined);
  });
}

// ---- credentials from the configuration ---------------------------------------------------------

test('with --config, credentials and plainHttp come from its registries section (htpasswd registry)', async (t) => {
  const registry = await startDistributionRegistry({ auth: { kind: 'htpasswd', username: 'signer', password: 's3cret' } });
  try {
    const authed = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true, username: 'signer', password: 's3cret' } } });
    const repository = authed.repository(registry.host, 'sign/config');
    const descriptor = await pushManifest(repository, buildImage(), 'v1');
    const files = await pemFiles('ec-p256');
    const config = join(world.dir, `vouch-${counter++}.yaml`);
    await writeFile(
      config,
      [
        'environments:',
        `  prod: { trustPolicy: "${world.notation.trustPolicyPath}", trustStore: "${world.notation.trustStoreDir}" }`,
        'registries:',
        `  "${registry.host}": { plainHttp: true, username: signer, password: s3cret }`,
        '',
      ].join('\n'),
    );
    const reference = `${registry.host}/sign/config:v1`;
    // Without the config: no credentials, refused.
    const anonymous = await cli(['--key', files.key, '--cert', files.cert, '--plain-http', reference]);
    t.is(anonymous.code, 1);
    t.regex(anonymous.err, /^vouch sign: REGISTRY_AUTH: /);
    const result = await cli(['--key', files.key, '--cert', files.cert, '--config', config, '--output', 'json', reference]);
    t.is(result.code, 0, result.err);
    const report = JSON.parse(result.out) as { signature: Descriptor; via: string };
    t.is(report.via, 'tag-schema');
    t.deepEqual(await referrerDigests(repository, descriptor.digest), [report.signature.digest]);
    await authed.close();
  } finally {
    await registry.stop();
  }
});

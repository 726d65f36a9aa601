// `vouch promote --sign-for ENV` end to end (issue 15 "Tests"): real registries both ways (olareg with
// the Referrers API → Debian's docker-registry without it, and back), signatures made by the real
// notation CLI, the promoted image checked at the destination by `notation list`/`notation verify` and
// by a real `vouch serve` process over HTTPS (/v1/verify). Two environments, each trusting only its own
// generated identity (prod: key P, staging: key S), with trust policies scoped to the destination
// repositories, and a third (qa) that trusts neither. Then what must be refused before any write:
// a key the environment does not trust, a destination no trust policy covers, bad flags and keys.

import test, { type ExecutionContext } from 'ava';
import { createServer, type Server } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { computeDigest, type Digest } from '../../src/core/index.js';
import { generateSigningIdentity, type SigningIdentity } from '../../src/notation/identity-generation.js';
import { MEDIA_TYPE, RegistryClient, type Descriptor } from '../../src/oci/index.js';
import { NotationCli } from '../helpers/notation.js';
import { buildImage, buildSbomReferrer, pushManifest, pushReferrer, type BuiltManifest } from '../helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';
import { codeOf, HttpsClient, startVouch, type VerificationResultJson, type VouchProcess } from './support/vouch-process.js';

const RUN = uniqueId();
const QA_SIGNER = 'CN=qa,O=Acme Rockets,ST=WA,C=US';

let olareg: RunningRegistry;
let distribution: RunningRegistry;
let notation: NotationCli;
let ws: Workspace;
let tls: TlsMaterial;
let vouch: VouchProcess;
let https: HttpsClient;
let client: RegistryClient;
let configFile = '';
/** PEM files of the signing identities: prod (P), staging (S), and P's key with S's chain. */
const keyFiles: Record<'prod' | 'staging', { key: string; cert: string }> = {
  prod: { key: '', cert: '' },
  staging: { key: '', cert: '' },
};

const registryOf = (kind: 'olareg' | 'distribution') => (kind === 'olareg' ? olareg : distribution);

/** Destination repositories (host/repository) that prod's and staging's trust policies cover. */
function destinations() {
  return {
    toDistribution: `${distribution.host}/prod-${RUN}/api`,
    toOlareg: `${olareg.host}/prod-${RUN}/api`,
    multi: `${distribution.host}/prod-${RUN}/multi`,
    refusedOlareg: `${olareg.host}/prod-${RUN}/refused`,
    refusedDistribution: `${distribution.host}/prod-${RUN}/refused`,
    dryRun: `${distribution.host}/prod-${RUN}/dry`,
  };
}

interface Seeded {
  /** host/repo:v1 */
  reference: string;
  image: BuiltManifest;
  sbom: BuiltManifest;
  /** notation's signature on the image and on the SBOM (key S). */
  imageSignature: Digest;
  sbomSignature: Digest;
}
const sources: Partial<Record<'olareg' | 'distribution', Seeded>> = {};

/** An image with an SBOM, the real notation's signatures (key S) on both, pushed to `registry`. */
async function seed(registry: RunningRegistry): Promise<Seeded> {
  const name = `src-${RUN}/api`;
  const repo = client.repository(registry.host, name);
  const image = buildImage();
  const subject = await pushManifest(repo, image, 'v1');
  const sbom = buildSbomReferrer(subject);
  await pushReferrer(repo, sbom);
  // On the Referrers API registry, through the API: notation 1.3 otherwise also writes the tag
  // schema (--force-referrers-tag defaults to true), and olareg's Referrers API answer then leaves
  // out the first signature of a subject that had no referrer yet (seen with the olareg in .tools).
  const extraArgs = registry.kind === 'olareg' ? ['--force-referrers-tag=false'] : [];
  await notation.sign(`${registry.host}/${name}@${subject.digest}`, { extraArgs });
  await notation.sign(`${registry.host}/${name}@${sbom.descriptor.digest}`, { extraArgs });
  const [imageSignature] = await notation.list(`${registry.host}/${name}@${subject.digest}`);
  const [sbomSignature] = await notation.list(`${registry.host}/${name}@${sbom.descriptor.digest}`);
  if (imageSignature === undefined || sbomSignature === undefined)
    throw new Error(`notation list at ${registry.kind} does not show the signatures it made (${imageSignature}, ${sbomSignature})`);
  return {
    reference: `${registry.host}/${name}:v1`,
    image,
    sbom,
    imageSignature: imageSignature as Digest,
    sbomSignature: sbomSignature as Digest,
  };
}

const pemChain = (identity: SigningIdentity) => identity.certificateChain.map((c) => `${c.toPem().trimEnd()}\n`).join('');
const pemKey = (identity: SigningIdentity) => identity.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

test.before(async () => {
  [olareg, distribution, notation, ws, tls] = await Promise.all([
    startReferrersRegistry(),
    startDistributionRegistry(),
    NotationCli.create(),
    createWorkspace(),
    createTlsMaterial(),
  ]);
  client = new RegistryClient({ hosts: { [olareg.host]: { plainHttp: true }, [distribution.host]: { plainHttp: true } } });
  const { prod, staging } = ws.identities;
  await mkdir(join(ws.dir, 'keys'));
  for (const [env, identity] of [
    ['prod', prod],
    ['staging', staging],
  ] as const) {
    keyFiles[env] = { key: join(ws.dir, 'keys', `${env}.key`), cert: join(ws.dir, 'keys', `${env}.crt`) };
    await writeFile(keyFiles[env].key, pemKey(identity), { mode: 0o600 });
    await writeFile(keyFiles[env].cert, pemChain(identity));
  }

  // The real notation signs the sources with key S; it verifies destinations with its own trust
  // store and policy, which trust P only, for the destination repositories only.
  const scopes = Object.values(destinations());
  await notation.useSigningKey('staging', pemKey(staging), pemChain(staging));
  await notation.addTrustedCertificates('ca', 'prod', [prod.root.toPem()]);
  await notation.setTrustPolicy({
    version: '1.0',
    trustPolicies: [
      {
        name: 'prod',
        registryScopes: scopes,
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:prod'],
        trustedIdentities: [trustedIdentity(SIGNERS.prod)],
      },
    ],
  });

  // vouch: prod trusts P, staging trusts S, both scoped to the destinations; qa trusts a third CA.
  await ws.writePolicy('prod', [
    { name: 'prod', registryScopes: scopes, trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
  await ws.writePolicy('staging', [
    { name: 'staging', registryScopes: scopes, trustStores: ['ca:staging'], trustedIdentities: [trustedIdentity(SIGNERS.staging)] },
  ]);
  const qa = await generateSigningIdentity({ subject: QA_SIGNER, rootSubject: 'CN=Acme QA CA,O=Acme Rockets,ST=WA,C=US' });
  const qaStore = join(ws.dir, 'truststore-qa');
  await mkdir(join(qaStore, 'x509', 'ca', 'qa'), { recursive: true });
  await writeFile(join(qaStore, 'x509', 'ca', 'qa', 'root.pem'), qa.root.toPem());
  const qaPolicy = join(ws.dir, 'trustpolicy.qa.json');
  await writeFile(
    qaPolicy,
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'qa',
          registryScopes: ['*'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:qa'],
          trustedIdentities: [trustedIdentity(QA_SIGNER)],
        },
      ],
    }),
  );
  configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: 15_000 },
    defaultEnvironment: 'prod',
    environments: {
      prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') },
      staging: { trustPolicy: ws.trustPolicy('staging'), trustStore: ws.trustStore('staging') },
      qa: { trustPolicy: qaPolicy, trustStore: qaStore },
    },
    registries: { [olareg.host]: { plainHttp: true }, [distribution.host]: { plainHttp: true } },
  });
  const seeding = (async () => {
    sources.olareg = await seed(olareg);
    sources.distribution = await seed(distribution);
  })();
  [vouch] = await Promise.all([startVouch({ configFile, tls }), seeding]);
  https = new HttpsClient(vouch.url, tls);
});

test.after.always(async () => {
  await https?.close();
  await vouch?.stop();
  await client?.close();
  await Promise.all([olareg?.stop(), distribution?.stop(), notation?.dispose(), ws?.remove()]);
});

interface Run {
  code: number;
  out: string;
  err: string;
}

/** `vouch promote --config <config> ARGS`, in-process through main() as a user runs it. */
async function promote(args: string[], config = configFile): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['promote', '--config', config, ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const signFor = (env: string, key: 'prod' | 'staging' = 'prod') => [
  '--sign-for',
  env,
  '--key',
  keyFiles[key].key,
  '--cert',
  keyFiles[key].cert,
];

interface PromoteJson {
  subject: Descriptor;
  objects: Array<{ kind: string; action: string; descriptor: Descriptor }>;
  totals: { objects: number; copied: number; mounted: number; exists: number };
  stamp?: { environment: string; action: string; signature?: { digest: string }; verified: boolean };
}

function parseJson(run: Run): PromoteJson {
  return JSON.parse(run.out) as PromoteJson;
}

/** host/repo → the repository handle on the matching test registry. */
function repositoryOf(reference: string) {
  const slash = reference.indexOf('/');
  return client.repository(reference.slice(0, slash), reference.slice(slash + 1));
}

/** /v1/verify of a real `vouch serve` for each environment: `verified` or the first reason's code. */
async function verdicts(reference: string, environments: string[]): Promise<{ codes: string[]; values: VerificationResultJson[] }> {
  const keys = environments.map((env) => `[${env}]${reference}`);
  const { items } = await https.verify(keys);
  return { codes: items.map(codeOf), values: items.map((i) => i.value as VerificationResultJson) };
}

/** The destination has nothing: the manifest HEAD is 404 and the repository has no tags. */
async function assertNothingWritten(t: ExecutionContext, reference: string, digest: Digest): Promise<void> {
  const slash = reference.indexOf('/');
  const [host, repo] = [reference.slice(0, slash), reference.slice(slash + 1)];
  const head = await fetch(`http://${host}/v2/${repo}/manifests/${digest}`, {
    method: 'HEAD',
    headers: { accept: `${MEDIA_TYPE.ociManifest}, ${MEDIA_TYPE.ociIndex}` },
  });
  t.is(head.status, 404, `manifest ${digest} at ${reference}`);
  const tags = await fetch(`http://${host}/v2/${repo}/tags/list`);
  if (tags.status === 200) t.deepEqual(((await tags.json()) as { tags?: string[] | null }).tags ?? [], [], `tags at ${reference}`);
  else t.is(tags.status, 404, `tags at ${reference}`);
}

/** What each direction's first run left, for its second run. */
const firstRun: Partial<Record<string, { prodSignature: string; destination: string }>> = {};

for (const [from, to] of [
  ['olareg', 'distribution'],
  ['distribution', 'olareg'],
] as const) {
  const label = `${from} → ${to}`;

  test.serial(`${label}: promote --sign-for prod arrives whole, found by notation and verified for prod and staging, not qa`, async (t) => {
    const src = sources[from]!;
    const dst = to === 'distribution' ? destinations().toDistribution : destinations().toOlareg;
    const run = await promote(['--output', 'json', ...signFor('prod'), src.reference, `${dst}:release`]);
    t.is(run.code, 0, run.err);
    const report = parseJson(run);
    const digest = src.image.descriptor.digest;
    t.is(report.subject.digest, digest);
    t.like(report.stamp, { environment: 'prod', action: 'signed', verified: true });
    const prodSignature = report.stamp!.signature!.digest;
    t.false([src.imageSignature, src.sbomSignature].includes(prodSignature as Digest));

    // Every object of the graph at the destination, same digests.
    const destination = repositoryOf(dst);
    t.is((await destination.resolve('release')).digest, digest);
    for (const manifest of [digest, src.sbom.descriptor.digest, src.imageSignature, src.sbomSignature, prodSignature as Digest])
      t.true(await destination.hasManifest(manifest), `manifest ${manifest}`);
    for (const b of [...src.image.blobs, ...src.sbom.blobs])
      t.true(await destination.hasBlob(b.descriptor.digest), `blob ${b.descriptor.digest}`);
    const referrers = report.objects.filter((o) => o.kind === 'referrer').map((o) => o.descriptor.digest);
    t.deepEqual(referrers.sort(), [src.sbom.descriptor.digest, src.imageSignature, src.sbomSignature].sort());
    for (const o of report.objects.filter((x) => x.kind !== 'blob')) t.true(await destination.hasManifest(o.descriptor.digest));

    // The real notation finds both signatures on the image and the one on the SBOM, and verifies
    // the image with its own trust store, which holds P's root only.
    t.deepEqual((await notation.list(`${dst}@${digest}`)).sort(), [src.imageSignature, prodSignature].sort());
    t.deepEqual(await notation.list(`${dst}@${src.sbom.descriptor.digest}`), [src.sbomSignature]);
    const verified = await notation.verify(`${dst}@${digest}`);
    t.is(verified.code, 0, verified.stderr);

    // vouch serve, from the registry: prod by the new signature, staging by S's that came along, qa by neither.
    const { codes, values } = await verdicts(`${dst}@${digest}`, ['prod', 'staging', 'qa']);
    t.deepEqual(codes, ['verified', 'verified', 'UNTRUSTED_SIGNER']);
    t.is(values[0]!.signatures.find((s) => s.verified)?.digest, prodSignature);
    t.is(values[1]!.signatures.find((s) => s.verified)?.digest, src.imageSignature);
    t.false(values[2]!.signatures.some((s) => s.verified));
    firstRun[label] = { prodSignature, destination: dst };
  });

  test.serial(`${label}: a second run copies nothing and pushes no second signature`, async (t) => {
    const src = sources[from]!;
    const first = firstRun[label];
    if (first === undefined) return t.fail('the first run did not complete');
    const digest = src.image.descriptor.digest;
    const before = await notation.list(`${first.destination}@${digest}`);
    const run = await promote(['--output', 'json', ...signFor('prod'), src.reference, `${first.destination}:release`]);
    t.is(run.code, 0, run.err);
    const report = parseJson(run);
    t.is(report.totals.copied, 0);
    t.is(report.totals.mounted, 0);
    t.true(report.objects.every((o) => o.action === 'exists'));
    t.like(report.stamp, { environment: 'prod', action: 'already-signed', verified: true });
    t.is(report.stamp!.signature!.digest, first.prodSignature);
    const after = await notation.list(`${first.destination}@${digest}`);
    t.is(after.length, 2);
    t.deepEqual(after.sort(), before.sort());
  });
}

test.serial('a multi-platform index (3 platforms) promoted with --sign-for prod: every platform there, verified for prod', async (t) => {
  const source = client.repository(olareg.host, `src-${RUN}/multi`);
  const platforms = [buildImage(), buildImage(), buildImage()];
  for (const p of platforms) await pushManifest(source, p);
  const architectures = ['amd64', 'arm64', 's390x'];
  const indexBytes = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: platforms.map((p, i) => ({ ...p.descriptor, platform: { architecture: architectures[i], os: 'linux' } })),
    }),
  );
  const index: BuiltManifest = {
    descriptor: { mediaType: MEDIA_TYPE.ociIndex, digest: computeDigest(indexBytes), size: indexBytes.length },
    bytes: indexBytes,
    blobs: [],
  };
  await pushManifest(source, index, 'multi');
  const dst = destinations().multi;

  const run = await promote(['--output', 'json', ...signFor('prod'), `${olareg.host}/${source.name}:multi`, dst]);
  t.is(run.code, 0, run.err);
  const report = parseJson(run);
  t.is(report.subject.digest, index.descriptor.digest);
  t.like(report.stamp, { action: 'signed', verified: true });
  const destination = repositoryOf(dst);
  t.is((await destination.resolve('multi')).digest, index.descriptor.digest);
  for (const p of platforms) {
    t.true(await destination.hasManifest(p.descriptor.digest), `platform ${p.descriptor.digest}`);
    for (const b of p.blobs) t.true(await destination.hasBlob(b.descriptor.digest));
  }
  const { codes } = await verdicts(`${dst}@${index.descriptor.digest}`, ['prod', 'qa']);
  t.deepEqual(codes, ['verified', 'UNTRUSTED_SIGNER']);
});

for (const [from, to] of [
  ['distribution', 'olareg'],
  ['olareg', 'distribution'],
] as const) {
  test.serial(`${from} → ${to}: the staging key with --sign-for prod is UNTRUSTED_SIGNER (NOT_ADMISSIBLE), nothing written`, async (t) => {
    const src = sources[from]!;
    const dst = to === 'olareg' ? destinations().refusedOlareg : destinations().refusedDistribution;
    const run = await promote([...signFor('prod', 'staging'), src.reference, dst]);
    t.is(run.code, 1);
    t.regex(run.err, /^vouch promote: UNTRUSTED_SIGNER \(NOT_ADMISSIBLE\): /m);
    await assertNothingWritten(t, dst, src.image.descriptor.digest);
  });
}

test.serial('a destination outside prod trust policy scopes is NO_TRUST_POLICY, nothing written', async (t) => {
  const src = sources.distribution!;
  const dst = `${olareg.host}/elsewhere-${RUN}/api`;
  const run = await promote([...signFor('prod'), src.reference, dst]);
  t.is(run.code, 1);
  t.regex(run.err, /^vouch promote: NO_TRUST_POLICY \(/m);
  await assertNothingWritten(t, dst, src.image.descriptor.digest);
});

test.serial('--dry-run --sign-for prod says "would sign" and writes nothing', async (t) => {
  const src = sources.olareg!;
  const dst = destinations().dryRun;
  const run = await promote(['--dry-run', ...signFor('prod'), src.reference, dst]);
  t.is(run.code, 0, run.err);
  t.regex(run.out, /^prod: would sign /m);
  const json = await promote(['--dry-run', '--output', 'json', ...signFor('prod'), src.reference, dst]);
  t.is(json.code, 0, json.err);
  const report = parseJson(json);
  t.like(report.stamp, { action: 'would-sign', verified: false });
  t.true(report.objects.every((o) => o.action === 'would-copy'));
  await assertNothingWritten(t, dst, src.image.descriptor.digest);
});

test.serial('bad usage exits 2: --sign-for an unknown environment, --key without --sign-for', async (t) => {
  const src = sources.olareg!;
  const dst = destinations().dryRun;
  const unknown = await promote([...signFor('nowhere'), src.reference, dst]);
  t.is(unknown.code, 2);
  t.true(unknown.err.includes('nowhere'), unknown.err);
  const keyOnly = await promote(['--key', keyFiles.prod.key, '--cert', keyFiles.prod.cert, src.reference, dst]);
  t.is(keyOnly.code, 2);
  t.true(keyOnly.err.includes('--sign-for'), keyOnly.err);
  await assertNothingWritten(t, dst, src.image.descriptor.digest);
});

test.serial('a key that does not match its certificate exits 2 before any registry is contacted', async (t) => {
  // A listener standing in for both registries, counting connections: none may arrive.
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const config = await ws.writeConfig(
    {
      defaultEnvironment: 'prod',
      environments: { prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') } },
      registries: { [host]: { plainHttp: true } },
    },
    'counting.yaml',
  );
  const run = await promote(
    ['--sign-for', 'prod', '--key', keyFiles.prod.key, '--cert', keyFiles.staging.cert, `${host}/src/api:v1`, `${host}/prod/api`],
    config,
  );
  t.is(run.code, 2, run.err);
  t.regex(run.err, /^vouch promote: INVALID_INPUT: /m);
  t.true(run.err.includes(keyFiles.prod.key), run.err);
  t.is(connections, 0);
});

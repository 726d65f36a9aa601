// cosign signatures end to end (issue 13 "Conformance"): images in both real registries (olareg with
// the Referrers API; CNCF distribution, Debian's docker-registry, without it) signed by the real
// cosign CLI offline (`cosign sign --key`, no transparency log: the legacy `.sig` tag, and the Sigstore
// bundle with `--new-bundle-format --registry-referrers-mode=oci-1-1`, which on a registry without the
// Referrers API cosign stores through the referrers tag schema), verified by a `vouch serve` process
// over /v1/verify, with `cosign verify` agreeing on each; an image signed by both notation (vouch's own
// signer) and cosign under an environment whose decision policy demands both kinds; and a legacy
// signature with a transparency log entry from an in-process Rekor (test/helpers/fake-rekor.ts),
// under `requireTlog` with a trusted root listing that log, and one listing another log.

import test from 'ava';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { keySigner, loadCosignPublicKey } from '../../src/cosign/index.js';
import { RegistryClient, type Descriptor } from '../../src/oci/index.js';
import type { RegistryRepository } from '../../src/oci/registry-client.js';
import { REPO_ROOT, startDistributionRegistry, startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';
import { startFakeRekor, trustedRootTlog, type FakeRekor } from '../helpers/fake-rekor.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';
import { codeOf, HttpsClient, startVouch, type VerificationResultJson, type VouchProcess } from './support/vouch-process.js';

const run = promisify(execFile);
const RUN = uniqueId();

/** How each test image is signed. */
const IMAGES = ['legacy', 'bundle', 'both', 'notation', 'unsigned', 'tlog'] as const;
type ImageName = (typeof IMAGES)[number];

/** The shipped decision policy demanding a verified signature of each kind (docs/policies.md). */
const BOTH_KINDS_POLICY = join(REPO_ROOT, 'examples', 'environment-policies', 'notation_and_cosign.rego');

let olareg: RunningRegistry;
let dist: RunningRegistry;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let https: HttpsClient;
let rekor: FakeRekor;
/**
 * cosign.key/cosign.pub (trusted), other.key/other.pub (another key), trusted_root.json (empty),
 * rekor.pub and trusted_root_rekor.json (the fake log's key), other_rekor.pub and trusted_root_other_log.json.
 */
let keysDir: string;
let trustedSigner: string;
const refs: Record<string, Record<ImageName, string>> = {};

/** Runs cosign offline: an isolated HOME/TMPDIR per call, no password, nothing from the outer environment. */
async function cosign(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const home = await mkdtemp(join(keysDir, 'home-'));
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, TMPDIR: home, COSIGN_PASSWORD: '', ...extraEnv };
  try {
    const { stdout, stderr } = await run(toolPath('cosign'), args, { cwd: keysDir, env, timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The fake Rekor's key, for cosign (pkg/cosign/tlog.go GetRekorPubs): it checks log entries with it instead of TUF. */
const rekorKeyEnv = (): Record<string, string> => ({ SIGSTORE_REKOR_PUBLIC_KEY: join(keysDir, 'rekor.pub') });

async function cosignSign(reference: string, form: 'legacy' | 'bundle' | 'tlog'): Promise<void> {
  const args = ['sign', '--key', 'cosign.key', '--allow-insecure-registry', '--yes'];
  const offline = [...args, '--tlog-upload=false'];
  // cosign 2.x gates the OCI 1.1 referrers mode behind COSIGN_EXPERIMENTAL.
  const answer =
    form === 'legacy'
      ? await cosign([...offline, reference])
      : form === 'tlog'
        ? await cosign([...args, '--rekor-url', rekor.url, '--tlog-upload=true', reference], rekorKeyEnv())
        : await cosign([...offline, '--new-bundle-format', '--registry-referrers-mode=oci-1-1', reference], {
            COSIGN_EXPERIMENTAL: '1',
          });
  if (answer.code !== 0) throw new Error(`cosign sign (${form}) ${reference} failed (${answer.code}):\n${answer.output}`);
}

/**
 * `cosign verify` with a public key and no transparency log. Bundles need `--new-bundle-format` and a
 * trusted root even for a key (an empty one does: nothing in it is used without a log or certificate).
 */
async function cosignVerify(
  reference: string,
  key: 'cosign.pub' | 'other.pub',
  form: 'legacy' | 'bundle',
): Promise<{ code: number; output: string }> {
  const args = ['verify', '--key', key, '--insecure-ignore-tlog=true', '--allow-insecure-registry'];
  if (form === 'bundle') args.push('--new-bundle-format', '--trusted-root', 'trusted_root.json');
  return cosign([...args, reference]);
}

async function prepareRegistry(registry: RunningRegistry): Promise<void> {
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  const prod = { privateKey: ws.identities.prod.privateKey, certificateChain: ws.identities.prod.certificateChain };
  try {
    const images = {} as Record<ImageName, string>;
    await Promise.all(
      IMAGES.map(async (name) => {
        const repository = `cosign-${RUN}/${name}`;
        const repo: RegistryRepository = client.repository(registry.host, repository);
        const subject: Descriptor = await pushImage(repo, 'v1');
        const reference = `${registry.host}/${repository}@${subject.digest}`;
        images[name] = reference;
        if (name === 'legacy' || name === 'both') await cosignSign(reference, 'legacy');
        if (name === 'bundle') await cosignSign(reference, 'bundle');
        if (name === 'tlog') await cosignSign(reference, 'tlog');
        if (name === 'notation' || name === 'both') await signAndPush(repo, subject, prod);
      }),
    );
    refs[registry.kind] = images;
  } finally {
    await client.close();
  }
}

test.before(async () => {
  [olareg, dist, tls, ws, rekor] = await Promise.all([
    startReferrersRegistry(),
    startDistributionRegistry(),
    createTlsMaterial(),
    createWorkspace(),
    startFakeRekor(),
  ]);
  keysDir = await mkdtemp(join(ws.dir, 'cosign-'));
  await cosign(['generate-key-pair']);
  await cosign(['generate-key-pair', '--output-key-prefix', 'other']);
  await writeFile(
    join(keysDir, 'trusted_root.json'),
    JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' }),
  );
  // Trusted roots (Sigstore trusted_root.json) listing the fake log's key, or another log's key.
  const validFrom = new Date(Date.now() - 3_600_000);
  const otherLog = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const otherLogKey = otherLog.export({ type: 'spki', format: 'der' });
  const rootWithTlog = (tlog: unknown): string =>
    JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [tlog] });
  await Promise.all([
    writeFile(join(keysDir, 'rekor.pub'), rekor.publicKeyPem),
    writeFile(join(keysDir, 'other_rekor.pub'), otherLog.export({ type: 'spki', format: 'pem' })),
    writeFile(join(keysDir, 'trusted_root_rekor.json'), rootWithTlog(trustedRootTlog(rekor, validFrom))),
    writeFile(
      join(keysDir, 'trusted_root_other_log.json'),
      rootWithTlog(trustedRootTlog({ url: 'http://127.0.0.1:9', publicKeyDer: otherLogKey }, validFrom)),
    ),
  ]);
  const trustedKey = join(keysDir, 'cosign.pub');
  trustedSigner = keySigner(loadCosignPublicKey(await readFile(trustedKey, 'utf8'), trustedKey));
  await Promise.all([prepareRegistry(olareg), prepareRegistry(dist)]);

  await ws.writePolicy('prod', [
    { name: 'prod', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
  const notary = { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') };
  const configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: 20_000 },
    defaultEnvironment: 'prod',
    environments: {
      prod: notary,
      cosign: { cosign: { keys: [trustedKey] } },
      'cosign-other': { cosign: { keys: [join(keysDir, 'other.pub')] } },
      'cosign-tlog': { cosign: { keys: [trustedKey], requireTlog: true, trustedRoot: join(keysDir, 'trusted_root_rekor.json') } },
      'cosign-tlog-other-log': {
        cosign: { keys: [trustedKey], requireTlog: true, trustedRoot: join(keysDir, 'trusted_root_other_log.json') },
      },
      either: { ...notary, cosign: { keys: [trustedKey] } },
      both: { ...notary, cosign: { keys: [trustedKey] }, policy: BOTH_KINDS_POLICY },
    },
    registries: { [olareg.host]: { plainHttp: true }, [dist.host]: { plainHttp: true } },
  });
  // The `.rego` policy is compiled at start by `opa build` from the PATH.
  const path = `${dirname(toolPath('opa'))}${delimiter}${process.env['PATH'] ?? ''}`;
  vouch = await startVouch({ configFile, tls, env: { PATH: path } });
  https = new HttpsClient(vouch.url, tls);
});

test.after.always(async () => {
  await https?.close();
  await vouch?.stop();
  await Promise.all([olareg?.stop(), dist?.stop(), rekor?.stop()]);
  await ws?.remove();
});

const REGISTRIES = ['olareg', 'distribution'] as const;

async function verify(environment: string, registry: string, image: ImageName): Promise<VerificationResultJson & { code: string }> {
  const key = `[${environment}]${refs[registry]![image]}`;
  const { items } = await https.verify([key]);
  const item = items[0];
  if (item === undefined) throw new Error(`no answer for ${key}`);
  if (item.value === undefined || typeof item.value !== 'object') throw new Error(`no result for ${key}: ${JSON.stringify(item)}`);
  return { ...item.value, code: codeOf(item) };
}

// cosign's two storage forms, for the trusted key and another: vouch and `cosign verify` agree.
for (const registry of REGISTRIES) {
  for (const form of ['legacy', 'bundle'] as const) {
    test(`${registry}: a cosign ${form} signature verifies for the environment trusting its key, UNTRUSTED_SIGNER for another key; cosign verify agrees`, async (t) => {
      const trusted = await verify('cosign', registry, form);
      t.is(trusted.code, 'verified', JSON.stringify(trusted));
      const reports = trusted.signatures.filter((s) => s.type === 'cosign');
      t.is(reports.length, 1, JSON.stringify(trusted.signatures));
      t.like(reports[0], { type: 'cosign', verified: true, signer: trustedSigner });

      const other = await verify('cosign-other', registry, form);
      t.is(other.code, 'UNTRUSTED_SIGNER', JSON.stringify(other));
      t.false(other.verified);
      t.false(other.signatures.some((s) => s.verified));

      const [withKey, withOther] = await Promise.all([
        cosignVerify(refs[registry]![form], 'cosign.pub', form),
        cosignVerify(refs[registry]![form], 'other.pub', form),
      ]);
      t.is(withKey.code, 0, withKey.output);
      t.not(withOther.code, 0, withOther.output);
    });
  }

  test(`${registry}: an unsigned image is NO_SIGNATURE for a cosign environment; cosign verify fails too`, async (t) => {
    t.is((await verify('cosign', registry, 'unsigned')).code, 'NO_SIGNATURE');
    t.not((await cosignVerify(refs[registry]!['unsigned'], 'cosign.pub', 'legacy')).code, 0);
  });
}

// Which environment answers what (both registries): the default combination accepts either kind, a
// notation-only environment does not look at cosign signatures, and the both-kinds policy demands both.
const outcomes: Array<[string, ImageName, string]> = [
  ['either', 'legacy', 'verified'],
  ['either', 'bundle', 'verified'],
  ['either', 'notation', 'verified'],
  ['either', 'both', 'verified'],
  ['either', 'unsigned', 'NO_SIGNATURE'],
  ['prod', 'legacy', 'NO_SIGNATURE'],
  ['prod', 'bundle', 'NO_SIGNATURE'],
  ['prod', 'notation', 'verified'],
  ['both', 'both', 'verified'],
  ['both', 'notation', 'POLICY_DENIED'],
  ['both', 'legacy', 'POLICY_DENIED'],
  ['both', 'unsigned', 'NO_SIGNATURE'],
];

for (const registry of REGISTRIES) {
  test(`${registry}: notation and cosign per environment (either kind by default, both under the both-kinds policy)`, async (t) => {
    const answers = await Promise.all(outcomes.map(async ([environment, image]) => (await verify(environment, registry, image)).code));
    t.deepEqual(
      answers.map((code, i) => `${outcomes[i]![0]}/${outcomes[i]![1]}: ${code}`),
      outcomes.map(([environment, image, expected]) => `${environment}/${image}: ${expected}`),
    );
  });

  test(`${registry}: an image signed by both kinds reports both; a missing kind is named in the denial`, async (t) => {
    const both = await verify('both', registry, 'both');
    t.true(both.verified);
    t.deepEqual(
      both.signatures
        .filter((s) => s.verified)
        .map((s) => s.type)
        .sort(),
      ['cosign', 'notation'],
    );
    t.is(both.signatures.find((s) => s.type === 'cosign')?.signer, trustedSigner);

    const notationOnly = await verify('both', registry, 'notation');
    t.false(notationOnly.verified);
    t.like(notationOnly.reasons[0], {
      code: 'POLICY_DENIED',
      message: 'no verified signature of kind cosign (required: one of each kind cosign, notation) (environment both)',
    });
    t.true(notationOnly.signatures.some((s) => s.type === 'notation' && s.verified));
    const cosignOnly = await verify('both', registry, 'legacy');
    t.false(cosignOnly.verified);
    t.like(cosignOnly.reasons[0], {
      code: 'POLICY_DENIED',
      message: 'no verified signature of kind notation (required: one of each kind cosign, notation) (environment both)',
    });
    t.true(cosignOnly.signatures.some((s) => s.type === 'cosign' && s.verified));
  });
}

// A transparency log entry: cosign uploads a hashedrekord to the (fake) Rekor and stores its SET in
// the `dev.sigstore.cosign/bundle` annotation; vouch checks it against the trusted root's log keys.
for (const registry of REGISTRIES) {
  test(`${registry}: a cosign signature with a log entry verifies under requireTlog with a trusted root listing the log, not with another log; cosign verify agrees`, async (t) => {
    // One hashedrekord per signed `tlog` image (one in each registry).
    t.is(rekor.entries.length, 2);

    const trusted = await verify('cosign-tlog', registry, 'tlog');
    t.is(trusted.code, 'verified', JSON.stringify(trusted));
    t.like(
      trusted.signatures.find((s) => s.type === 'cosign'),
      { type: 'cosign', verified: true, signer: trustedSigner },
    );

    const otherLog = await verify('cosign-tlog-other-log', registry, 'tlog');
    t.false(otherLog.verified, JSON.stringify(otherLog));
    t.is(otherLog.code, 'INVALID_SIGNATURE', JSON.stringify(otherLog));
    t.false(otherLog.signatures.some((s) => s.verified));

    // Without a log entry, requireTlog refuses the signature.
    const noEntry = await verify('cosign-tlog', registry, 'legacy');
    t.is(noEntry.code, 'UNTRUSTED_SIGNER', JSON.stringify(noEntry));

    const reference = refs[registry]!['tlog'];
    const args = ['verify', '--key', 'cosign.pub', '--rekor-url', rekor.url, '--allow-insecure-registry'];
    const [withKey, withOtherLog, withOther] = await Promise.all([
      cosign([...args, reference], rekorKeyEnv()),
      cosign([...args, reference], { SIGSTORE_REKOR_PUBLIC_KEY: join(keysDir, 'other_rekor.pub') }),
      cosign(['verify', '--key', 'other.pub', '--rekor-url', rekor.url, '--allow-insecure-registry', reference], rekorKeyEnv()),
    ]);
    t.is(withKey.code, 0, withKey.output);
    t.not(withOtherLog.code, 0, withOtherLog.output);
    t.not(withOther.code, 0, withOther.output);
    // cosign verified the entry offline from the annotation: nothing more was uploaded.
    t.is(rekor.entries.length, 2);
  });
}

// `vouch referrers --tree --config` against a real registry (olareg, Referrers API): the registry
// settings and the verdicts come from the configuration, through the same runtime `vouch serve` uses.
// An image signed for prod, an SBOM on it signed for staging; two environments each trusting its own CA.
// And an image signed by notation and by the real cosign CLI (`cosign sign --key`, the legacy `.sig`
// tag), under a notation-only and a cosign-only environment.

import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { keySigner, loadCosignPublicKey } from '../../src/cosign/index.js';
import { main } from '../../src/cli/main.js';
import { RegistryClient, type Descriptor } from '../../src/oci/index.js';
import { buildSbomReferrer, pushReferrer } from '../helpers/oci-fixtures.js';
import { startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';

let registry: RunningRegistry | undefined;
let ws: Workspace | undefined;
let reference = '';
const digests: Record<string, string> = {};

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

test.before(async () => {
  [registry, ws] = await Promise.all([startReferrersRegistry(), createWorkspace()]);
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  try {
    const name = `tree-${uniqueId()}/app`;
    const repo = client.repository(registry.host, name);
    const signer = (env: 'prod' | 'staging') => ({
      privateKey: ws!.identities[env].privateKey,
      certificateChain: ws!.identities[env].certificateChain,
    });
    const image: Descriptor = await pushImage(repo, 'v1');
    digests['image'] = image.digest;
    digests['imageSignature'] = (await signAndPush(repo, image, signer('prod'))).digest;
    const sbom = buildSbomReferrer(image);
    digests['sbom'] = (await pushReferrer(repo, sbom)).digest;
    digests['sbomSignature'] = (await signAndPush(repo, sbom.descriptor, signer('staging'), { format: 'cose' })).digest;
    reference = `${registry.host}/${name}:v1`;
  } finally {
    await client.close();
  }
  for (const env of ['prod', 'staging'] as const) {
    await ws.writePolicy(env, [
      { name: env, registryScopes: ['*'], trustStores: [`ca:${env}`], trustedIdentities: [trustedIdentity(SIGNERS[env])] },
    ]);
  }
});

test.after.always(async () => {
  await Promise.all([registry?.stop(), ws?.remove()]);
});

const environments = () => ({
  prod: { trustPolicy: ws!.trustPolicy('prod'), trustStore: ws!.trustStore('prod') },
  staging: { trustPolicy: ws!.trustPolicy('staging'), trustStore: ws!.trustStore('staging') },
});

interface VerdictJson {
  environment: string;
  status: string;
  signer?: string;
  code?: string;
}
interface NodeJson {
  kind: string;
  descriptor: { digest: string };
  verdicts?: VerdictJson[];
  referrers: NodeJson[];
}

const brief = (verdicts: VerdictJson[] | undefined) =>
  verdicts?.map((v) => `${v.environment}:${v.status === 'verified' ? 'verified' : v.code}`);

test('olareg with a config: plainHttp from the config, verdicts per environment for the image and the SBOM signatures', async (t) => {
  const config = await ws!.writeConfig(
    { defaultEnvironment: 'prod', environments: environments(), registries: { [registry!.host]: { plainHttp: true } } },
    'tree.yaml',
  );
  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', config, '--output', 'json', reference], c.io), 0, c.err.join('\n'));
  const report = JSON.parse(c.out.join('\n')) as { subject: { digest: string }; verdicts: VerdictJson[]; referrers: NodeJson[] };
  t.is(report.subject.digest, digests['image']!);
  t.deepEqual(brief(report.verdicts), ['prod:verified', 'staging:UNTRUSTED_SIGNER']);
  const byDigest = new Map<string, NodeJson>();
  const index = (nodes: NodeJson[]) =>
    nodes.forEach((n) => {
      byDigest.set(n.descriptor.digest, n);
      index(n.referrers);
    });
  index(report.referrers);
  t.deepEqual(brief(byDigest.get(digests['imageSignature']!)!.verdicts), ['prod:verified', 'staging:UNTRUSTED_SIGNER']);
  t.is(byDigest.get(digests['imageSignature']!)!.verdicts![0]!.signer, 'CN=release, O=Acme Rockets, ST=WA, C=US');
  t.deepEqual(brief(byDigest.get(digests['sbom']!)!.verdicts), ['prod:UNTRUSTED_SIGNER', 'staging:verified']);
  t.deepEqual(brief(byDigest.get(digests['sbomSignature']!)!.verdicts), ['prod:UNTRUSTED_SIGNER', 'staging:verified']);
  t.is(byDigest.get(digests['sbom']!)!.referrers[0]!.descriptor.digest, digests['sbomSignature']!);
});

test('olareg with a config that does not allow the registry: REGISTRY_NOT_ALLOWED, exit 1, nothing listed', async (t) => {
  const config = await ws!.writeConfig(
    {
      defaultEnvironment: 'prod',
      environments: environments(),
      registries: { [registry!.host]: { plainHttp: true } },
      allowedRegistries: ['registry.example.com'],
    },
    'tree-allowlist.yaml',
  );
  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', config, reference], c.io), 1);
  t.regex(c.err.join('\n'), /^vouch referrers: REGISTRY_NOT_ALLOWED: /);
  t.is(c.out.length, 0);
});

const run = promisify(execFile);

test('olareg with a config: a cosign signature (real cosign CLI) and a notation one, each verdict from the environment that trusts its kind', async (t) => {
  const keys = await mkdtemp(join(ws!.dir, 'cosign-'));
  // cosign offline: its own HOME, no password, nothing from the outer environment.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: keys, TMPDIR: keys, COSIGN_PASSWORD: '' };
  await run(toolPath('cosign'), ['generate-key-pair'], { cwd: keys, env, timeout: 30_000 });

  const client = new RegistryClient({ hosts: { [registry!.host]: { plainHttp: true } } });
  t.teardown(() => client.close());
  const name = `tree-${uniqueId()}/both`;
  const repo = client.repository(registry!.host, name);
  const image = await pushImage(repo, 'v1');
  const notation = await signAndPush(repo, image, {
    privateKey: ws!.identities.prod.privateKey,
    certificateChain: ws!.identities.prod.certificateChain,
  });
  const pinned = `${registry!.host}/${name}@${image.digest}`;
  await run(toolPath('cosign'), ['sign', '--key', 'cosign.key', '--allow-insecure-registry', '--yes', '--tlog-upload=false', pinned], {
    cwd: keys,
    env,
    timeout: 60_000,
  });
  const publicKey = join(keys, 'cosign.pub');
  const config = await ws!.writeConfig(
    {
      defaultEnvironment: 'prod',
      environments: { prod: environments().prod, cosign: { cosign: { keys: [publicKey] } } },
      registries: { [registry!.host]: { plainHttp: true } },
    },
    'tree-cosign.yaml',
  );

  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', config, '--output', 'json', pinned], c.io), 0, c.err.join('\n'));
  const report = JSON.parse(c.out.join('\n')) as { verdicts: VerdictJson[]; referrers: NodeJson[] };
  t.deepEqual(brief(report.verdicts), ['prod:verified', 'cosign:verified']);
  const cosignNode = report.referrers.find((n) => n.kind === 'cosign-legacy')!;
  const notationNode = report.referrers.find((n) => n.kind === 'notation')!;
  t.is(notationNode.descriptor.digest, notation.digest);
  t.deepEqual(
    cosignNode.verdicts!.map((v) => [v.environment, v.status]),
    [
      ['prod', 'not-evaluated'],
      ['cosign', 'verified'],
    ],
  );
  t.is(cosignNode.verdicts![1]!.signer, keySigner(loadCosignPublicKey(await readFile(publicKey, 'utf8'), publicKey)));
  t.deepEqual(
    notationNode.verdicts!.map((v) => [v.environment, v.status]),
    [
      ['prod', 'verified'],
      ['cosign', 'not-evaluated'],
    ],
  );

  const text = capture();
  t.is(await main(['referrers', '--tree', '--config', config, pinned], text.io), 0);
  t.true(text.out.join('\n').includes('prod:   not evaluated: environment "prod" has no cosign trust'), text.out.join('\n'));
});

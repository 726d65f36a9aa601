// `vouch referrers --tree` end to end through main(): the demo's content (an OCI layout standing in
// for registry demo.local, two environments) plus an SBOM on shop/web with a signature on that SBOM,
// verdicts from the real engine per environment; and the two real registries (olareg with the Referrers
// API, distribution without it) without a config.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { writeDemoContent, type DemoContent } from '../../src/cli/demo-content.js';
import { buildSignatureManifest, generateSigningIdentity, signEnvelope } from '../../src/notation/index.js';
import { MEDIA_TYPE, OciLayoutSource, OciLayoutWriter, RegistryClient, type Descriptor } from '../../src/oci/index.js';
import { buildImage, buildNotationSignature, buildSbomReferrer, pushManifest, pushReferrer } from '../helpers/oci-fixtures.js';
import { startDistributionRegistry, startReferrersRegistry } from '../helpers/registries.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

interface Fixture {
  demo: DemoContent;
  web: Descriptor;
  sbom: Descriptor;
  sbomSignature: Descriptor;
}

let fixture: Fixture | undefined;
let dir: string | undefined;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vouch-tree-'));
  const demo = await writeDemoContent(dir);
  const layoutDir = join(dir, 'registry-demo.local');
  const web = await (await OciLayoutSource.open(layoutDir)).resolve('demo.local/shop/web:1.0');
  const layout = await OciLayoutWriter.create(layoutDir);
  const sbom = buildSbomReferrer(web);
  for (const b of sbom.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
  await layout.writeManifest(sbom.bytes, sbom.descriptor.mediaType);
  // The SBOM is signed by a "release" identity whose CA only prod's trust store holds: prod's
  // policy trusts it, staging's store does not know the CA.
  const identity = await generateSigningIdentity({
    subject: 'CN=release,O=Acme Rockets,ST=WA,C=US',
    rootSubject: 'CN=Acme SBOM CA,O=Acme Rockets,ST=WA,C=US',
  });
  await writeFile(join(dir, 'truststore-prod', 'x509', 'ca', 'acme-prod', 'sbom-ca.pem'), identity.root.toPem());
  const envelope = signEnvelope({
    format: 'cose',
    privateKey: identity.privateKey,
    certificateChain: identity.certificateChain,
    payload: { targetArtifact: sbom.descriptor },
    signingTime: new Date(Date.now() - 60_000),
  });
  const signature = buildSignatureManifest(envelope, sbom.descriptor, { form: 'artifactType' });
  for (const b of signature.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
  await layout.writeManifest(signature.bytes, MEDIA_TYPE.ociManifest);
  // shop/cart gets a cosign `.sig` tag that is no cosign signature: a referrer discovery skips, with its code.
  const cart = await (await OciLayoutSource.open(layoutDir)).resolve('demo.local/shop/cart:0.9');
  const notASignature = buildImage();
  for (const b of notASignature.blobs) await layout.writeBlob(b.bytes, b.descriptor.mediaType);
  await layout.writeManifest(notASignature.bytes, notASignature.descriptor.mediaType, {
    tag: `demo.local/shop/cart:${cart.digest.replace(':', '-')}.sig`,
  });
  fixture = { demo, web, sbom: sbom.descriptor, sbomSignature: signature.descriptor };
});

test.after.always(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface VerdictJson {
  environment: string;
  status: string;
  signer?: string;
  code?: string;
}
interface NodeJson {
  kind: string;
  descriptor: Descriptor;
  via: string;
  verdicts?: VerdictJson[];
  referrers: NodeJson[];
}
interface TreeJson {
  environments: string[];
  subject: Descriptor;
  verdicts: VerdictJson[];
  referrers: NodeJson[];
  skipped: Array<{ code: string; reason: string }>;
}

const statusOf = (verdicts: VerdictJson[] | undefined) =>
  Object.fromEntries((verdicts ?? []).map((v) => [v.environment, v.status === 'verified' ? 'verified' : (v.code ?? v.status)]));

test('demo: the image signed for prod and staging verifies in both; the SBOM signature has its own verdicts', async (t) => {
  const f = fixture!;
  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', f.demo.configFile, '--output', 'json', 'demo.local/shop/web:1.0'], c.io), 0);
  const report = JSON.parse(c.out.join('\n')) as TreeJson;
  t.deepEqual(report.environments, ['prod', 'staging']);
  t.is(report.subject.digest, f.web.digest);
  t.deepEqual(statusOf(report.verdicts), { prod: 'verified', staging: 'verified' });

  const signatures = report.referrers.filter((n) => n.kind === 'notation');
  t.is(signatures.length, 2);
  // Each environment is satisfied by some signature the engine verified, with its signer.
  for (const env of ['prod', 'staging']) {
    const verified = signatures.flatMap((n) => n.verdicts ?? []).filter((v) => v.environment === env && v.status === 'verified');
    t.true(verified.length >= 1, env);
    t.true(
      verified.every((v) => /^CN=(release|ci-staging), O=Acme Rockets/.test(v.signer ?? '')),
      env,
    );
  }
  // prod does not trust the staging signer: where the engine checked that signature, it says so.
  for (const n of signatures) {
    const prod = n.verdicts!.find((v) => v.environment === 'prod')!;
    if (prod.signer?.startsWith('CN=ci-staging')) t.is(prod.code, 'UNTRUSTED_SIGNER');
  }

  const sbom = report.referrers.find((n) => n.kind === 'other')!;
  t.is(sbom.descriptor.digest, f.sbom.digest);
  t.deepEqual(statusOf(sbom.verdicts), { prod: 'verified', staging: sbom.verdicts![1]!.code! });
  t.not(sbom.verdicts![1]!.status, 'verified');
  const sbomSignature = sbom.referrers[0]!;
  t.is(sbomSignature.descriptor.digest, f.sbomSignature.digest);
  t.is(sbomSignature.verdicts![0]!.status, 'verified');
  t.is(sbomSignature.verdicts![0]!.signer, 'CN=release, O=Acme Rockets, ST=WA, C=US');
  t.is(sbomSignature.verdicts![1]!.status, 'not-verified');
  t.is(sbomSignature.verdicts![1]!.code, 'UNTRUSTED_SIGNER');
});

test('demo: the staging-only image is UNTRUSTED_SIGNER in prod and verified in staging, drawn as a tree', async (t) => {
  const f = fixture!;
  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', f.demo.configFile, 'demo.local/shop/api:2.3'], c.io), 0, c.err.join('\n'));
  const text = c.out.join('\n');
  const lines = text.split('\n');
  t.true(lines.includes('verdict  prod: UNTRUSTED_SIGNER; staging: verified'), text);
  const signatureLine = lines.findIndex((l) => l.startsWith('└─ notation  '));
  t.true(signatureLine > 0, text);
  t.regex(lines[signatureLine]!, /^└─ notation {2}application\/vnd\.cncf\.notary\.signature {2}sha256:[0-9a-f]{12} {2}oci-layout$/);
  t.is(lines[signatureLine + 1], '      prod:    UNTRUSTED_SIGNER (CN=ci-staging, O=Acme Rockets, ST=WA, C=US)');
  t.is(lines[signatureLine + 2], '      staging: verified (CN=ci-staging, O=Acme Rockets, ST=WA, C=US)');

  // --env narrows the environments asked.
  const s = capture();
  t.is(
    await main(
      ['referrers', '--tree', '--config', f.demo.configFile, '--env', 'staging', '--output', 'json', 'demo.local/shop/api:2.3'],
      s.io,
    ),
    0,
  );
  const report = JSON.parse(s.out.join('\n')) as TreeJson;
  t.deepEqual(report.environments, ['staging']);
  t.deepEqual(statusOf(report.referrers[0]!.verdicts), { staging: 'verified' });
});

test('demo: the flat table stays the default; a graph past --max-artifacts is an error, exit 1', async (t) => {
  const f = fixture!;
  const c = capture();
  t.is(await main(['referrers', '--config', f.demo.configFile, 'demo.local/shop/web:1.0'], c.io), 0);
  const text = c.out.join('\n');
  t.regex(text, /^KIND +ARTIFACT TYPE +DIGEST +FOUND VIA$/m);
  t.regex(text, /^found {4}4 referrer\(s\)$/m);
  t.false(text.includes('verified'));

  const capped = capture();
  t.is(await main(['referrers', '--tree', '--config', f.demo.configFile, '--max-artifacts', '3', 'demo.local/shop/web:1.0'], capped.io), 1);
  t.regex(capped.err.join('\n'), /REGISTRY_UNAVAILABLE: referrer graph of sha256:[0-9a-f]+ .* more than 3 artifacts/);
  t.is(capped.out.length, 0);
});

test('usage: --env needs a config and --tree; --layout does not go with --config; unknown environments are refused', async (t) => {
  const f = fixture!;
  const cases: string[][] = [
    ['--tree', '--env', 'prod', '--layout', join(dir!, 'registry-demo.local'), 'demo.local/shop/web:1.0'],
    ['--config', f.demo.configFile, '--env', 'prod', 'demo.local/shop/web:1.0'],
    ['--tree', '--config', f.demo.configFile, '--layout', join(dir!, 'registry-demo.local'), 'demo.local/shop/web:1.0'],
    ['--tree', '--config', f.demo.configFile, '--env', 'qa', 'demo.local/shop/web:1.0'],
    ['--tree', '--max-artifacts', '257', 'demo.local/shop/web:1.0'],
  ];
  for (const args of cases) {
    const c = capture();
    t.is(await main(['referrers', ...args], c.io), 2, args.join(' '));
  }
});

const REGISTRIES = [
  { name: 'olareg', start: startReferrersRegistry, via: 'referrers-api' },
  { name: 'distribution (no Referrers API)', start: startDistributionRegistry, via: 'tag-schema' },
] as const;

for (const { name, start, via } of REGISTRIES) {
  test(`${name} without a config: the tree of an image with signatures, an SBOM and a signature on the SBOM`, async (t) => {
    const registry = await start();
    t.teardown(() => registry.stop());
    const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
    t.teardown(() => client.close());
    const repo = client.repository(registry.host, 'vouch/tree');
    const image = buildImage();
    await pushManifest(repo, image, 'v1');
    const signature = buildNotationSignature(image.descriptor, { form: 'artifactType' });
    const sbom = buildSbomReferrer(image.descriptor);
    await pushReferrer(repo, signature);
    await pushReferrer(repo, sbom);
    const sbomSignature = buildNotationSignature(sbom.descriptor);
    await pushReferrer(repo, sbomSignature);

    const c = capture();
    t.is(await main(['referrers', '--tree', '--plain-http', `${registry.host}/vouch/tree:v1`], c.io), 0, c.err.join('\n'));
    const lines = c.out.join('\n').split('\n');
    const short = (d: Descriptor) => d.digest.slice(0, 'sha256:'.length + 12);
    const tree = lines.slice(lines.indexOf(`${registry.host}/vouch/tree:v1`));
    // The registry lists referrers in its own order: either order of the two direct referrers is right.
    t.is(tree.length, 4, lines.join('\n'));
    const signatureLine = `notation  ${MEDIA_TYPE.notarySignature}  ${short(signature.descriptor)}  ${via}`;
    const sbomLine = `other  application/spdx+json  ${short(sbom.descriptor)}  ${via}`;
    const sbomFirst = tree[1]!.endsWith(sbomLine);
    t.deepEqual(
      tree.slice(1),
      sbomFirst
        ? [
            `├─ ${sbomLine}`,
            `│  └─ notation  ${MEDIA_TYPE.notarySignature}  ${short(sbomSignature.descriptor)}  ${via}`,
            `└─ ${signatureLine}`,
          ]
        : [
            `├─ ${signatureLine}`,
            `└─ ${sbomLine}`,
            `   └─ notation  ${MEDIA_TYPE.notarySignature}  ${short(sbomSignature.descriptor)}  ${via}`,
          ],
    );
    t.false(lines.some((l) => l.startsWith('verdict')));

    const j = capture();
    t.is(await main(['referrers', '--tree', '--plain-http', '--output', 'json', `${registry.host}/vouch/tree:v1`], j.io), 0);
    const report = JSON.parse(j.out.join('\n')) as TreeJson;
    t.false('environments' in report);
    const sbomNode = report.referrers.find((n) => n.kind === 'other')!;
    t.is(sbomNode.referrers[0]!.descriptor.digest, sbomSignature.descriptor.digest);
    t.false('verdicts' in sbomNode.referrers[0]!);
  });
}

test('demo: a referrer that cannot be used is listed as skipped with its code, the verdicts still come', async (t) => {
  const f = fixture!;
  const c = capture();
  t.is(await main(['referrers', '--tree', '--config', f.demo.configFile, 'demo.local/shop/cart:0.9'], c.io), 0, c.err.join('\n'));
  const lines = c.out.join('\n').split('\n');
  t.true(lines.includes('verdict  prod: NO_SIGNATURE; staging: NO_SIGNATURE'), lines.join('\n'));
  t.truthy(
    lines.find((l) => /^skipped {2}sha256-[0-9a-f]{64}\.sig {2}INVALID_INPUT \(BAD_CONTENT\): /.test(l)),
    lines.join('\n'),
  );

  const j = capture();
  t.is(await main(['referrers', '--tree', '--config', f.demo.configFile, '--output', 'json', 'demo.local/shop/cart:0.9'], j.io), 0);
  const report = JSON.parse(j.out.join('\n')) as TreeJson;
  t.deepEqual(
    report.skipped.map((s) => [s.code, s.reason]),
    [['INVALID_INPUT', 'BAD_CONTENT']],
  );
});

// The attack of the security review: a trust policy with a strict statement for one repository and a
// `*` statement at level audit. An image signed by an untrusted signer must be UNTRUSTED_SIGNER however
// the pod author spells the registry host, since the container runtime pulls the same image for every
// spelling. Before host canonicalisation, `LOCALHOST:<port>/…` and `localhost:0<port>/…` missed the
// strict statement (exact, case-sensitive scope match) and were verified under `*` at audit.

import test from 'ava';
import { RevocationChecker } from '../../../src/notation/index.js';
import { RegistryClient } from '../../../src/oci/index.js';
import { VerificationEngine, type SignatureResult } from '../../../src/verify/index.js';
import { startFakeRegistry } from '../../helpers/fake-registry.js';
import { buildImage, pushManifest, pushReferrer } from '../../helpers/oci-fixtures.js';
import { pki, policyFor, signatureFor, TestEnvironments, trustStoreWith } from './setup.js';

test('engine: a host spelling never moves an image from its strict statement to an audit "*"', async (t) => {
  const { trusted, stranger } = await pki();
  const registry = await startFakeRegistry();
  const port = registry.host.split(':')[1]!;
  const spellings = [`localhost:${port}`, `LOCALHOST:${port}`, `Localhost:${port}`, `localhost:0${port}`, `localhost:00${port}`];
  // Every spelling is configured for plain HTTP, so the request reaches the registry whatever the
  // client does with the host: the verdict alone is under test.
  const client = new RegistryClient({ hosts: Object.fromEntries(spellings.map((host) => [host, { plainHttp: true }])) });
  const environments = new TestEnvironments();
  environments.set(
    'prod',
    policyFor([
      { name: 'good-app', scopes: [`localhost:${port}/good/app`] },
      { name: 'everything-else', scopes: ['*'], level: 'audit' },
    ]),
    await trustStoreWith([trusted.root.certificate]),
  );
  const engine = new VerificationEngine({ environments, client, revocation: new RevocationChecker({ offline: true }) });
  t.teardown(async () => {
    await engine.close();
    await client.close();
    await registry.close();
  });

  const repo = client.repository(`localhost:${port}`, 'good/app');
  const image = buildImage();
  await pushManifest(repo, image, 'evil');
  await pushReferrer(repo, signatureFor(image, stranger));

  const keys = spellings.map((host) => `${host}/good/app:evil`);
  const results = await engine.verify(keys, { deadline: Date.now() + 10_000 });
  for (const result of results) {
    t.is(result.error, undefined, result.key);
    t.false(result.value!.verified, result.key);
    t.is(result.value!.reasons[0]?.code, 'UNTRUSTED_SIGNER', result.key);
    t.is(trustPolicyOf(result.value!.signatures[0]), 'good-app', result.key);
    t.true(result.value!.reference.startsWith(`localhost:${port}/good/app@`), result.key);
  }
  // One image, one cache entry, whatever the spelling.
  t.is(engine.stats().entries, 1);

  // The control: an image in a repository that only `*` covers is verified at audit, as configured.
  const other = client.repository(`localhost:${port}`, 'other/app');
  const otherImage = buildImage();
  await pushManifest(other, otherImage, 'v1');
  await pushReferrer(other, signatureFor(otherImage, stranger));
  const [control] = await engine.verify([`LOCALHOST:${port}/other/app:v1`], { deadline: Date.now() + 10_000 });
  t.true(control!.value!.verified);
  t.is(trustPolicyOf(control!.value!.signatures[0]), 'everything-else');
});

function trustPolicyOf(signature: SignatureResult | undefined): string | undefined {
  return signature?.type === 'notation' ? signature.trustPolicy : undefined;
}

// The pre-flight check of `vouch promote --sign-for`: a signature not pushed anywhere is judged by
// the real engine against an environment's trust for the destination repository (the demo's two
// environments and keys: prod trusts only its release key and only for demo.local/shop/*).

import test from 'ava';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSignatureForEnvironment } from '../../../src/app/signature-check.js';
import { writeDemoContent } from '../../../src/cli/demo-content.js';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log.js';
import { buildSignatureManifest, signEnvelope } from '../../../src/notation/index.js';
import { parseManifest, type FetchedManifest } from '../../../src/oci/index.js';
import { parseCertificates } from '../../../src/trust/index.js';
import { buildImage } from '../../helpers/oci-fixtures.js';

const logger = createLogger({ level: 'silent' });

async function setup(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-signature-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const demo = await writeDemoContent(dir);
  const config = await loadConfig(demo.configFile);
  const image = buildImage();
  const subject: FetchedManifest = {
    descriptor: image.descriptor,
    bytes: image.bytes,
    manifest: parseManifest(image.bytes, 'test image', image.descriptor.mediaType),
  };
  const signatureBy = async (env: 'prod' | 'staging') => {
    const privateKey = createPrivateKey(await readFile(join(dir, 'keys', `${env}.key`)));
    const pem = await readFile(join(dir, 'keys', `${env}.crt`), 'utf8');
    const chain = parseCertificates(new TextEncoder().encode(pem), `${env}.crt`);
    const envelope = signEnvelope({ format: 'jws', privateKey, certificateChain: chain, payload: { targetArtifact: image.descriptor } });
    return buildSignatureManifest(envelope, image.descriptor, { form: 'artifactType' });
  };
  return { config, subject, signatureBy };
}

test("a signature by prod's key is trusted for prod in a repository prod's trust policy covers", async (t) => {
  const { config, subject, signatureBy } = await setup(t);
  const signature = await signatureBy('prod');
  const check = await checkSignatureForEnvironment({
    config,
    environment: 'prod',
    destination: { registry: 'demo.local', repository: 'shop/web' },
    subject,
    signature,
    logger,
  });
  t.true(check.trusted);
  t.is(check.signature?.digest, signature.descriptor.digest);
  t.true(check.result.value?.verified);
});

test("a signature by staging's key is not trusted for prod: UNTRUSTED_SIGNER, and trusted for staging", async (t) => {
  const { config, subject, signatureBy } = await setup(t);
  const signature = await signatureBy('staging');
  const destination = { registry: 'demo.local', repository: 'shop/web' };
  const prod = await checkSignatureForEnvironment({ config, environment: 'prod', destination, subject, signature, logger });
  t.false(prod.trusted);
  t.is(prod.result.value?.reasons[0]?.code, 'UNTRUSTED_SIGNER');
  const staging = await checkSignatureForEnvironment({ config, environment: 'staging', destination, subject, signature, logger });
  t.true(staging.trusted);
});

test("a repository outside prod's trust policy scope: NO_TRUST_POLICY, not trusted, whatever the key", async (t) => {
  const { config, subject, signatureBy } = await setup(t);
  const check = await checkSignatureForEnvironment({
    config,
    environment: 'prod',
    destination: { registry: 'registry.example', repository: 'shop/web' },
    subject,
    signature: await signatureBy('prod'),
    logger,
  });
  t.false(check.trusted);
  t.is(check.result.value?.reasons[0]?.code, 'NO_TRUST_POLICY');
});

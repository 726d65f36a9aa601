// Generates everything the offline demo needs in one directory: signing identities for two
// environments, an OCI image layout standing in for registry `demo.local` (images signed, unsigned,
// signed for one environment only, with an expired signature), Notary trust policies and trust
// stores per environment, TLS material, and a vouch config file tying it together.

import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildSignatureManifest, generateSigningIdentity, signEnvelope, type SigningIdentity } from '../notation/index.js';
import { buildImageManifest, MEDIA_TYPE, OciLayoutWriter, type Descriptor } from '../oci/index.js';

export const DEMO_REGISTRY = 'demo.local';

export interface DemoImage {
  reference: string;
  /** What the demo expects per environment: 'verified' or a code. */
  expect: Record<'staging' | 'prod', string>;
}

export interface DemoContent {
  dir: string;
  configFile: string;
  images: DemoImage[];
}

const SIGNERS = {
  staging: 'CN=ci-staging,O=Acme Rockets,ST=WA,C=US',
  prod: 'CN=release,O=Acme Rockets,ST=WA,C=US',
};

/** Writes the demo into `dir` and returns the config path and the images with expected verdicts. */
export async function writeDemoContent(dir: string, options: { address?: string } = {}): Promise<DemoContent> {
  const identities = {
    staging: await generateSigningIdentity({ subject: SIGNERS.staging, rootSubject: 'CN=Acme Staging CA,O=Acme Rockets,ST=WA,C=US' }),
    prod: await generateSigningIdentity({ subject: SIGNERS.prod, rootSubject: 'CN=Acme Release CA,O=Acme Rockets,ST=WA,C=US' }),
  };
  const layout = await OciLayoutWriter.create(join(dir, 'registry-demo.local'));

  const image = async (repository: string, tag: string): Promise<{ reference: string; descriptor: Descriptor }> => {
    const config = await layout.writeBlob(
      new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
      MEDIA_TYPE.ociImageConfig,
    );
    const layer = await layout.writeBlob(randomBytes(128), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const built = buildImageManifest({ config, layers: [layer], annotations: { 'org.opencontainers.image.title': repository } });
    const reference = `${DEMO_REGISTRY}/${repository}:${tag}`;
    await layout.writeManifest(built.bytes, built.descriptor.mediaType, { tag: reference });
    return { reference, descriptor: built.descriptor };
  };
  const sign = async (subject: Descriptor, identity: SigningIdentity, options: { expired?: boolean } = {}) => {
    const signingTime = options.expired ? new Date(Date.now() - 2 * 86_400_000) : new Date();
    const envelope = signEnvelope({
      format: 'jws',
      privateKey: identity.privateKey,
      certificateChain: identity.certificateChain,
      payload: { targetArtifact: subject },
      signingTime,
      ...(options.expired ? { expiry: new Date(Date.now() - 86_400_000) } : {}),
      signingAgent: 'vouch demo',
    });
    const manifest = buildSignatureManifest(envelope, subject, { form: 'legacy' });
    for (const blob of manifest.blobs) await layout.writeBlob(blob.bytes, blob.descriptor.mediaType);
    await layout.writeManifest(manifest.bytes, MEDIA_TYPE.ociManifest);
  };

  const web = await image('shop/web', '1.0');
  await sign(web.descriptor, identities.staging);
  await sign(web.descriptor, identities.prod);
  const api = await image('shop/api', '2.3');
  await sign(api.descriptor, identities.staging);
  const cart = await image('shop/cart', '0.9');
  const search = await image('shop/search', '1.1');
  await sign(search.descriptor, identities.prod, { expired: true });
  const debug = await image('tools/debug', 'latest');
  await sign(debug.descriptor, identities.staging);

  // The signing keys, so the demo's environments can stamp images of their own (`vouch sign`,
  // `vouch promote --sign-for`, the README's walkthrough): PKCS#8 key, chain leaf first.
  await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  for (const [env, identity] of Object.entries(identities)) {
    await writeFile(join(dir, 'keys', `${env}.key`), identity.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(join(dir, 'keys', `${env}.crt`), identity.certificateChain.map((c) => `${c.toPem().trimEnd()}\n`).join(''));
  }

  // Trust stores and policies, one per environment, in notation's formats.
  for (const [env, identity] of Object.entries(identities)) {
    const store = join(dir, `truststore-${env}`, 'x509', 'ca', `acme-${env}`);
    await mkdir(store, { recursive: true });
    await writeFile(join(store, 'root.pem'), identity.root.toPem());
  }
  const identityOf = (env: 'staging' | 'prod') => `x509.subject: ${SIGNERS[env].split(',').reverse().join(', ')}`;
  await writeFile(
    join(dir, 'trustpolicy.staging.json'),
    JSON.stringify(
      {
        version: '1.0',
        trustPolicies: [
          {
            name: 'staging-any',
            registryScopes: ['*'],
            signatureVerification: { level: 'strict' },
            trustStores: ['ca:acme-staging'],
            trustedIdentities: [identityOf('staging'), identityOf('prod')],
          },
        ],
      },
      null,
      2,
    ),
  );
  await writeFile(
    join(dir, 'trustpolicy.prod.json'),
    JSON.stringify(
      {
        version: '1.0',
        trustPolicies: [
          {
            name: 'prod-shop',
            registryScopes: ['shop/web', 'shop/api', 'shop/cart', 'shop/search'].map((r) => `${DEMO_REGISTRY}/${r}`),
            signatureVerification: { level: 'strict' },
            trustStores: ['ca:acme-prod'],
            trustedIdentities: [identityOf('prod')],
          },
        ],
      },
      null,
      2,
    ),
  );

  const configFile = join(dir, 'vouch.yaml');
  await writeFile(
    configFile,
    stringify({
      server: { address: options.address ?? '127.0.0.1:0', requestTimeoutMs: 2900 },
      defaultEnvironment: 'prod',
      environments: {
        prod: { trustPolicy: 'trustpolicy.prod.json', trustStore: 'truststore-prod' },
        staging: { trustPolicy: 'trustpolicy.staging.json', trustStore: 'truststore-staging' },
      },
      registries: { [DEMO_REGISTRY]: { ociLayout: 'registry-demo.local' } },
    }),
  );
  return {
    dir,
    configFile,
    images: [
      { reference: web.reference, expect: { staging: 'verified', prod: 'verified' } },
      { reference: api.reference, expect: { staging: 'verified', prod: 'UNTRUSTED_SIGNER' } },
      { reference: cart.reference, expect: { staging: 'NO_SIGNATURE', prod: 'NO_SIGNATURE' } },
      { reference: search.reference, expect: { staging: 'UNTRUSTED_SIGNER', prod: 'EXPIRED' } },
      { reference: debug.reference, expect: { staging: 'verified', prod: 'NO_TRUST_POLICY' } },
    ],
  };
}

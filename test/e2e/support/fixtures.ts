// Trust material and signed images for the end-to-end tests, made with vouch's own signing utility
// (generateSigningIdentity, signEnvelope, buildSignatureManifest) at test time: two environments
// (prod and staging) with their own CA and signer, Notary trust stores and trust policies written
// to a temporary directory, and images pushed to real registries with their signatures attached as
// referrers (through the Referrers API, or the tag schema where the registry has no API).

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { stringify } from 'yaml';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/notation/identity-generation.js';
import { buildSignatureManifest, signEnvelope, type SignedEnvelope } from '../../../src/notation/sign.js';
import type { Descriptor } from '../../../src/oci/index.js';
import type { RegistryRepository } from '../../../src/oci/registry-client.js';
import type { Certificate } from '../../../src/trust/index.js';
import { buildImage, pushManifest, pushReferrer } from '../../helpers/oci-fixtures.js';

export const SIGNERS = {
  prod: 'CN=release,O=Acme Rockets,ST=WA,C=US',
  staging: 'CN=ci-staging,O=Acme Rockets,ST=WA,C=US',
} as const;

export type EnvName = keyof typeof SIGNERS;

/** A trust policy identity for a subject written RFC 4514 style (`C=US, ST=WA, O=…, CN=…`). */
export function trustedIdentity(subject: string): string {
  return `x509.subject: ${subject.split(',').reverse().join(', ')}`;
}

export interface Signer {
  privateKey: KeyObject;
  certificateChain: Certificate[];
}

export interface Workspace {
  dir: string;
  identities: Record<EnvName, SigningIdentity>;
  /** `<dir>/truststore-<env>` */
  trustStore(env: EnvName): string;
  /** `<dir>/trustpolicy.<env>.json` */
  trustPolicy(env: EnvName): string;
  /** Adds PEM certificates as x509/ca/<name>/ to an environment's trust store. */
  addCa(env: EnvName, name: string, certificates: Certificate[]): Promise<void>;
  /** Writes (atomically: temporary file, then rename) an environment's trust policy document. */
  writePolicy(env: EnvName, statements: PolicyStatement[]): Promise<void>;
  /** Writes the config file (YAML) and returns its path. */
  writeConfig(config: Record<string, unknown>, name?: string): Promise<string>;
  remove(): Promise<void>;
}

export interface PolicyStatement {
  name: string;
  registryScopes: string[];
  trustStores: string[];
  trustedIdentities: string[];
  level?: 'strict' | 'permissive' | 'audit' | 'skip';
}

/** A temporary directory with a prod and a staging identity, each environment trusting only its own CA. */
export async function createWorkspace(): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-e2e-'));
  const [prod, staging] = await Promise.all([
    generateSigningIdentity({ subject: SIGNERS.prod, rootSubject: 'CN=Acme Release CA,O=Acme Rockets,ST=WA,C=US' }),
    generateSigningIdentity({ subject: SIGNERS.staging, rootSubject: 'CN=Acme Staging CA,O=Acme Rockets,ST=WA,C=US' }),
  ]);
  const trustStore = (env: EnvName) => join(dir, `truststore-${env}`);
  const trustPolicy = (env: EnvName) => join(dir, `trustpolicy.${env}.json`);
  const addCa = async (env: EnvName, name: string, certificates: Certificate[]) => {
    const store = join(trustStore(env), 'x509', 'ca', name);
    await mkdir(store, { recursive: true });
    for (const [i, cert] of certificates.entries()) await writeFile(join(store, `cert-${i}.pem`), cert.toPem());
  };
  await addCa('prod', 'prod', [prod.root]);
  await addCa('staging', 'staging', [staging.root]);
  let counter = 0;
  return {
    dir,
    identities: { prod, staging },
    trustStore,
    trustPolicy,
    addCa,
    async writePolicy(env, statements) {
      const doc = {
        version: '1.0',
        trustPolicies: statements.map((s) => ({
          name: s.name,
          registryScopes: s.registryScopes,
          signatureVerification: { level: s.level ?? 'strict' },
          trustStores: s.trustStores,
          trustedIdentities: s.trustedIdentities,
        })),
      };
      // Elsewhere than the watched directory would be a cross-device rename risk; same dir is fine.
      const temporary = join(dir, `.policy-${env}-${process.pid}-${counter++}.tmp`);
      await writeFile(temporary, JSON.stringify(doc, null, 2));
      await rename(temporary, trustPolicy(env));
    },
    async writeConfig(config, name = 'vouch.yaml') {
      const file = join(dir, name);
      await writeFile(file, stringify(config));
      return file;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A short random suffix for repository names, so runs and tests never share repositories. */
export function uniqueId(): string {
  return randomBytes(4).toString('hex');
}

/** Builds a small random image and pushes it (by tag); returns its descriptor. */
export async function pushImage(repo: RegistryRepository, tag: string): Promise<Descriptor> {
  return pushManifest(repo, buildImage(), tag);
}

export interface SignOptions {
  format?: 'jws' | 'cose';
  /** Signed two days ago with an expiry one day ago. */
  expired?: boolean;
  /** Changes the envelope bytes after signing (integrity failure). */
  tamper?: (envelope: SignedEnvelope) => SignedEnvelope;
}

/** Signs `subject` with vouch's signer and pushes the signature manifest as a referrer of it. */
export async function signAndPush(repo: RegistryRepository, subject: Descriptor, signer: Signer, options: SignOptions = {}) {
  const now = Date.now();
  let envelope = signEnvelope({
    format: options.format ?? 'jws',
    privateKey: signer.privateKey,
    certificateChain: signer.certificateChain,
    payload: { targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } },
    ...(options.expired ? { signingTime: new Date(now - 2 * 86_400_000), expiry: new Date(now - 86_400_000) } : {}),
    signingAgent: 'vouch e2e',
  });
  if (options.tamper) envelope = options.tamper(envelope);
  // Thumbprints of the chain as signed (a tampered envelope may not even parse).
  const thumbprints = signer.certificateChain.map((cert) => createHash('sha256').update(cert.der).digest('hex'));
  return pushReferrer(repo, buildSignatureManifest(envelope, subject, { form: 'legacy', thumbprints }));
}

/** A JWS envelope whose signature has one bit flipped: it still parses, but does not verify. */
export function flipSignatureBit(envelope: SignedEnvelope): SignedEnvelope {
  const jws = JSON.parse(new TextDecoder().decode(envelope.bytes)) as { signature: string };
  const signature = Buffer.from(jws.signature, 'base64url');
  const last = signature.length - 1;
  signature[last] = (signature[last] ?? 0) ^ 0x01;
  jws.signature = signature.toString('base64url');
  return { mediaType: envelope.mediaType, bytes: new TextEncoder().encode(JSON.stringify(jws)) };
}

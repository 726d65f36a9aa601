// Shared set-up for the engine tests: a generated PKI signing with vouch's own signer, the in-process
// fake registry, trust stores on disk, and a mutable environment catalog whose generation tests bump.

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../../../src/core/index.js';
import { buildSignatureManifest, RevocationChecker, signEnvelope } from '../../../src/notation/index.js';
import { RegistryClient, type Descriptor, type RegistryRepository } from '../../../src/oci/index.js';
import { FileTrustStore, parseOciTrustPolicy, type Certificate, type OciTrustPolicy } from '../../../src/trust/index.js';
import {
  VerificationEngine,
  type EnvironmentCatalog,
  type EnvironmentTrust,
  type VerificationEngineOptions,
} from '../../../src/verify/index.js';
import { startFakeRegistry, type FakeRegistry, type FakeRegistryOptions } from '../../helpers/fake-registry.js';
import { buildImage, pushManifest, pushReferrer, type BuiltManifest } from '../../helpers/oci-fixtures.js';
import { generateChain, type GeneratedChain } from '../../helpers/pki.js';

export const REPO = 'team/app';
export const SIGNER_DN = 'CN=release,O=Acme Rockets,ST=WA,C=US';

let signers: Promise<{ trusted: GeneratedChain; stranger: GeneratedChain }> | undefined;

/** Two independent chains (generated once per test file): one the trust store holds, one it does not. */
export function pki(): Promise<{ trusted: GeneratedChain; stranger: GeneratedChain }> {
  signers ??= (async () => ({
    trusted: await generateChain({ length: 2, leafKey: 'ec-p256', root: { key: 'ec-p256' }, leaf: { subject: SIGNER_DN } }),
    stranger: await generateChain({
      length: 2,
      leafKey: 'ec-p256',
      root: { key: 'ec-p256' },
      leaf: { subject: 'CN=stranger,O=Elsewhere' },
    }),
  }))();
  return signers;
}

/** A trust store directory with `ca:<name>` holding the given roots. */
export async function trustStoreWith(roots: Certificate[], name = 'test'): Promise<FileTrustStore> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-verify-store-'));
  await mkdir(join(dir, 'x509', 'ca', name), { recursive: true });
  for (const [i, cert] of roots.entries()) await writeFile(join(dir, 'x509', 'ca', name, `${i}.pem`), cert.toPem());
  return new FileTrustStore(dir);
}

export function policyFor(statements: Array<{ name: string; scopes: string[]; level?: string; store?: string }>): OciTrustPolicy {
  return parseOciTrustPolicy(
    JSON.stringify({
      version: '1.0',
      trustPolicies: statements.map((s) =>
        s.level === 'skip'
          ? { name: s.name, registryScopes: s.scopes, signatureVerification: { level: 'skip' } }
          : {
              name: s.name,
              registryScopes: s.scopes,
              signatureVerification: { level: s.level ?? 'strict' },
              trustStores: [`ca:${s.store ?? 'test'}`],
              trustedIdentities: ['*'],
            },
      ),
    }),
    'test policy',
  );
}

/** A catalog backed by a Map; tests replace environments and bump generations. */
export class TestEnvironments implements EnvironmentCatalog {
  readonly map = new Map<string, EnvironmentTrust>();
  defaultEnvironment: string | undefined = 'prod';

  get(name: string): EnvironmentTrust | undefined {
    return this.map.get(name);
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  set(name: string, policy: OciTrustPolicy, trustStore: FileTrustStore, generation = 1): void {
    this.map.set(name, { name, policy, trustStore, generation });
  }
}

export interface Harness {
  registry: FakeRegistry;
  client: RegistryClient;
  repo: RegistryRepository;
  environments: TestEnvironments;
  engine: VerificationEngine;
  /** A fake clock (epoch ms) the engine reads; tests move it. */
  clock: { now: number };
  /** Pushes an image (by tag when given), signed by `signer` unless null. */
  image(options?: { tag?: string; signer?: GeneratedChain | null; repo?: RegistryRepository }): Promise<Descriptor>;
  /** `[env]host/team/app@digest` */
  key(digest: Digest | string, env?: string): string;
  /** GET requests (pulls) the fake registry received whose path includes `fragment`. */
  count(fragment: string): number;
  close(): Promise<void>;
}

export async function harness(
  options: {
    registry?: FakeRegistryOptions;
    engine?: Partial<VerificationEngineOptions>;
    trustedStore?: boolean;
    /** More plain-HTTP registry hosts the client may reach, and its request timeout (default 2 s). */
    client?: { plainHttpHosts?: string[]; requestTimeoutMs?: number };
  } = {},
): Promise<Harness> {
  const { trusted } = await pki();
  const registry = await startFakeRegistry(options.registry);
  const hosts = Object.fromEntries([registry.host, ...(options.client?.plainHttpHosts ?? [])].map((host) => [host, { plainHttp: true }]));
  const client = new RegistryClient({ hosts, requestTimeoutMs: options.client?.requestTimeoutMs ?? 2_000 });
  const repo = client.repository(registry.host, REPO);
  const environments = new TestEnvironments();
  const store = await trustStoreWith([trusted.root.certificate]);
  environments.set('prod', policyFor([{ name: 'prod-images', scopes: [`${registry.host}/${REPO}`] }]), store);
  environments.set('staging', policyFor([{ name: 'elsewhere', scopes: ['registry.example.com/other'] }]), store);
  const clock = { now: Date.now() };
  const engine = new VerificationEngine({
    environments,
    client,
    revocation: new RevocationChecker({ offline: true }),
    now: () => clock.now,
    ...options.engine,
  });
  return {
    registry,
    client,
    repo,
    environments,
    engine,
    clock,
    image: async ({ tag, signer, repo: target } = {}) => {
      const into = target ?? repo;
      const image = buildImage();
      const descriptor = await pushManifest(into, image, tag);
      const by = signer === undefined ? trusted : signer;
      if (by !== null) await pushReferrer(into, signatureFor(image, by));
      return descriptor;
    },
    key: (digest, env) => `${env === undefined ? '' : `[${env}]`}${registry.host}/${REPO}@${digest}`,
    count: (fragment) => registry.requests.filter((r) => r.method === 'GET' && r.path.includes(fragment)).length,
    close: async () => {
      await engine.close();
      await client.close();
      await registry.close();
    },
  };
}

/** A notation signature manifest (notation 2 form) over `image`, signed by `signer`. */
export function signatureFor(
  image: BuiltManifest | { descriptor: Descriptor },
  signer: GeneratedChain,
  form: 'legacy' | 'artifactType' = 'artifactType',
) {
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: signer.leaf.privateKey,
    certificateChain: signer.certificates,
    payload: { targetArtifact: image.descriptor },
    signingTime: new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000),
  });
  return buildSignatureManifest(envelope, image.descriptor, { form });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `predicate` holds (polling), failing after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

/** A deadline comfortably in the future for tests that are not about deadlines. */
export function later(h: Harness, ms = 10_000): { deadline: number } {
  return { deadline: h.clock.now + ms };
}

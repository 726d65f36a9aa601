// `vouch promote` below the command line: resolves SRC and DST against the configuration (registry
// credentials, plainHttp, the allowlist and egress rules of `registries:`; a registry served from an
// `ociLayout` is a source, never a destination) and copies the image with its referrer graph
// (oci/copy.ts). With a stamp (`--sign-for ENV`), it signs the image for the target environment
// at the destination and checks twice that the signature does what it is for: before anything is
// written, the signature (made, not pushed) is judged by the engine with ENV's trust for the
// destination repository (signature-check.ts); after the copy and the push, the destination is
// verified for ENV from the registry, as admission will (docs/promotion.md "Stamping").

import { createHash } from 'node:crypto';
import {
  VouchError,
  errorMessage,
  formatReference,
  manifestReference,
  parseReference,
  type AnswerCode,
  type ImageReference,
} from '../core/index.js';
import type { VouchConfig } from '../config/index.js';
import { moduleLogger, type Logger } from '../log.js';
import {
  prepareSignature,
  pushSignature,
  type PreparedSignature,
  type SignImageOptions,
  type SignedImage,
  type PluginSigningKey,
  type SigningIdentity,
} from '../notation/index.js';
import {
  ANNOTATION,
  copyImage,
  findSignatures,
  LayoutRepository,
  OciLayoutSource,
  RegistryClient,
  type ContentSource,
  type CopyOptions,
  type CopyReport,
  type RegistryRepository,
} from '../oci/index.js';
import type { KeyResult } from '../verify/index.js';
import { createHostsRegistryClient, createRegistryClient } from './registry-client.js';
import { createRuntime } from './runtime.js';
import { checkSignatureForEnvironment } from './signature-check.js';

export interface PromoteOptions extends Omit<CopyOptions, 'tag'> {
  /** Registries, credentials and egress rules; without it, `plainHttp` and `credentials` apply to both hosts. */
  config?: VouchConfig;
  /** Without a config: talk plain HTTP to both registries (loopback development registries). */
  plainHttp?: boolean;
  /** Without a config: credentials for both registries (the CLI takes VOUCH_REGISTRY_USERNAME/PASSWORD). */
  credentials?: { username: string; password: string };
  /** A client to use instead of building one (tests, the server); it is not closed. */
  client?: RegistryClient;
  logger?: Logger;
  /** Sign the image for an environment at the destination (needs `config`: the environment's trust). */
  stamp?: PromoteStamp;
  /** Clock in epoch ms for signing and the verification checks (default Date.now). */
  now?: () => number;
  /** Budget of each verification check in ms (default 30 s). */
  verifyTimeoutMs?: number;
}

/** `--sign-for ENV --key … --cert …`: what to sign with, and for which environment. */
export interface PromoteStamp extends Pick<SignImageOptions, 'format' | 'expiry' | 'timestamp' | 'userMetadata' | 'manifestAnnotations'> {
  environment: string;
  /** A key and chain, or a key held by a notation plugin (pluginSigningKey). */
  signer: SigningIdentity | PluginSigningKey;
}

export interface PromoteStampResult {
  environment: string;
  /**
   * `signed`: a new signature was pushed; `already-signed`: the destination already had a signature
   * by the same certificate that satisfies the environment, so none was added (a re-run stamps
   * nothing); `would-sign`: a dry run (the pre-flight check passed, nothing pushed).
   */
  action: 'signed' | 'already-signed' | 'would-sign';
  /** The signature pushed, or the existing one that satisfied the environment. */
  signature?: { digest: string; via?: SignedImage['via'] };
  /** The destination verified for the environment from the registry after the push (absent in a dry run). */
  verification?: KeyResult;
  /** True when that verification says verified. */
  verified: boolean;
}

export interface PromoteResult {
  /** SRC and DST as parsed (DST with the tag that was set, if any). */
  source: string;
  destination: string;
  copy: CopyReport;
  stamp?: PromoteStampResult;
}

/**
 * Copies SRC (`host/repo:tag`, `host/repo@sha256:…`) to DST (`host/repo[:tag]`; the tag defaults to
 * SRC's) with every referrer. Throws VouchError: INVALID_REFERENCE for bad references, INVALID_INPUT
 * for a destination that cannot be written (a digest in DST, an OCI layout host), and the copy's own.
 */
export async function promoteImage(src: string, dst: string, options: PromoteOptions = {}): Promise<PromoteResult> {
  const from = parseReference(src);
  const to = parseDestination(dst);
  const { config, plainHttp, credentials, client: given, logger, stamp, now: clock, verifyTimeoutMs, ...copyOptions } = options;
  if (stamp !== undefined && config === undefined) {
    throw new VouchError(
      'INVALID_INPUT',
      `signing for environment ${stamp.environment} needs a config (its trust policy and trust store)`,
      {
        reason: 'BAD_CONTENT',
      },
    );
  }
  if (stamp !== undefined && !config!.environments.has(stamp.environment)) {
    throw new VouchError(
      'UNKNOWN_ENVIRONMENT',
      `--sign-for ${stamp.environment}: no such environment in the config (${[...config!.environments.keys()].join(', ')})`,
    );
  }
  const now = clock ?? Date.now;
  const log = logger ?? moduleLogger('app.promote');
  const client = given ?? buildClient(config, [from.registry, to.registry], plainHttp ?? false, credentials, logger);
  try {
    const destinationConfig = config?.registries.get(to.registry);
    if (destinationConfig?.ociLayout !== undefined) {
      throw new VouchError(
        'INVALID_INPUT',
        `destination ${to.registry} is served from an OCI layout (${destinationConfig.ociLayout}); promote writes to registries only`,
        { reason: 'UNSUPPORTED' },
      );
    }
    const source = await sourceFor(config, client, from);
    const destination = client.repositoryFor(to);
    const tag = to.tag ?? from.tag;
    const signal = copyOptions.signal;
    // Before any write: sign (no push) and judge the signature for the destination, so a promotion
    // the environment would refuse fails here, with admission's reason, and leaves nothing behind.
    let prepared: PreparedSignature | undefined;
    // What is copied: the tag as resolved here, once. With a stamp, the digest just signed and judged,
    // so a tag moved in between cannot make the copy carry another image than the one signed.
    let what = manifestReference(from);
    if (stamp !== undefined) {
      const subject = await source.fetchManifest(what, signal ? { signal } : {});
      what = subject.descriptor.digest;
      prepared = await prepareSignature(subject.descriptor, { ...stamp, now, ...(signal ? { signal } : {}) });
      const check = await checkSignatureForEnvironment({
        config: config!,
        environment: stamp.environment,
        destination: to,
        subject,
        signature: prepared.manifest,
        logger: log,
        now,
        ...(verifyTimeoutMs !== undefined ? { timeoutMs: verifyTimeoutMs } : {}),
      });
      if (!check.trusted) throw notAdmissible(stamp.environment, `${to.registry}/${to.repository}`, check.result, 'before copying');
    }
    const copy = await copyImage(source, destination, what, { ...copyOptions, ...(tag !== undefined ? { tag } : {}) });
    const result: PromoteResult = { source: formatReference(from), destination: formatReference({ ...to, tag }), copy };
    if (stamp !== undefined && prepared !== undefined) {
      result.stamp = copy.dryRun
        ? { environment: stamp.environment, action: 'would-sign', verified: false }
        : await stampDestination(config!, stamp, prepared, destination, to, copy, { now, logger: log, signal, verifyTimeoutMs });
    }
    return result;
  } finally {
    if (given === undefined) await client.close();
  }
}

/** DST names a repository and optionally a tag; a digest there makes no sense (the copy keeps digests). */
function parseDestination(dst: string): ImageReference {
  const ref = parseReference(dst);
  if (ref.digest !== undefined) {
    throw new VouchError('INVALID_INPUT', `destination "${dst}" has a digest; give host/repository[:tag] (digests are preserved)`, {
      reason: 'BAD_CONTENT',
    });
  }
  return ref;
}

async function sourceFor(config: VouchConfig | undefined, client: RegistryClient, ref: ImageReference): Promise<ContentSource> {
  const layoutDir = config?.registries.get(ref.registry)?.ociLayout;
  if (layoutDir === undefined) return client.repositoryFor(ref);
  return new LayoutRepository(await OciLayoutSource.open(layoutDir), `${ref.registry}/${ref.repository}`);
}

/**
 * Pushes the prepared signature unless the destination already holds one by the same certificate
 * that satisfies the environment (a re-run adds nothing), then verifies the destination for the
 * environment from the registry: the answer admission will give.
 */
async function stampDestination(
  config: VouchConfig,
  stamp: PromoteStamp,
  prepared: PreparedSignature,
  destination: RegistryRepository,
  to: ImageReference,
  copy: CopyReport,
  options: { now: () => number; logger: Logger; signal: AbortSignal | undefined; verifyTimeoutMs: number | undefined },
): Promise<PromoteStampResult> {
  const subject = copy.subject;
  const key = `[${stamp.environment}]${to.registry}/${to.repository}@${subject.digest}`;
  const verify = () => verifyAtDestination(config, key, options);
  // Signatures already there by the same leaf certificate (notation's thumbprint annotation, signature
  // specification "Storage": SHA-256 of each chain certificate, leaf first).
  const leaf = prepared.leafThumbprint;
  const found = await findSignatures(destination, subject.digest, options.signal ? { signal: options.signal } : {});
  const mine = new Set(
    found.artifacts
      .filter((a) => a.kind === 'notation' && firstThumbprint(a.descriptor.annotations?.[ANNOTATION.notaryThumbprint]) === leaf)
      .map((a) => a.descriptor.digest as string),
  );
  if (mine.size > 0) {
    const before = await verify();
    const existing = before.value?.signatures.find((s) => s.verified && mine.has(s.digest));
    if (before.value?.verified === true && existing !== undefined) {
      return {
        environment: stamp.environment,
        action: 'already-signed',
        signature: { digest: existing.digest },
        verification: before,
        verified: true,
      };
    }
  }
  const pushed = await pushSignature(destination, prepared, options.signal);
  const verification = await verify();
  if (verification.value?.verified !== true)
    throw notAdmissible(stamp.environment, `${to.registry}/${to.repository}`, verification, 'after signing');
  return {
    environment: stamp.environment,
    action: 'signed',
    signature: { digest: pushed.descriptor.digest, via: pushed.via },
    verification,
    verified: true,
  };
}

/** One verification from the registry with a fresh engine (no cached answer from before the push, no shared cache). */
async function verifyAtDestination(
  config: VouchConfig,
  key: string,
  options: { now: () => number; logger: Logger; verifyTimeoutMs: number | undefined },
): Promise<KeyResult> {
  const runtime = await createRuntime(
    { ...config, cache: { ...config.cache, shared: undefined } },
    { logger: options.logger, watch: false, now: options.now },
  );
  try {
    const [result] = await runtime.engine.verify([key], { deadline: options.now() + (options.verifyTimeoutMs ?? 30_000) });
    return result!;
  } finally {
    await runtime.close();
  }
}

function firstThumbprint(annotation: string | undefined): string | undefined {
  if (annotation === undefined) return undefined;
  try {
    const list: unknown = JSON.parse(annotation);
    return Array.isArray(list) && typeof list[0] === 'string' ? list[0].toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The environment would not admit the destination: admission's own code, reason NOT_ADMISSIBLE; undecided stays undecided. */
function notAdmissible(environment: string, repository: string, result: KeyResult, when: string): VouchError {
  if (result.error !== undefined) {
    return new VouchError(result.error.code, `checking ${repository} for environment ${environment} ${when}: ${result.error.message}`, {
      ...(result.error.reason !== undefined ? { reason: result.error.reason } : {}),
    });
  }
  const reason = result.value.reasons[0];
  const code: AnswerCode = (reason?.code as AnswerCode | undefined) ?? 'UNTRUSTED_SIGNER';
  return new VouchError(
    code,
    `environment ${environment} would not admit ${repository}@${result.value.digest} ${when}: ${reason?.message ?? 'not verified'}`,
    { reason: 'NOT_ADMISSIBLE' },
  );
}

function buildClient(
  config: VouchConfig | undefined,
  hosts: string[],
  plainHttp: boolean,
  credentials: { username: string; password: string } | undefined,
  logger: Logger | undefined,
): RegistryClient {
  // Uploads of large layers take longer than a verification's requests.
  if (config !== undefined) return createRegistryClient(config, { requestTimeoutMs: 60_000, ...(logger ? { logger } : {}) });
  return createHostsRegistryClient(hosts, { plainHttp, credentials, requestTimeoutMs: 60_000, ...(logger ? { logger } : {}) });
}

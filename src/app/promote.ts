// `vouch promote` below the command line: resolves SRC and DST against the configuration (registry
// credentials, plainHttp, the allowlist and egress rules of `registries:`; a registry served from an
// `ociLayout` is a source, never a destination) and copies the image with its referrer graph
// (oci/copy.ts). Signing for the target environment and the verification check after the copy
// (issue 15) extend this orchestration.

import { VouchError, formatReference, manifestReference, parseReference, type ImageReference } from '../core/index.js';
import { egressRules, hostAllowedPredicate, registryHostConfigs, type VouchConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import {
  copyImage,
  LayoutRepository,
  OciLayoutSource,
  RegistryClient,
  type ContentSource,
  type CopyOptions,
  type CopyReport,
  type RegistryHostConfig,
} from '../oci/index.js';

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
}

export interface PromoteResult {
  /** SRC and DST as parsed (DST with the tag that was set, if any). */
  source: string;
  destination: string;
  copy: CopyReport;
}

/**
 * Copies SRC (`host/repo:tag`, `host/repo@sha256:…`) to DST (`host/repo[:tag]`; the tag defaults to
 * SRC's) with every referrer. Throws VouchError: INVALID_REFERENCE for bad references, INVALID_INPUT
 * for a destination that cannot be written (a digest in DST, an OCI layout host), and the copy's own.
 */
export async function promoteImage(src: string, dst: string, options: PromoteOptions = {}): Promise<PromoteResult> {
  const from = parseReference(src);
  const to = parseDestination(dst);
  const { config, plainHttp, credentials, client: given, logger, ...copyOptions } = options;
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
    const copy = await copyImage(source, destination, manifestReference(from), { ...copyOptions, ...(tag !== undefined ? { tag } : {}) });
    return { source: formatReference(from), destination: formatReference({ ...to, tag }), copy };
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

function buildClient(
  config: VouchConfig | undefined,
  hosts: string[],
  plainHttp: boolean,
  credentials: { username: string; password: string } | undefined,
  logger: Logger | undefined,
): RegistryClient {
  if (config !== undefined) {
    return new RegistryClient({
      hosts: registryHostConfigs(config),
      isHostAllowed: hostAllowedPredicate(config),
      egress: egressRules(config),
      requestLimits: config.limits.registryRequests,
      // Uploads of large layers take longer than a verification's requests.
      requestTimeoutMs: 60_000,
      ...(logger ? { logger } : {}),
    });
  }
  const hostConfig: RegistryHostConfig = { plainHttp, ...(credentials ?? {}) };
  return new RegistryClient({
    hosts: Object.fromEntries(hosts.map((h) => [h, hostConfig])),
    requestTimeoutMs: 60_000,
    ...(logger ? { logger } : {}),
  });
}

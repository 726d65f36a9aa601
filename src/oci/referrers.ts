// Referrer discovery: every artifact that refers to a digest, from any ContentSource (Referrers
// API, referrers tag schema, OCI layout) plus cosign's legacy `.sig` tag. Listings are untrusted
// hints: each referrer manifest is fetched by digest (verified), its `subject` must be the digest
// asked about, and its kind is decided from the manifest itself. One bad referrer is recorded and
// skipped; it never hides the others (README "How discovery works"; OCI distribution-spec v1.1.1
// "Listing Referrers", https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers).

import { RegistryError, VouchError, type Digest, type ErrorCode, type ErrorReason } from '../core/index.js';
import { DEFAULT_LIMITS } from './limits.js';
import { classifyReferrer, isCosignLegacySignature, SIGNATURE_KINDS, type ArtifactKind, type SignatureKind } from './artifact-kind.js';
import type { ContentSource, FetchOptions, ReferrerSourceKind } from './content-source.js';
import { parseManifest, referrerDescriptor, type Descriptor, type FetchedManifest, type ImageIndex } from './manifest.js';
import { MEDIA_TYPE } from './media-types.js';
import { cosignSignatureTag, referrersTag, type RegistryRepository } from './registry-client.js';

export interface DiscoveredArtifact {
  kind: ArtifactKind;
  /** The referrer as a referrers index would list it, built from the verified manifest. */
  descriptor: Descriptor;
  manifest: FetchedManifest;
  via: ReferrerSourceKind | 'cosign-tag';
}

export interface SkippedReferrer {
  /** The referrer's digest, or the tag it was looked up by (cosign's `.sig` tag). */
  reference: string;
  code: ErrorCode;
  reason: ErrorReason;
  message: string;
}

export interface ReferrerDiscovery {
  subject: Digest;
  /** How the listing was obtained (Referrers API, tag schema, layout scan). */
  via: ReferrerSourceKind;
  artifacts: DiscoveredArtifact[];
  /** Listed referrers that could not be used, with why: wrong subject, bad digest, garbage… */
  skipped: SkippedReferrer[];
}

export interface DiscoverOptions extends FetchOptions {
  /**
   * Fetch only listed descriptors whose artifactType is one of these (descriptors without an
   * artifactType, or listed under the empty config's media type, are always fetched). A hint-based pre-filter: it can only make discovery find
   * less, never accept more, because the kind is decided from the fetched manifest.
   */
  artifactTypes?: readonly string[];
  /** Also read cosign's legacy `sha256-<hex>.sig` tag (default true). */
  cosignLegacyTag?: boolean;
  /** Referrer manifests fetched at once (default 8). */
  concurrency?: number;
  /** Total bytes of referrer manifests fetched (default DEFAULT_LIMITS.maxReferrerBytes). */
  maxReferrerBytes?: number;
}

/** The listing artifactTypes each signature kind is found under (cosign-legacy has none: it is a tag). */
const ARTIFACT_TYPES_OF_KIND: Readonly<Record<SignatureKind, readonly string[]>> = {
  notation: [MEDIA_TYPE.notarySignature],
  'cosign-bundle': [MEDIA_TYPE.sigstoreBundleV03, 'application/vnd.dev.sigstore.bundle+json;version=0.3'],
  'cosign-experimental': [MEDIA_TYPE.cosignExperimentalSignature],
  'cosign-legacy': [],
};

/** artifactTypes under which signatures are listed (legacy notation: config.mediaType = the same). */
export const SIGNATURE_ARTIFACT_TYPES: readonly string[] = Object.values(ARTIFACT_TYPES_OF_KIND).flat();

/**
 * Whether a listed artifactType says what the referrer is. The empty config's media type never does:
 * a manifest with the empty config must set its own artifactType (image-spec v1.1.1 "Guidelines for
 * Artifact Usage"), and a referrers index must list that one (distribution-spec v1.1.1 "Listing
 * Referrers"), yet cosign 2.x writes the config's media type into the referrers tag schema index for
 * its bundle referrers. Such an entry is fetched and classified from the manifest like an untyped one.
 */
function meaningfulArtifactType(artifactType: string | undefined): artifactType is string {
  return artifactType !== undefined && artifactType !== MEDIA_TYPE.ociEmpty;
}

/** Lists, fetches and classifies the referrers of `subject`. */
export async function discoverReferrers(source: ContentSource, subject: Digest, options: DiscoverOptions = {}): Promise<ReferrerDiscovery> {
  const signal = options.signal;
  // cosign's legacy tag is independent of the listing: probe it concurrently (one round trip less
  // on the admission path). Its outcome is collected below, after the listing.
  const skipped: SkippedReferrer[] = [];
  const legacyProbe = (options.cosignLegacyTag ?? true) ? settle(fetchCosignLegacySignature(source, subject, options, skipped)) : undefined;
  const listing = await source.listReferrers(subject, signal ? { signal } : {}).catch(async (error: unknown) => {
    await legacyProbe; // never leave the probe running unobserved
    throw error;
  });
  const wanted = options.artifactTypes;
  const seen = new Set<string>();
  const candidates = listing.descriptors.filter((d) => {
    if (seen.has(d.digest)) return false; // the tag schema index may list one manifest twice
    seen.add(d.digest);
    return wanted === undefined || !meaningfulArtifactType(d.artifactType) || wanted.includes(d.artifactType);
  });

  // Every fetched manifest is held until the discovery ends, so their total is bounded, reserved
  // from the listed sizes before any fetch (fetchManifest refuses a body longer than its descriptor).
  const budget = options.maxReferrerBytes ?? DEFAULT_LIMITS.maxReferrerBytes;
  const listedBytes = candidates.reduce((sum, d) => sum + Math.max(0, d.size), 0);
  if (listedBytes > budget) {
    throw new RegistryError(
      'REGISTRY_UNAVAILABLE',
      `referrers of ${subject} in ${source.location}: the ${candidates.length} listed signature manifests total ${listedBytes} bytes, more than the limit of ${budget}`,
      { reason: 'SIZE_LIMIT' },
    );
  }
  const artifacts: Array<DiscoveredArtifact | undefined> = new Array(candidates.length);
  await mapBounded(candidates, options.concurrency ?? 8, async (listed, index) => {
    try {
      const fetched = await source.fetchManifest(listed, signal ? { signal } : {});
      const claimed = fetched.manifest.subject?.digest;
      if (claimed !== subject) {
        // The tag schema index is written by clients and may be stale or malicious (spec note).
        throw new VouchError(
          'INVALID_INPUT',
          `referrer ${listed.digest} in ${source.location} has subject ${claimed ?? '(none)'}, not ${subject}`,
          {
            reason: 'BAD_CONTENT',
          },
        );
      }
      artifacts[index] = {
        kind: classifyReferrer(fetched.manifest),
        descriptor: referrerDescriptor(fetched),
        manifest: fetched,
        via: listing.via,
      };
    } catch (error) {
      if (!(error instanceof VouchError) || isFatal(error)) throw error;
      skipped.push({ reference: listed.digest, code: error.code, reason: error.reason, message: error.message });
    }
  });

  const found = artifacts.filter((a): a is DiscoveredArtifact => a !== undefined);
  if (legacyProbe !== undefined) {
    const legacy = await legacyProbe;
    if (legacy.error !== undefined) throw legacy.error;
    if (legacy.value !== undefined) found.push(legacy.value);
  }
  return { subject, via: listing.via, artifacts: found, skipped };
}

export interface FindSignaturesOptions extends FetchOptions {
  /**
   * The signature kinds the caller can verify (default: all). Referrers listed under other
   * signature types are not fetched and cosign's `.sig` tag is only probed for 'cosign-legacy':
   * a verifier that cannot use an artifact should not pay a round trip for it on the admission path.
   */
  kinds?: readonly SignatureKind[];
  concurrency?: number;
}

/** Signature artifacts of the requested kinds that refer to `subject`, in listing order. */
export async function findSignatures(
  source: ContentSource,
  subject: Digest,
  options: FindSignaturesOptions = {},
): Promise<ReferrerDiscovery> {
  const { kinds = SIGNATURE_KINDS, ...rest } = options;
  const discovery = await discoverReferrers(source, subject, {
    ...rest,
    artifactTypes: kinds.flatMap((kind) => ARTIFACT_TYPES_OF_KIND[kind]),
    cosignLegacyTag: kinds.includes('cosign-legacy'),
  });
  return { ...discovery, artifacts: discovery.artifacts.filter((a) => (kinds as readonly ArtifactKind[]).includes(a.kind)) };
}

export interface ReferrerNode {
  artifact: DiscoveredArtifact;
  referrers: ReferrerNode[];
}

export interface ReferrerTree {
  subject: Digest;
  referrers: ReferrerNode[];
  skipped: SkippedReferrer[];
}

/**
 * Walks referrers of referrers (a signature on an SBOM), breadth first, at most `maxDepth` levels
 * and `maxNodes` artifacts in all; past the node cap it throws TOO_MANY_REFERRERS rather than
 * returning a silently truncated graph.
 */
export async function walkReferrers(
  source: ContentSource,
  subject: Digest,
  options: DiscoverOptions & { maxDepth?: number; maxNodes?: number } = {},
): Promise<ReferrerTree> {
  const maxDepth = options.maxDepth ?? 3;
  const maxNodes = options.maxNodes ?? 256;
  const skipped: SkippedReferrer[] = [];
  const visited = new Set<string>([subject]);
  let nodes = 0;
  const root: ReferrerNode[] = [];
  let level: Array<{ digest: Digest; into: ReferrerNode[] }> = [{ digest: subject, into: root }];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const next: typeof level = [];
    for (const { digest, into } of level) {
      const discovery = await discoverReferrers(source, digest, { ...options, cosignLegacyTag: options.cosignLegacyTag ?? depth === 0 });
      skipped.push(...discovery.skipped);
      for (const artifact of discovery.artifacts) {
        if (visited.has(artifact.descriptor.digest)) continue;
        visited.add(artifact.descriptor.digest);
        if (++nodes > maxNodes) {
          throw new VouchError(
            'REGISTRY_UNAVAILABLE',
            `referrer graph of ${subject} in ${source.location} has more than ${maxNodes} artifacts`,
            {
              reason: 'TOO_MANY_REFERRERS',
            },
          );
        }
        const node: ReferrerNode = { artifact, referrers: [] };
        into.push(node);
        next.push({ digest: artifact.descriptor.digest, into: node.referrers });
      }
    }
    level = next;
  }
  return { subject, referrers: root, skipped };
}

async function fetchCosignLegacySignature(
  source: ContentSource,
  subject: Digest,
  options: FetchOptions,
  skipped: SkippedReferrer[],
): Promise<DiscoveredArtifact | undefined> {
  const tag = cosignSignatureTag(subject);
  try {
    const fetched = await source.fetchManifest(tag, options.signal ? { signal: options.signal } : {});
    if (!isCosignLegacySignature(fetched.manifest)) {
      throw new VouchError('INVALID_INPUT', `${tag} in ${source.location} is not a cosign signature manifest`, { reason: 'BAD_CONTENT' });
    }
    return { kind: 'cosign-legacy', descriptor: referrerDescriptor(fetched), manifest: fetched, via: 'cosign-tag' };
  } catch (error) {
    if (error instanceof VouchError && error.code === 'NOT_FOUND') return undefined;
    if (!(error instanceof VouchError) || isFatal(error)) throw error;
    skipped.push({ reference: tag, code: error.code, reason: error.reason, message: error.message });
    return undefined;
  }
}

/**
 * Errors that stop discovery as a whole: the registry is unreachable, refuses us, or the caller's
 * deadline passed. Content faults of one referrer (bad digest, garbage, wrong subject, missing
 * manifest behind a stale tag-schema entry) only skip that referrer.
 */
export function isFatal(error: VouchError): boolean {
  if (error.code === 'REGISTRY_AUTH' || error.code === 'DEADLINE_EXCEEDED' || error.code === 'REGISTRY_NOT_ALLOWED') return true;
  if (error.code === 'REGISTRY_UNAVAILABLE') {
    return (
      error.reason === 'CONNECTION' ||
      error.reason === 'TIMEOUT' ||
      error.reason === 'ABORTED' ||
      error.reason === 'HTTP_STATUS' ||
      error.reason === 'REDIRECT'
    );
  }
  return false;
}

/** A promise that never rejects, carrying its outcome, so it can be started early and awaited late. */
async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

export async function mapBounded<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
}

// ---- push side: attaching a referrer ------------------------------------------------------------

/**
 * Pushes a manifest that has a `subject` and makes sure it can be found: when the registry does
 * not index it (no OCI-Subject header), the referrers tag schema index is updated, as the
 * distribution-spec requires of clients ("Pushing Manifests with Subject"). Used by signing,
 * promotion and test fixtures.
 */
export async function attachReferrer(
  repository: RegistryRepository,
  manifestBytes: Uint8Array,
  mediaType: string,
  options: FetchOptions = {},
): Promise<{ descriptor: Descriptor; via: ReferrerSourceKind }> {
  const manifest = parseManifest(manifestBytes, 'manifest to attach', mediaType);
  const subject = manifest.subject?.digest;
  if (subject === undefined) {
    throw new VouchError('INVALID_INPUT', 'a manifest without subject cannot be attached as a referrer', { reason: 'BAD_CONTENT' });
  }
  const { descriptor, subjectIndexed } = await repository.pushManifest(manifestBytes, mediaType, options);
  const fetched: FetchedManifest = { descriptor, bytes: manifestBytes, manifest };
  if (subjectIndexed) return { descriptor, via: 'referrers-api' };

  const tag = referrersTag(subject);
  let index: ImageIndex = { kind: 'index', schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] };
  try {
    const existing = await repository.fetchManifest(tag, options);
    if (existing.manifest.kind !== 'index') {
      throw new VouchError('INVALID_INPUT', `${tag} in ${repository.location} is not an image index; refusing to overwrite it`, {
        reason: 'BAD_CONTENT',
      });
    }
    index = existing.manifest;
  } catch (error) {
    if (!(error instanceof VouchError && error.code === 'NOT_FOUND')) throw error;
  }
  if (!index.manifests.some((d) => d.digest === descriptor.digest)) {
    const bytes = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [...index.manifests, referrerDescriptor(fetched)] }),
    );
    await repository.pushManifest(bytes, MEDIA_TYPE.ociIndex, { ...options, tag });
  }
  return { descriptor, via: 'tag-schema' };
}

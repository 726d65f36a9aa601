// cosign signature discovery: what verification (src/cosign) gets to check, from both places
// cosign stores signatures of an image:
// - the legacy tag `sha256-<hex>.sig`: one manifest whose layers are simple-signing payloads, the
//   signature and its material in each layer's annotations (cosign specs/SIGNATURE_SPEC.md,
//   https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md);
// - referrers whose single layer is a Sigstore bundle v0.3 (cosign v3's default, `--new-bundle-format`;
//   https://github.com/sigstore/cosign/blob/main/specs/BUNDLE_SPEC.md).
// Nothing here is trusted yet: payloads and bundles are only fetched (digest and size checked) and
// bounded. One bad entry is skipped with its reason and never hides the others; a missing `.sig`
// tag means "no legacy signatures". Only the callers that verify cosign call this, so deployments
// that verify only Notary Project signatures never pay its round trips.

import { VouchError, type Digest } from '../core/index.js';
import type { FetchOptions, ContentSource } from './content-source.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { Descriptor } from './manifest.js';
import { ANNOTATION, MEDIA_TYPE } from './media-types.js';
import { findSignatures, isFatal, mapBounded, type DiscoveredArtifact, type SkippedReferrer } from './referrers.js';
import type { SignatureKind } from './artifact-kind.js';

/** One cosign signature as found, handed to verification. */
export type CosignCandidate =
  | {
      form: 'legacy';
      /** Digest of the `.sig` manifest holding the layer. */
      manifestDigest: Digest;
      /** The simple-signing layer (its digest identifies this signature). */
      layer: Descriptor;
      /** The layer blob: the signed simple-signing JSON, exactly as stored. */
      payload: Uint8Array;
      /** The layer's annotations: signature, certificate, chain, Rekor bundle, RFC 3161 timestamp. */
      annotations: Record<string, string>;
    }
  | {
      form: 'bundle';
      /** Digest of the referrer manifest. */
      manifestDigest: Digest;
      /** Parsed JSON of the bundle layer (structure is checked by verification, with @sigstore/bundle). */
      bundle: unknown;
    };

export type CosignForm = CosignCandidate['form'];

export interface CosignDiscovery {
  subject: Digest;
  candidates: CosignCandidate[];
  /** Entries that could not be used and why (reference: manifest, layer digest or `.sig` tag). */
  skipped: SkippedReferrer[];
}

export interface CosignDiscoveryOptions extends FetchOptions {
  /** Which storage forms to look in (default both). */
  forms?: readonly CosignForm[];
  /** Largest simple-signing payload or bundle read (default 1 MiB; real ones are under 10 KiB). */
  maxPayloadBytes?: number;
  /** Layers of the `.sig` manifest read at most (default 32); the rest are skipped with a reason. */
  maxLegacyLayers?: number;
  /** Bytes of payloads and bundles held by one discovery (default DEFAULT_LIMITS.maxReferrerBytes). */
  maxTotalBytes?: number;
  /** Manifests and blobs fetched at once (default 8). */
  concurrency?: number;
}

export const COSIGN_DISCOVERY_DEFAULTS = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  maxLegacyLayers: 32,
});

const KIND_OF_FORM: Readonly<Record<CosignForm, SignatureKind>> = { legacy: 'cosign-legacy', bundle: 'cosign-bundle' };

interface FetchJob {
  descriptor: Descriptor;
  /** Builds the candidate from the fetched, digest-checked bytes; throws VouchError to skip. */
  build(bytes: Uint8Array): CosignCandidate;
}

/** The cosign signatures of `subjectDigest` in `source`: legacy `.sig` layers and bundle referrers. */
export async function findCosignSignatures(
  source: ContentSource,
  subjectDigest: Digest,
  options: CosignDiscoveryOptions = {},
): Promise<CosignDiscovery> {
  const forms = options.forms ?? ['legacy', 'bundle'];
  const maxPayloadBytes = options.maxPayloadBytes ?? COSIGN_DISCOVERY_DEFAULTS.maxPayloadBytes;
  const maxLayers = options.maxLegacyLayers ?? COSIGN_DISCOVERY_DEFAULTS.maxLegacyLayers;
  const maxTotalBytes = options.maxTotalBytes ?? DEFAULT_LIMITS.maxReferrerBytes;
  const concurrency = options.concurrency ?? 8;
  const signalOption = options.signal ? { signal: options.signal } : {};
  if (forms.length === 0) return { subject: subjectDigest, candidates: [], skipped: [] };

  const discovery = await findSignatures(source, subjectDigest, {
    ...signalOption,
    concurrency,
    kinds: forms.map((form) => KIND_OF_FORM[form]),
  });
  const skipped: SkippedReferrer[] = [...discovery.skipped];
  const skip = (reference: string, error: VouchError): void => {
    skipped.push({ reference, code: error.code, reason: error.reason, message: error.message });
  };

  const jobs: FetchJob[] = [];
  for (const artifact of discovery.artifacts) {
    try {
      if (artifact.kind === 'cosign-legacy') jobs.push(...legacyJobs(artifact, maxLayers, source.location, skip));
      else if (artifact.kind === 'cosign-bundle') jobs.push(bundleJob(artifact, source.location));
    } catch (error) {
      if (!(error instanceof VouchError)) throw error;
      skip(artifact.descriptor.digest, error);
    }
  }

  // Sizes are reserved from the descriptors before any fetch (fetchBlob refuses a longer body), so
  // a hostile registry cannot make one discovery hold more than maxTotalBytes.
  let reserved = 0;
  const admitted: FetchJob[] = [];
  for (const job of jobs) {
    const { digest, size } = job.descriptor;
    if (size > maxPayloadBytes) {
      skip(
        digest,
        contentError(
          'SIZE_LIMIT',
          `cosign payload ${digest} in ${source.location} is ${size} bytes, more than the limit of ${maxPayloadBytes}`,
        ),
      );
    } else if (reserved + size > maxTotalBytes) {
      skip(
        digest,
        contentError(
          'SIZE_LIMIT',
          `cosign payloads of ${subjectDigest} in ${source.location} total more than the limit of ${maxTotalBytes} bytes`,
        ),
      );
    } else {
      reserved += size;
      admitted.push(job);
    }
  }

  const candidates: Array<CosignCandidate | undefined> = new Array(admitted.length);
  await mapBounded(admitted, concurrency, async (job, index) => {
    try {
      const bytes = await source.fetchBlob(job.descriptor, { ...signalOption, maxBytes: maxPayloadBytes });
      candidates[index] = job.build(bytes);
    } catch (error) {
      // A missing blob or one that fails its digest is that entry's fault, not the registry's.
      if (!(error instanceof VouchError) || isFatal(error)) throw error;
      skip(job.descriptor.digest, error);
    }
  });
  return { subject: subjectDigest, candidates: candidates.filter((c): c is CosignCandidate => c !== undefined), skipped };
}

/** One job per simple-signing layer of the `.sig` manifest (at most maxLayers). */
function legacyJobs(
  artifact: DiscoveredArtifact,
  maxLayers: number,
  location: string,
  skip: (reference: string, error: VouchError) => void,
): FetchJob[] {
  const manifest = artifact.manifest.manifest;
  if (manifest.kind !== 'manifest')
    throw contentError('BAD_CONTENT', `cosign signature ${artifact.descriptor.digest} in ${location} is not an image manifest`);
  const manifestDigest = artifact.descriptor.digest;
  if (manifest.layers.length > maxLayers) {
    skip(
      manifestDigest,
      new VouchError(
        'REGISTRY_UNAVAILABLE',
        `cosign signature manifest ${manifestDigest} in ${location} has ${manifest.layers.length} layers; only the first ${maxLayers} are read`,
        { reason: 'TOO_MANY_REFERRERS' },
      ),
    );
  }
  const jobs: FetchJob[] = [];
  for (const layer of manifest.layers.slice(0, maxLayers)) {
    const annotations = { ...(layer.annotations ?? {}) };
    if (layer.mediaType !== MEDIA_TYPE.cosignSimpleSigning) {
      skip(
        layer.digest,
        contentError(
          'MEDIA_TYPE',
          `layer ${layer.digest} of ${manifestDigest} in ${location} is ${layer.mediaType}, not a simple-signing payload`,
        ),
      );
      continue;
    }
    if (!annotations[ANNOTATION.cosignSignature]) {
      skip(
        layer.digest,
        contentError(
          'BAD_CONTENT',
          `layer ${layer.digest} of ${manifestDigest} in ${location} has no ${ANNOTATION.cosignSignature} annotation`,
        ),
      );
      continue;
    }
    const descriptor: Descriptor = { ...layer, annotations };
    jobs.push({ descriptor, build: (payload) => ({ form: 'legacy', manifestDigest, layer: descriptor, payload, annotations }) });
  }
  return jobs;
}

/** The single bundle layer of a bundle referrer, parsed as JSON (its meaning is verification's job). */
function bundleJob(artifact: DiscoveredArtifact, location: string): FetchJob {
  const manifest = artifact.manifest.manifest;
  const manifestDigest = artifact.descriptor.digest;
  if (manifest.kind !== 'manifest' || manifest.layers.length !== 1) {
    throw contentError(
      'BAD_CONTENT',
      `sigstore bundle referrer ${manifestDigest} in ${location} must be an image manifest with exactly one layer`,
    );
  }
  const layer = manifest.layers[0]!;
  if (!layer.mediaType.startsWith(MEDIA_TYPE.sigstoreBundlePrefix)) {
    throw contentError(
      'MEDIA_TYPE',
      `the layer of sigstore bundle referrer ${manifestDigest} in ${location} is ${layer.mediaType}, not a sigstore bundle`,
    );
  }
  return {
    descriptor: layer,
    build(bytes) {
      let bundle: unknown;
      try {
        bundle = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch (error) {
        throw contentError('BAD_CONTENT', `sigstore bundle ${layer.digest} of ${manifestDigest} in ${location} is not JSON`, error);
      }
      const mediaType = isPlainObject(bundle) ? bundle['mediaType'] : undefined;
      if (typeof mediaType !== 'string' || !mediaType.startsWith(MEDIA_TYPE.sigstoreBundlePrefix)) {
        throw contentError(
          'BAD_CONTENT',
          `sigstore bundle ${layer.digest} of ${manifestDigest} in ${location} has no sigstore bundle mediaType`,
        );
      }
      return { form: 'bundle', manifestDigest, bundle };
    },
  };
}

function contentError(reason: 'BAD_CONTENT' | 'MEDIA_TYPE' | 'SIZE_LIMIT', message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_INPUT', message, { reason, ...(cause !== undefined ? { cause } : {}) });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

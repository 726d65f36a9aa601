// Copies an image (one manifest, or an index with every child) and its whole referrer graph
// (signatures, SBOMs, signatures on those) from a source to a destination repository, digests
// preserved: what `vouch promote` moves between environments (issue 15).
//
// Plan first, then write. The plan phase only reads: it resolves the reference, walks the graph
// (bounded by maxDepth referrer levels and maxNodes objects, a cycle is an error) and asks the
// destination what it already has (HEAD). Nothing is written when the plan fails. The write phase
// uploads the missing blobs (streamed, `concurrency` at a time, mounted when source and destination
// share a registry), then pushes the missing manifests in an order where every manifest follows its
// blobs and children, and every referrer follows its subject
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-manifests-with-subject).
// So an interrupted copy leaves at most unreferenced blobs, never a manifest whose content is
// missing, and a re-run resumes: what exists is skipped.

import { setMaxListeners } from 'node:events';
import { KeyedSemaphore, RegistryError, VouchError, isTag, throwIfAborted, type Digest } from '../core/index.js';
import type { ContentSource, FetchOptions } from './content-source.js';
import { transferBlob } from './copy-blob.js';
import { artifactTypeOf, referrerDescriptor, type Descriptor, type FetchedManifest } from './manifest.js';
import { isCosignLegacySignature } from './artifact-kind.js';
import { attachReferrer, isFatal, mapBounded, type SkippedReferrer } from './referrers.js';
import { cosignSignatureTag, RegistryRepository } from './registry-client.js';

export type CopyObjectKind = 'image' | 'index' | 'referrer' | 'blob';
export type CopyAction = 'copied' | 'mounted' | 'exists' | 'would-copy';

export interface CopyObject {
  kind: CopyObjectKind;
  descriptor: Descriptor;
  /** The manifest this object belongs to: an index for its children, a manifest for its blobs, the subject for a referrer. */
  parent?: Digest;
  /** A referrer's artifactType (from its manifest). */
  artifactType?: string;
  action: CopyAction;
  /** An existing referrer the destination's referrers tag index did not list, added to it on this run. */
  indexRepaired?: boolean;
  /** The tag a referrer is found by instead of a `subject` (cosign's legacy `sha256-<hex>.sig`). */
  tag?: string;
}

export interface CopyProgress {
  objectsDone: number;
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The object being copied. */
  current?: { kind: CopyObjectKind; digest: Digest };
}

export interface CopyOptions {
  /** Plan and compare with the destination only; write nothing. Objects to copy are reported as 'would-copy'. */
  dryRun?: boolean;
  /** Destination tag for the image (default: the source tag when the reference was a tag). */
  tag?: string;
  /** Levels of referrers copied (1 = direct referrers only; default 3, as walkReferrers). Deeper referrers are an error. */
  maxDepth?: number;
  /** Objects (manifests and blobs) in the whole graph (default 10000). More is an error before anything is written. */
  maxNodes?: number;
  /** Total bytes of the manifests held by the plan (default 64 MiB). */
  maxManifestBytes?: number;
  /** Blobs transferred at once (default 4); memory is about this many stream buffers. */
  concurrency?: number;
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface CopyReport {
  source: string;
  destination: string;
  /** The image that was copied (the resolved reference). */
  subject: Descriptor;
  /** The destination tag set (or that would be set), if any. */
  tag?: string;
  /** True when the tag was (or would be) moved to the image on this run. */
  tagUpdated: boolean;
  dryRun: boolean;
  /** Every object of the graph, blobs before the manifest that names them, children before their index, referrers after their subject. */
  objects: CopyObject[];
  /** Listed referrers not copied, with why (wrong subject, unreadable): a registry's listing is only a hint. */
  skipped: SkippedReferrer[];
  totals: {
    objects: number;
    copied: number;
    mounted: number;
    exists: number;
    /** Bytes of the objects copied (or that would be copied); mounted blobs are not counted. */
    bytesCopied: number;
  };
}

export const COPY_DEFAULTS = { maxDepth: 3, maxNodes: 10_000, maxManifestBytes: 64 * 1024 * 1024, concurrency: 4 } as const;

interface PlannedManifest {
  kind: 'image' | 'index' | 'referrer';
  fetched: FetchedManifest;
  parent: Digest | undefined;
  /** Blob descriptors this manifest names, in manifest order. */
  blobs: Descriptor[];
  exists: boolean;
  /** cosign's legacy `sha256-<hex>.sig` tag this manifest is found under (it has no subject field). */
  tag?: string;
  /** Whether the destination's tag already names this manifest (checked for `tag`). */
  tagged?: boolean;
  /** Left out after the destination check (a conflicting cosign tag). */
  dropped?: boolean;
}

interface PlannedBlob {
  descriptor: Descriptor;
  parent: Digest;
  exists: boolean;
  /** Needed by a manifest the destination lacks (else its existence is implied and not asked). */
  needed: boolean;
  action?: 'copied' | 'mounted';
}

/**
 * Copies `reference` (tag or digest) from `source` to `destination` with its referrer graph.
 * Throws NOT_FOUND for a missing source, REGISTRY_AUTH when the destination refuses (naming it),
 * REGISTRY_UNAVAILABLE/REFERRER_CYCLE or TOO_MANY_REFERRERS for a graph it will not copy.
 */
export async function copyImage(
  source: ContentSource,
  destination: RegistryRepository,
  reference: string,
  options: CopyOptions = {},
): Promise<CopyReport> {
  // The copy's own signal: it follows the caller's, and is aborted when the copy settles, so that
  // workers and fetches still running after a failure (the blob phase's other workers, planned
  // prefetches) stop with it instead of writing on after copyImage returned. Every request of the
  // copy listens on it: with `concurrency` objects in flight, each with a few requests, more than
  // Node's default of 10 listeners at once is normal (bounded, not a leak).
  const outer = options.signal;
  const controller = new AbortController();
  setMaxListeners(256, controller.signal);
  const forward = () => controller.abort(outer?.reason);
  if (outer?.aborted === true) forward();
  else outer?.addEventListener('abort', forward, { once: true });
  try {
    return await copyWithSignal(source, destination, reference, { ...options, signal: controller.signal });
  } finally {
    outer?.removeEventListener('abort', forward);
    controller.abort(new VouchError('DEADLINE_EXCEEDED', 'the copy has ended', { reason: 'ABORTED' }));
  }
}

async function copyWithSignal(
  source: ContentSource,
  destination: RegistryRepository,
  reference: string,
  options: CopyOptions,
): Promise<CopyReport> {
  const signal = options.signal;
  const fetchOptions: FetchOptions = signal ? { signal } : {};
  const tag = options.tag ?? (isTag(reference) ? reference : undefined);
  if (tag !== undefined && !isTag(tag)) {
    throw new VouchError('INVALID_REFERENCE', `"${tag}" is not a valid tag`, { reason: 'BAD_CONTENT' });
  }
  const plan = await planCopy(source, reference, options);

  // What the destination has. A manifest that exists is skipped with its blobs (a registry accepts a
  // manifest only once what it names is there); blobs are asked about only for the missing ones.
  const concurrency = Math.max(1, options.concurrency ?? COPY_DEFAULTS.concurrency);
  await mapBounded(plan.manifests, concurrency, async (m) => {
    m.exists = await destination.hasManifest(m.fetched.descriptor.digest, fetchOptions);
    if (m.tag !== undefined) {
      const at = await currentTag(destination, m.tag, fetchOptions);
      m.tagged = at === m.fetched.descriptor.digest;
      if (at !== undefined && !m.tagged) {
        // cosign appends signatures to the `.sig` manifest: the destination's may hold signatures
        // made there (after an earlier promotion). Never overwrite them.
        plan.skipped.push({
          reference: m.tag,
          code: 'INVALID_INPUT',
          reason: 'BAD_CONTENT',
          message: `${destination.location} already has another cosign signature manifest under ${m.tag} (${at}); not overwritten`,
        });
        m.dropped = true;
      }
    }
  });
  // What hangs below a manifest left out goes too: no referrer is pushed without its subject.
  const dropped = new Set<Digest>();
  for (const m of plan.manifests) {
    if (m.dropped === true || (m.parent !== undefined && dropped.has(m.parent))) dropped.add(m.fetched.descriptor.digest);
  }
  plan.manifests = plan.manifests.filter((m) => !dropped.has(m.fetched.descriptor.digest));
  for (const m of plan.manifests) {
    if (m.exists) continue;
    for (const b of m.blobs) plan.blobs.get(b.digest)!.needed = true;
  }
  const neededBlobs = [...plan.blobs.values()].filter((b) => b.needed);
  await mapBounded(neededBlobs, concurrency, async (b) => {
    b.exists = await destination.hasBlob(b.descriptor.digest, fetchOptions);
  });
  const root = plan.manifests.find((m) => m.fetched.descriptor.digest === plan.subject.digest)!;
  const tagUpdated = tag !== undefined && (await currentTag(destination, tag, fetchOptions)) !== plan.subject.digest;

  const blobsToCopy = neededBlobs.filter((b) => !b.exists);
  const manifestsToCopy = plan.manifests.filter((m) => !m.exists);
  const progress: CopyProgress = {
    objectsDone: 0,
    objectsTotal: blobsToCopy.length + manifestsToCopy.length,
    bytesDone: 0,
    bytesTotal: sum(blobsToCopy.map((b) => b.descriptor.size)) + sum(manifestsToCopy.map((m) => m.fetched.bytes.length)),
  };
  const report = (current?: CopyProgress['current']) => options.onProgress?.({ ...progress, ...(current ? { current } : {}) });

  if (!options.dryRun) {
    report();
    // Same registry, other repository: mount instead of moving the bytes through us.
    const mountFrom =
      source instanceof RegistryRepository && source.host === destination.host && source.name !== destination.name
        ? source.name
        : undefined;
    await mapBounded(blobsToCopy, concurrency, async (b) => {
      throwIfAborted(signal, `copy to ${destination.location}`);
      const current = { kind: 'blob' as const, digest: b.descriptor.digest };
      report(current);
      b.action = await transferBlob(source, destination, b.descriptor, {
        ...fetchOptions,
        ...(mountFrom !== undefined ? { mountFrom } : {}),
        onBytes: (count) => {
          progress.bytesDone += count;
          report(current);
        },
      });
      if (b.action === 'mounted') progress.bytesDone += b.descriptor.size;
      progress.objectsDone++;
      report(current);
    });

    // Manifests a few at a time, each only after what it depends on is there: an index after its
    // children, a referrer after its subject (or, for cosign's tag, the manifest it signs). Updates
    // of one subject's referrers tag index are read-modify-write: they take turns per subject.
    const listed = new Map<Digest, Set<Digest>>();
    const pushLimit = limiter(concurrency);
    const subjectTurns = new Map<Digest, Promise<unknown>>();
    const inTurn = <T>(subject: Digest, fn: () => Promise<T>): Promise<T> => {
      const next = (subjectTurns.get(subject) ?? Promise.resolve()).catch(() => undefined).then(fn);
      subjectTurns.set(subject, next);
      return next;
    };
    const inPlan = new Set(plan.manifests.map((m) => m.fetched.descriptor.digest));
    const pushOne = async (m: PlannedManifest): Promise<void> => {
      throwIfAborted(signal, `copy to ${destination.location}`);
      const { descriptor, bytes, manifest } = m.fetched;
      const subject = manifest.subject?.digest;
      if (m.exists && m.tag !== undefined && m.tagged !== true) {
        await destination.pushManifest(bytes, descriptor.mediaType, { ...fetchOptions, tag: m.tag });
        return;
      }
      if (m.exists) {
        // A referrer pushed by an interrupted run may be missing from the referrers tag index (the
        // push and the index update are two requests): list the subject's referrers and repair.
        if (subject !== undefined && m.kind === 'referrer') {
          await inTurn(subject, async () => {
            let known = listed.get(subject);
            if (known === undefined) {
              known = new Set((await destination.listReferrers(subject, fetchOptions)).descriptors.map((d) => d.digest));
              listed.set(subject, known);
            }
            if (!known.has(descriptor.digest)) {
              await attachReferrer(destination, bytes, descriptor.mediaType, fetchOptions);
              known.add(descriptor.digest);
              plan.repaired.add(descriptor.digest);
            }
          });
        }
        return;
      }
      const current = { kind: m.kind, digest: descriptor.digest };
      report(current);
      if (subject !== undefined) await inTurn(subject, () => attachReferrer(destination, bytes, descriptor.mediaType, fetchOptions));
      else await destination.pushManifest(bytes, descriptor.mediaType, { ...fetchOptions, ...(m.tag !== undefined ? { tag: m.tag } : {}) });
      progress.objectsDone++;
      progress.bytesDone += bytes.length;
      report(current);
    };
    const pushed = new Map<Digest, Promise<void>>();
    for (const m of plan.manifests) {
      const manifest = m.fetched.manifest;
      const dependsOn = [
        ...(manifest.kind === 'index' ? manifest.manifests.map((c) => c.digest) : []),
        ...(manifest.subject !== undefined ? [manifest.subject.digest] : m.tag !== undefined && m.parent !== undefined ? [m.parent] : []),
      ].filter((d) => inPlan.has(d));
      // Plan order puts every dependency first, so each is in `pushed` already.
      const waitFor = dependsOn.map((d) => pushed.get(d)!);
      const done = Promise.all(waitFor).then(() => pushLimit(() => pushOne(m)));
      done.catch(() => undefined); // awaited below, in plan order
      pushed.set(m.fetched.descriptor.digest, done);
    }
    // Every push settles before the outcome is reported (a failure stops only what depends on it).
    const settled = await Promise.allSettled(pushed.values());
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    if (tagUpdated) {
      throwIfAborted(signal, `copy to ${destination.location}`);
      await destination.pushManifest(root.fetched.bytes, root.fetched.descriptor.mediaType, { ...fetchOptions, tag: tag! });
    }
  }

  const objects: CopyObject[] = [];
  const listedBlobs = new Set<Digest>();
  for (const m of plan.manifests) {
    for (const b of m.blobs) {
      if (listedBlobs.has(b.digest)) continue;
      listedBlobs.add(b.digest);
      const planned = plan.blobs.get(b.digest)!;
      const action: CopyAction = !planned.needed || planned.exists ? 'exists' : options.dryRun ? 'would-copy' : planned.action!;
      objects.push({ kind: 'blob', descriptor: planned.descriptor, parent: planned.parent, action });
    }
    const descriptor = m.kind === 'referrer' ? referrerDescriptor(m.fetched) : m.fetched.descriptor;
    const artifactType = m.kind === 'referrer' ? artifactTypeOf(m.fetched.manifest) : undefined;
    objects.push({
      kind: m.kind,
      descriptor,
      ...(m.parent !== undefined ? { parent: m.parent } : {}),
      ...(artifactType !== undefined ? { artifactType } : {}),
      action: m.exists ? 'exists' : options.dryRun ? 'would-copy' : 'copied',
      ...(plan.repaired.has(descriptor.digest) ? { indexRepaired: true } : {}),
      ...(m.tag !== undefined ? { tag: m.tag } : {}),
    });
  }
  const count = (action: CopyAction) => objects.filter((o) => o.action === action).length;
  return {
    source: source.location,
    destination: destination.location,
    subject: plan.subject,
    ...(tag !== undefined ? { tag } : {}),
    tagUpdated,
    dryRun: options.dryRun === true,
    objects,
    skipped: plan.skipped,
    totals: {
      objects: objects.length,
      copied: count('copied') + count('would-copy'),
      mounted: count('mounted'),
      exists: count('exists'),
      bytesCopied: sum(objects.filter((o) => o.action === 'copied' || o.action === 'would-copy').map((o) => o.descriptor.size)),
    },
  };
}

interface CopyPlan {
  subject: Descriptor;
  /** Write order. */
  manifests: PlannedManifest[];
  blobs: Map<Digest, PlannedBlob>;
  skipped: SkippedReferrer[];
  repaired: Set<Digest>;
}

/** The read-only walk: every manifest and blob to copy, in write order, within the caps. */
async function planCopy(source: ContentSource, reference: string, options: CopyOptions): Promise<CopyPlan> {
  const signal = options.signal;
  const fetchOptions: FetchOptions = signal ? { signal } : {};
  const maxDepth = options.maxDepth ?? COPY_DEFAULTS.maxDepth;
  const maxNodes = options.maxNodes ?? COPY_DEFAULTS.maxNodes;
  const maxManifestBytes = options.maxManifestBytes ?? COPY_DEFAULTS.maxManifestBytes;
  const manifests: PlannedManifest[] = [];
  const planned = new Set<Digest>();
  const blobs = new Map<Digest, PlannedBlob>();
  const skipped: SkippedReferrer[] = [];
  let nodes = 0;
  let manifestBytes = 0;
  const where = `referrer graph of ${reference} in ${source.location}`;

  const countNode = () => {
    if (++nodes > maxNodes) {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${where} has more than ${maxNodes} objects (manifests and blobs)`, {
        reason: 'TOO_MANY_REFERRERS',
      });
    }
  };

  const root = await source.fetchManifest(reference, fetchOptions);
  // Manifests are fetched ahead, a few at a time, and visited in order: the plan's order (children
  // before their index, subjects before referrers) is the walk's, the round trips overlap.
  const limit = limiter(Math.max(1, options.concurrency ?? COPY_DEFAULTS.concurrency));
  const ahead = (d: Descriptor | string): Promise<FetchedManifest> => {
    const pending = limit(() => source.fetchManifest(d, fetchOptions));
    pending.catch(() => {
      // awaited (and reported) where it is used; a fetch made ahead and never used is not an error
    });
    return pending;
  };
  /**
   * The manifests of `list` as they are used, in order, fetched at most `window` ahead of the one in
   * use: the round trips overlap, and a listing of thousands holds a few manifests, not all of them,
   * before the byte and object caps (checked as each is visited) can see them.
   */
  const window = Math.max(1, options.concurrency ?? COPY_DEFAULTS.concurrency);
  const prefetch = (list: Descriptor[]): ((d: Descriptor) => Promise<FetchedManifest>) => {
    const position = new Map(list.map((d, i) => [d.digest, i] as const));
    const started = new Map<Digest, Promise<FetchedManifest>>();
    let next = 0;
    return (d) => {
      const at = position.get(d.digest);
      if (at === undefined) return source.fetchManifest(d, fetchOptions);
      for (; next < list.length && next <= at + window; next++) {
        const upcoming = list[next]!;
        if (!started.has(upcoming.digest)) started.set(upcoming.digest, ahead(upcoming));
      }
      const pending = started.get(d.digest) ?? ahead(d);
      started.delete(d.digest);
      return pending;
    };
  };

  /**
   * Plans one manifest: an index's children first (with their own referrers), then the manifest,
   * then its referrers. `ancestors` are the manifests above it (subjects and indexes), for cycles.
   */
  const visit = async (
    fetched: FetchedManifest,
    kind: PlannedManifest['kind'],
    parent: Digest | undefined,
    ancestors: ReadonlySet<Digest>,
    level: number,
    tag?: string,
  ): Promise<void> => {
    const digest = fetched.descriptor.digest;
    planned.add(digest);
    countNode();
    manifestBytes += fetched.bytes.length;
    if (manifestBytes > maxManifestBytes) {
      throw new RegistryError('REGISTRY_UNAVAILABLE', `${where}: its manifests total more than ${maxManifestBytes} bytes`, {
        reason: 'SIZE_LIMIT',
      });
    }
    const inner = new Set(ancestors).add(digest);
    const manifest = fetched.manifest;
    const ownBlobs: Descriptor[] = [];
    if (manifest.kind === 'index') {
      const children = prefetch(manifest.manifests.filter((c) => !inner.has(c.digest) && !planned.has(c.digest)));
      for (const child of manifest.manifests) {
        if (inner.has(child.digest)) throw cycleError(where, digest, child.digest);
        if (planned.has(child.digest)) continue;
        const childFetched = await children(child);
        const childKind = childFetched.manifest.kind === 'index' ? 'index' : 'image';
        await visit(childFetched, kind === 'referrer' ? 'referrer' : childKind, digest, inner, level);
      }
    } else {
      const named = manifest.kind === 'manifest' ? [manifest.config, ...manifest.layers] : manifest.blobs;
      for (const blob of named) {
        ownBlobs.push(blob);
        if (blobs.has(blob.digest)) continue;
        countNode();
        blobs.set(blob.digest, { descriptor: blob, parent: digest, exists: false, needed: false });
      }
    }
    manifests.push({ kind, fetched, parent, blobs: ownBlobs, exists: false, ...(tag !== undefined ? { tag } : {}) });
    const cosignProbe = kind !== 'referrer' ? ahead(cosignSignatureTag(digest)) : undefined;
    await visitReferrers(digest, inner, level);
    if (cosignProbe !== undefined) await visitCosignSignature(digest, inner, level, cosignProbe);
  };

  /**
   * cosign's legacy signature: a manifest under the tag `sha256-<hex>.sig` instead of a referrer
   * (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md), copied under the same tag.
   */
  const visitCosignSignature = async (
    subject: Digest,
    ancestors: ReadonlySet<Digest>,
    level: number,
    probe: Promise<FetchedManifest>,
  ): Promise<void> => {
    const tag = cosignSignatureTag(subject);
    let fetched: FetchedManifest;
    try {
      fetched = await probe;
      if (!isCosignLegacySignature(fetched.manifest)) {
        throw new VouchError('INVALID_INPUT', `${tag} in ${source.location} is not a cosign signature manifest`, { reason: 'BAD_CONTENT' });
      }
    } catch (error) {
      if (error instanceof VouchError && error.code === 'NOT_FOUND') return;
      if (!(error instanceof VouchError) || isFatal(error)) throw error;
      skipped.push({ reference: tag, code: error.code, reason: error.reason, message: error.message });
      return;
    }
    if (ancestors.has(fetched.descriptor.digest)) throw cycleError(where, subject, fetched.descriptor.digest);
    if (planned.has(fetched.descriptor.digest)) return;
    if (level >= maxDepth) {
      throw new RegistryError(
        'REGISTRY_UNAVAILABLE',
        `${where}: ${subject} has a cosign signature deeper than the limit of ${maxDepth} levels`,
        {
          reason: 'TOO_MANY_REFERRERS',
        },
      );
    }
    await visit(fetched, 'referrer', subject, ancestors, level + 1, tag);
  };

  const visitReferrers = async (subject: Digest, ancestors: ReadonlySet<Digest>, level: number): Promise<void> => {
    throwIfAborted(signal, `copy from ${source.location}`);
    const listing = await source.listReferrers(subject, fetchOptions);
    const seen = new Set<Digest>();
    const listed = listing.descriptors.filter((d) => !seen.has(d.digest) && seen.add(d.digest));
    if (listed.length === 0) return;
    if (level >= maxDepth) {
      throw new RegistryError(
        'REGISTRY_UNAVAILABLE',
        `${where}: ${subject} has referrers ${level + 1} levels below the image, deeper than the limit of ${maxDepth}`,
        { reason: 'TOO_MANY_REFERRERS' },
      );
    }
    const fetching = prefetch(listed.filter((d) => !ancestors.has(d.digest) && !planned.has(d.digest)));
    for (const d of listed) {
      if (ancestors.has(d.digest)) throw cycleError(where, subject, d.digest);
      if (planned.has(d.digest)) continue; // a diamond: copied once
      let fetched: FetchedManifest;
      try {
        fetched = await fetching(d);
        const claimed = fetched.manifest.subject?.digest;
        if (claimed !== subject) {
          // The listing (above all the client-written tag schema index) is a hint; the manifest decides.
          throw new VouchError(
            'INVALID_INPUT',
            `referrer ${d.digest} in ${source.location} has subject ${claimed ?? '(none)'}, not ${subject}`,
            { reason: 'BAD_CONTENT' },
          );
        }
      } catch (error) {
        if (!(error instanceof VouchError) || isFatal(error)) throw error;
        skipped.push({ reference: d.digest, code: error.code, reason: error.reason, message: error.message });
        continue;
      }
      await visit(fetched, 'referrer', subject, ancestors, level + 1);
    }
  };

  await visit(root, root.manifest.kind === 'index' ? 'index' : 'image', undefined, new Set(), 0);
  return { subject: root.descriptor, manifests, blobs, skipped, repaired: new Set() };
}

async function currentTag(destination: RegistryRepository, tag: string, options: FetchOptions): Promise<Digest | undefined> {
  try {
    return (await destination.resolve(tag, options)).digest;
  } catch (error) {
    if (error instanceof VouchError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

function cycleError(where: string, from: Digest, to: Digest): RegistryError {
  return new RegistryError('REGISTRY_UNAVAILABLE', `${where}: ${from} lists ${to}, which is above it in the graph (a cycle)`, {
    reason: 'REFERRER_CYCLE',
  });
}

/** Runs at most `max` of the given functions at once (each is one request; none waits on another). */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const slots = new KeyedSemaphore(max);
  return async (fn) => {
    const release = await slots.acquire('requests');
    try {
      return await fn();
    } finally {
      release();
    }
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

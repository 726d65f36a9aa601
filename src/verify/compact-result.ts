// Cached verification answers, stored compactly and served pre-serialised (issue #11, "Scale").
// Measured with bench/provider.ts part (d) (docs/reliability.md "Cached path and memory"): most of
// a cached answer's heap was per-entry copies of what many entries hold alike (signature reports,
// digests, empty reason lists) and two hidden classes per entry that freezing spread copies made.
// Here the parts are shared through an interner keyed by their JSON text (equal text, equal value:
// sharing never shows one entry's data in another), and each value keeps the JSON of everything
// after its `reference`, so the server writes a cached item by concatenation (providerResponseJson)
// instead of walking the object.

import { BoundedCache } from '../core/index.js';
import { deepFreeze, type VerificationResult } from './result.js';

/** The JSON text of a compact value after its `reference` field; non-enumerable, so JSON and spreads skip it. */
const JSON_AFTER_REFERENCE = Symbol('vouch.jsonAfterReference');

/** The leading fields a value must have, in this order, to carry its JSON tail. */
const LEADING_FIELDS = ['verified', 'environment', 'reference'] as const;

/** Distinct shared parts remembered at most (and their JSON bytes): enough for every part of the default 10 000 entries. */
const INTERNED_MAX = 20_000;
const INTERNED_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Heap bytes of one cached answer besides the text of its key and reference, measured with bench (d):
 * the value object and its property array (~120), the outcome and expiry wrappers with the expiry
 * number (~90), the cache's index slot and map entry (~60), the two string headers (~40).
 */
const ENTRY_OVERHEAD_BYTES = 310;

/**
 * A fresh flat copy of `text`: slices and concatenations keep the strings they were cut from alive
 * (and a concatenation is flattened again by every hash), which a cache key living for minutes must not do.
 */
export function ownedString(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** One owner per engine (no module state): its parts are forgotten by clear(). */
export class CompactResults {
  /** JSON text → the one frozen value parsed from it. */
  readonly #parts = new BoundedCache<unknown>({ maxEntries: INTERNED_MAX, maxBytes: INTERNED_MAX_BYTES });
  /** JSON tails (after `reference`) → the one copy of that text. */
  readonly #tails = new BoundedCache<string>({ maxEntries: INTERNED_MAX, maxBytes: INTERNED_MAX_BYTES });

  /**
   * The cached form of `result` to store under `key` (a string owning its text, see ownedString; a
   * reference the key ends with becomes a slice of it): a frozen copy marked `cached: true` whose
   * other fields are shared with equal fields of other entries, plus its estimated heap bytes. The
   * estimate charges every entry its shared parts in full (1.75 bytes a JSON character, as
   * estimateBytes), so it is an upper bound: entries that share parts cost less.
   */
  compact(key: string, result: VerificationResult): { value: VerificationResult; bytes: number } {
    const copy: Record<string, unknown> = {};
    let sharedJsonLength = 0;
    let referenceBytes = 0;
    for (const [name, field] of Object.entries(result)) {
      if (name === 'reference') {
        const reference = field as string;
        referenceBytes = key.endsWith(reference) ? 0 : reference.length;
        copy[name] = referenceBytes === 0 ? key.slice(key.length - reference.length) : ownedString(reference);
      } else if (typeof field === 'boolean' || field === undefined || name === 'cached') copy[name] = field;
      else {
        const json = JSON.stringify(field);
        sharedJsonLength += json.length;
        copy[name] = this.#intern(json);
      }
    }
    copy['cached'] = true;
    const value = copy as unknown as VerificationResult;
    const json = JSON.stringify(value);
    const head = jsonHead(value);
    if (head !== undefined && json.startsWith(head)) {
      const tail = ownedString(json.slice(head.length));
      const shared = this.#tails.get(tail) ?? (this.#tails.set(tail, tail, { bytes: 2 * tail.length + 64 }), tail);
      Object.defineProperty(value, JSON_AFTER_REFERENCE, { value: shared });
    }
    deepFreeze(value);
    const bytes = ENTRY_OVERHEAD_BYTES + key.length + referenceBytes + Math.ceil(1.75 * sharedJsonLength);
    return { value, bytes };
  }

  /** Forgets the shared parts (entries holding them keep them). */
  clear(): void {
    this.#parts.clear();
    this.#tails.clear();
  }

  #intern(json: string): unknown {
    const known = this.#parts.get(json);
    if (known !== undefined) return known;
    // Parsed from the text, not the object it came from: the shared copy is exactly what the
    // text says (no undefined-valued fields) and owns all of its strings.
    const value = deepFreeze(JSON.parse(json) as unknown);
    this.#parts.set(json, value, { bytes: Math.ceil(3 * json.length) + 64 });
    return value;
  }
}

/** `{"verified":…,"environment":…,"reference":` followed by the reference's JSON, when `value` starts with those fields. */
function jsonHead(value: VerificationResult): string | undefined {
  const names = Object.keys(value);
  if (LEADING_FIELDS.some((name, i) => names[i] !== name)) return undefined;
  return `{"verified":${JSON.stringify(value.verified)},"environment":${JSON.stringify(value.environment)},"reference":${JSON.stringify(value.reference)}`;
}

/**
 * JSON.stringify(value), from the JSON kept with a compact value when it has one (only the reference
 * and the leading fields are written again), else by JSON.stringify.
 */
export function verificationResultJson(value: VerificationResult): string {
  const tail = (value as { [JSON_AFTER_REFERENCE]?: string })[JSON_AFTER_REFERENCE];
  if (tail === undefined) return JSON.stringify(value);
  return `{"verified":${value.verified ? 'true' : 'false'},"environment":${JSON.stringify(value.environment)},"reference":${JSON.stringify(value.reference)}${tail}`;
}

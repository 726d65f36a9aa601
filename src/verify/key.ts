// Provider keys (docs/api.md "Keys"): `[environment]reference`, the environment optional.
// Gatekeeper caches answers per key string, so the environment must be part of the key; a key with
// no prefix means the configured defaultEnvironment. Keys come from admission requests and are
// untrusted: bounded in length, never echoed unquoted, parsed with the reference grammar in core.

import { InvalidReferenceError, VouchError, parseReference, type ImageReference } from '../core/index.js';

/** Longest key accepted. A valid reference is at most ~520 characters (name 255, tag 128, sha512 digest). */
export const MAX_KEY_LENGTH = 1024;

/**
 * Environment names: a letter or digit, then letters, digits, `_`, `.`, `-`; at most 63 characters.
 * No `:` ever, which is what tells an environment prefix from an IPv6 registry host (`[::1]:5000/app`).
 * The configuration loader should hold environment names to the same rule.
 */
export const ENVIRONMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface ParsedKey {
  /** The environment the key names, or the default one. */
  environment: string;
  /** True when the key carried an `[environment]` prefix. */
  explicitEnvironment: boolean;
  reference: ImageReference;
}

/** A key split into its optional environment prefix and the reference text; no validation of the reference. */
export interface SplitKey {
  environment: string | undefined;
  reference: string;
}

export function isValidEnvironmentName(name: string): boolean {
  return ENVIRONMENT_NAME_PATTERN.test(name);
}

/**
 * Splits `[environment]reference`. A leading `[` whose bracket holds a `:` is an IPv6 registry host,
 * not an environment, so `[::1]:5000/app:1` has no prefix and `[prod][::1]:5000/app:1` has one.
 * Throws INVALID_REFERENCE for keys that are not strings, empty, too long, or have a malformed prefix.
 */
export function splitKey(key: unknown): SplitKey {
  if (typeof key !== 'string') throw new InvalidReferenceError(`key must be a string, got ${key === null ? 'null' : typeof key}`);
  if (key.length === 0) throw new InvalidReferenceError('key is empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidReferenceError(`key ${quote(key)} is longer than ${MAX_KEY_LENGTH} characters (${key.length})`);
  }
  if (!key.startsWith('[')) return { environment: undefined, reference: key };
  const close = key.indexOf(']');
  if (close === -1) throw new InvalidReferenceError(`key ${quote(key)} opens "[" without a closing "]"`);
  const inner = key.slice(1, close);
  if (inner.includes(':')) return { environment: undefined, reference: key };
  if (!isValidEnvironmentName(inner)) {
    throw new InvalidReferenceError(
      `key ${quote(key)} has an invalid environment name ${quote(inner)} (expected letters, digits, "_", ".", "-", at most 63)`,
    );
  }
  const reference = key.slice(close + 1);
  if (reference.length === 0) throw new InvalidReferenceError(`key ${quote(key)} has no image reference after the environment`);
  return { environment: inner, reference };
}

/**
 * Parses a provider key. Checks run in pipeline order: the prefix's syntax, then the environment
 * (UNKNOWN_ENVIRONMENT when it names no configured one, or when there is no prefix and no default),
 * then the image reference (INVALID_REFERENCE). Throws VouchError with one of those codes.
 */
export function parseKey(key: string, defaultEnvironment: string | undefined, isKnownEnvironment: (name: string) => boolean): ParsedKey {
  const split = splitKey(key);
  const explicitEnvironment = split.environment !== undefined;
  const environment = split.environment ?? defaultEnvironment;
  if (environment === undefined) {
    throw new VouchError('UNKNOWN_ENVIRONMENT', `key ${quote(key)} has no [environment] prefix and no defaultEnvironment is configured`, {
      reason: 'NOT_FOUND',
    });
  }
  if (!isKnownEnvironment(environment)) {
    const what = explicitEnvironment ? 'environment' : 'defaultEnvironment';
    throw new VouchError('UNKNOWN_ENVIRONMENT', `${what} ${quote(environment)} of key ${quote(key)} is not configured`, {
      reason: 'NOT_FOUND',
    });
  }
  return { environment, explicitEnvironment, reference: parseReference(split.reference) };
}

/** JSON-quoted and shortened, so untrusted text in a message stays one bounded line. */
export function quote(text: string, max = 200): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

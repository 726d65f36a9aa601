// Image references, parsed and normalised as distribution/reference does (the grammar in
// distribution's reference/regexp.go, Docker Hub rules as in docker's "normalize.go"):
//   [host[:port]/]path[:tag][@digest]
// The first path component is a host when it contains "." or ":", is "localhost", or has an
// uppercase letter (docker's splitDockerDomain); otherwise the reference lives on Docker Hub: host
// registry-1.docker.io, and a single-component path gets the "library/" prefix.
//
// The host is canonicalised here, once, so that everything keyed by it (trust policy scopes,
// allowedRegistries, the result cache, credentials, metrics) sees one spelling of one endpoint. A
// container runtime pulls the same image for `LOCALHOST:05557/app` and `localhost:5557/app`, so they
// must not select different trust (docs/security.md "Host spelling"):
//   - DNS names are case-insensitive (RFC 4343): lowercased;
//   - a port is a number: leading zeros dropped; `:443`, the HTTPS port a registry is dialled on
//     when none is given, is dropped;
//   - IPv6 literals take their RFC 5952 text form (`[0:0::1]` → `[::1]`);
//   - numeric spellings whose meaning differs between resolvers (`0x7f.1`, `127.000.0.1`,
//     `2130706433`) are refused rather than guessed: only a plain dotted quad is an IPv4 address.

import { InvalidReferenceError } from './errors.js';
import { isDigest, type Digest } from './digest.js';

export const DOCKER_HUB_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

// distribution reference grammar pieces.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
// A host is a domain name or an IP literal, optionally with a port.
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]{1,16}$/;
const IPV6_LITERAL = /^\[[a-fA-F0-9:.]+(?:%[a-zA-Z0-9]+)?\]$/;
const MAX_NAME_LENGTH = 255;
const MAX_REFERENCE_LENGTH = 4096;

/** True for a valid tag (distribution-spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`). */
export function isTag(value: string): boolean {
  return TAG.test(value);
}

/** A parsed, normalised image reference. Immutable. */
export interface ImageReference {
  /** Registry API host as it is dialled, with the port if any: `registry-1.docker.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path on that registry: `library/alpine`, `team/app`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

/**
 * Parses an image reference. Throws InvalidReferenceError (code INVALID_REFERENCE) naming what is
 * wrong: empty input, uppercase repository, bad tag, bad or unsupported digest, and so on.
 */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string') throw new InvalidReferenceError('image reference must be a string');
  if (input.length === 0) throw new InvalidReferenceError('image reference is empty');
  if (input.length > MAX_REFERENCE_LENGTH) {
    throw new InvalidReferenceError(`image reference is longer than ${MAX_REFERENCE_LENGTH} characters`);
  }
  if (/\s/.test(input)) throw new InvalidReferenceError(`image reference "${input}" contains whitespace`);
  if (input.includes('://')) {
    throw new InvalidReferenceError(`image reference "${input}" must not have a scheme (drop "${input.split('://')[0]}://")`);
  }

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const digestText = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digestText)) {
      throw new InvalidReferenceError(
        `image reference "${input}" has an invalid digest "${digestText}" (expected sha256:<64 hex> or sha512:<128 hex>)`,
      );
    }
    digest = digestText;
  }

  // Split host from path: the host is the part before the first "/", when it looks like one.
  let host: string | undefined;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    // docker's splitDockerDomain: a first component with an uppercase letter is a host, since
    // no repository path component may contain one.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || /^\[/.test(first) || /[A-Z]/.test(first)) {
      host = first;
      path = rest.slice(slash + 1);
    }
  }

  // A tag follows the last ":" of the path (the host's port is already split off).
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(`image reference "${input}" has an invalid tag "${tag}"`);
    }
  }

  if (path.length === 0) throw new InvalidReferenceError(`image reference "${input}" has no repository`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      const hint = /[A-Z]/.test(component) ? ' (repository names must be lowercase)' : '';
      throw new InvalidReferenceError(`image reference "${input}" has an invalid repository path component "${component}"${hint}`);
    }
  }

  let registry: string;
  const canonical = host === undefined ? undefined : canonicalHostOf(host, input);
  if (canonical !== undefined && !canonical.includes('.') && !canonical.includes(':') && canonical !== 'localhost') {
    // `LOCALHOST1/app` names host LOCALHOST1 only through its uppercase letters; the canonical text
    // `localhost1/app` would name a Docker Hub repository, so no text could say which image this is.
    throw new InvalidReferenceError(
      `image reference "${input}" has a registry host "${host}" that is a host only by its uppercase letters; write it in lowercase with a port or a domain`,
    );
  }
  if (canonical === undefined || DOCKER_HUB_ALIASES.has(canonical)) {
    registry = DOCKER_HUB_HOST;
    if (!path.includes('/')) path = `library/${path}`;
  } else {
    registry = canonical;
  }
  if (registry.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(`image reference "${input}" has a name longer than ${MAX_NAME_LENGTH} characters`);
  }
  return Object.freeze({ registry, repository: path, tag, digest });
}

/**
 * The canonical form of a registry host `name[:port]` (see the top of this file): lowercase, port
 * without leading zeros and without the default `:443`, IPv6 in RFC 5952 form. Throws
 * InvalidReferenceError for anything that is not a host, or whose numeric form is ambiguous. Docker
 * Hub aliases are not folded here (parseReference does that).
 */
export function canonicalRegistryHostName(host: string): string {
  return canonicalHostOf(host, host);
}

const IPV4 = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
// A last label that a resolver (WHATWG URL, inet_aton) would read as a number.
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/i;

function canonicalHostOf(host: string, input: string): string {
  const invalid = (what = 'registry host', value = host): InvalidReferenceError =>
    new InvalidReferenceError(`image reference "${input}" has an invalid ${what} "${value}"`);
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) throw invalid();
    name = host.slice(0, close + 1);
    const after = host.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) throw invalid();
      port = after.slice(1);
    }
    if (!IPV6_LITERAL.test(name)) throw invalid();
    if (name.includes('%')) {
      // Zone identifiers are local to one machine; no runtime pulls through one.
      throw invalid('registry host (IPv6 zone identifiers are not supported)');
    }
    let canonicalName: string;
    try {
      canonicalName = new URL(`http://${name}/`).hostname;
    } catch {
      throw invalid();
    }
    name = canonicalName;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    // Checked before lowercasing: toLowerCase maps some non-ASCII letters to ASCII ones (U+212A KELVIN
    // SIGN → "k"), and the grammar admits ASCII only.
    const labels = name.split('.');
    if (name.length === 0 || name.length > 253 || !labels.every((part) => DOMAIN_COMPONENT.test(part))) throw invalid();
    name = name.toLowerCase();
    if (NUMERIC_LABEL.test(labels[labels.length - 1]!) && !IPV4.test(name)) {
      throw new InvalidReferenceError(
        `image reference "${input}" has an ambiguous numeric registry host "${host}" (write an IPv4 address as four decimal numbers without leading zeros, e.g. 127.0.0.1)`,
      );
    }
  }
  if (port === undefined) return name;
  if (!PORT.test(port) || Number(port) < 1 || Number(port) > 65535) throw invalid('registry port', port);
  const number = Number(port);
  return number === 443 ? name : `${name}:${number}`;
}

/** `host/repository`, the name notation's trust policy scopes match against. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/**
 * The repository as trust policy `registryScopes` name it: `host[:port]/repo` with the canonical
 * host, Docker Hub written `docker.io/…` as users write it for notation (not the API host).
 */
export function trustPolicyScope(ref: ImageReference): string {
  return ref.registry === DOCKER_HUB_HOST ? `docker.io/${ref.repository}` : repositoryName(ref);
}

/** Canonical text: `host/repo:tag@digest`, with whichever of tag and digest are present. */
export function formatReference(ref: ImageReference): string {
  let text = repositoryName(ref);
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return text;
}

/** The same repository pinned to a digest, tag dropped (what `/v1/mutate` answers). */
export function withDigest(ref: ImageReference, digest: Digest): ImageReference {
  return Object.freeze({ registry: ref.registry, repository: ref.repository, tag: undefined, digest });
}

/**
 * What to ask the registry for: the digest when there is one (a digest wins over a tag, as
 * container runtimes pull by digest when both are given), else the tag, else "latest".
 */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

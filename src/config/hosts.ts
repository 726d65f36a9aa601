// Host names in the configuration: listen addresses (`host:port`), registry hosts (`host[:port]`,
// named exactly as image references name them) and allowedRegistries patterns (`*.example.com`).
// Registry hosts are checked with the image reference parser itself, so a key that no reference can
// ever produce (a bare word, a path, a scheme) is refused rather than silently never matching.

import { isIPv4, isIPv6 } from 'node:net';
import { DOCKER_HUB_HOST, canonicalRegistryHostName } from '../core/index.js';

/** A TCP address to listen on. `port` 0 asks the system for any free port. */
export interface ListenAddress {
  /** A host name or IP address, IPv6 without brackets (`::1`). */
  host: string;
  port: number;
}

const DNS_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB_HOST]);

/** Parses `host:port` (IPv6 as `[::1]:8443`). Returns a message saying what is wrong instead of throwing. */
export function parseListenAddress(text: string): ListenAddress | string {
  const usage = 'expected host:port, e.g. 127.0.0.1:8443, 0.0.0.0:8443 (all interfaces) or [::1]:8443';
  let host: string;
  let port: string;
  if (text.includes('://')) return `${JSON.stringify(text)}: ${usage} (no scheme)`;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return `${JSON.stringify(text)}: ${usage}`;
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!isIPv6(host)) return `${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return `${JSON.stringify(text)} has no port: ${usage}`;
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) return `${JSON.stringify(text)}: an IPv6 address needs brackets, e.g. [::]:8443`;
    if (host === '') return `${JSON.stringify(text)} has no host: ${usage}`;
    if (!isIPv4(host) && !isHostName(host)) return `${JSON.stringify(text)}: ${JSON.stringify(host)} is not a host name or IP address`;
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
    return `${JSON.stringify(text)}: port ${JSON.stringify(port)} is not a number from 0 to 65535`;
  }
  return { host, port: Number(port) };
}

function isHostName(host: string): boolean {
  return host.length <= 253 && host.split('.').every((label) => DNS_LABEL.test(label));
}

/**
 * The canonical form of a registry host as image references produce it (core/reference.ts:
 * lowercase, port without leading zeros, `:443` dropped, IPv6 in RFC 5952 form), Docker Hub's
 * aliases (`docker.io`, `index.docker.io`) folded into `registry-1.docker.io`. Returns a message
 * saying what is wrong for anything that is not a host[:port].
 */
export function canonicalRegistryHost(text: string): string | { error: string } {
  const example = 'expected host[:port], e.g. registry.example.com or 127.0.0.1:5000';
  if (text.includes('/') || text.includes('@') || /\s/.test(text) || text === '') return { error: `not a registry host: ${example}` };
  let host: string;
  try {
    host = canonicalRegistryHostName(text);
  } catch (error) {
    return { error: `not a registry host (${(error as Error).message.replace(/^image reference "[^"]*" has /, '')}): ${example}` };
  }
  if (DOCKER_HUB_ALIASES.has(host)) return DOCKER_HUB_HOST;
  // A host only ever comes out of an image reference when it looks like one; a bare word would be
  // read as a Docker Hub repository, so a key like `registry` could never match anything.
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
    return {
      error: `not a registry host: image references only name a host that contains "." or ":" or is "localhost" (${example})`,
    };
  }
  return host;
}

/**
 * Checks one allowedRegistries entry and returns its canonical form: a registry host as
 * canonicalRegistryHost accepts, `*.domain[:port]` (any host below domain, with exactly that port or
 * none), or `*` (every host).
 */
export function canonicalRegistryPattern(text: string): string | { error: string } {
  if (text === '*') return text;
  if (text.startsWith('*.')) {
    // Lowercased only once checked: toLowerCase maps some non-ASCII letters to ASCII (U+212A → "k").
    const { name: written, port } = splitPort(text.slice(2));
    if (!isHostName(written)) return { error: `${JSON.stringify(written)} after "*." is not a domain name` };
    const name = written.toLowerCase();
    if (port === undefined) return `*.${name}`;
    if (!/^[0-9]{1,16}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      return { error: `port ${JSON.stringify(port)} is not a number from 1 to 65535` };
    }
    // The same port spelling as canonical hosts: a number, and 443 is the default (no port).
    return Number(port) === 443 ? `*.${name}` : `*.${name}:${Number(port)}`;
  }
  if (text.includes('*')) return { error: 'a wildcard is only allowed as the first label, e.g. *.example.com' };
  return canonicalRegistryHost(text);
}

/**
 * Whether a registry host (as an image reference names it) is allowed by allowedRegistries patterns
 * (already canonical). `undefined` allows every host. A pattern without a port matches only the host
 * without a port: `registry.example.com` does not allow `registry.example.com:5000`.
 */
export function registryAllowed(patterns: readonly string[] | undefined, host: string): boolean {
  if (patterns === undefined) return true;
  const canonical = canonicalRegistryHost(host);
  if (typeof canonical !== 'string') return false;
  const { name, port } = splitPort(canonical);
  for (const pattern of patterns) {
    if (pattern === '*' || pattern === canonical) return true;
    if (pattern.startsWith('*.')) {
      const wanted = splitPort(pattern.slice(2));
      if (wanted.port === port && name.endsWith(`.${wanted.name}`)) return true;
    }
  }
  return false;
}

function splitPort(host: string): { name: string; port: string | undefined } {
  const close = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  if (colon === -1 || colon < close) return { name: host, port: undefined };
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

// Egress control for everything the registry client fetches: which hosts a redirect hop or a
// Bearer token realm may lead to, and the link-local / cloud metadata addresses no request may
// reach unless configuration names that exact host. Registry responses are untrusted: a Location
// header or a WWW-Authenticate realm is an attacker-chosen URL (docs/security.md "Egress").
//
// Addresses are checked twice: the URL's literal host before a request is sent (the WHATWG URL
// parser has already turned odd IPv4 spellings such as 0xa9fea9fe, 2852039166 or 0251.0376.0251.0376
// into dotted decimal), and every address a host name resolves to, at connect time, so a DNS name
// pointing at 169.254.169.254 is refused too. The connection then goes to the checked address
// itself (no second resolution a rebinding DNS server could answer differently).

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { RegistryError } from '../core/index.js';

/**
 * Host predicates the registry client applies to every request it makes. Hosts are given as
 * `URL.host` spells them: lowercase, `[v6]` in brackets, default port dropped (`registry.example.com`,
 * `127.0.0.1:5000`). The configuration builds these (config/registries.ts `egressRules`); oci never
 * reads configuration itself.
 */
export interface EgressRules {
  /**
   * Whether a redirect hop may lead to `host`. A hop back to the host the request was sent to is
   * always allowed. Default: every host (https → http is refused regardless).
   */
  isRedirectAllowed?: (host: string) => boolean;
  /** Whether a Bearer challenge may name a token realm on `host` (other than the registry's own host). Default: every host. */
  isRealmAllowed?: (host: string) => boolean;
  /**
   * Whether a token realm on `host` (other than the registry's own host) may receive the
   * registry's configured credentials. Default: none.
   */
  mayReceiveCredentials?: (host: string) => boolean;
  /**
   * Whether `host` is exempt from the link-local / cloud metadata refusal because configuration
   * names exactly that host (never through a wildcard). Default: none.
   */
  isAddressExempt?: (host: string) => boolean;
}

/**
 * IPv4 ranges no request may reach unless exempt:
 * - 169.254.0.0/16, IPv4 link-local (RFC 3927). Every major cloud's instance metadata service lives
 *   here: AWS, GCP, Azure, OCI at 169.254.169.254
 *   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html,
 *   https://cloud.google.com/compute/docs/metadata/querying-metadata,
 *   https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service), AWS ECS task
 *   metadata at 169.254.170.2.
 * - 100.100.100.200, Alibaba Cloud ECS metadata
 *   (https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata).
 * - 192.0.0.192, Oracle Cloud (classic) metadata (PayloadsAllTheThings, "SSRF-Cloud-Instances.md").
 */
const SPECIAL_IPV4: ReadonlyArray<readonly [string, number]> = [
  ['169.254.0.0', 16],
  ['100.100.100.200', 32],
  ['192.0.0.192', 32],
];

/**
 * IPv6 ranges: fe80::/10 link-local (RFC 4291 §2.5.6) and fd00:ec2::254, the AWS metadata
 * service over IPv6 (AWS link above). IPv4-mapped forms (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) are
 * matched against the IPv4 rules by BlockList itself; the IPv4-compatible (::a.b.c.d, deprecated
 * RFC 4291 §2.5.5.1) and NAT64 well-known-prefix (64:ff9b::/96, RFC 6052 §2.1) embeddings of the
 * IPv4 ranges are added explicitly.
 */
const SPECIAL_IPV6: ReadonlyArray<readonly [string, number]> = [
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
];

/** Names of metadata services, refused before any DNS lookup (GCP link above). */
const SPECIAL_NAMES: ReadonlySet<string> = new Set(['metadata.google.internal']);

/** The rules as a BlockList (built per user: no module-level mutable state). */
export function specialAddressBlockList(): BlockList {
  const list = new BlockList();
  for (const [address, prefix] of SPECIAL_IPV4) {
    list.addSubnet(address, prefix, 'ipv4');
    const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
    const low = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    list.addSubnet(`::${low}`, 96 + prefix, 'ipv6');
    list.addSubnet(`64:ff9b::${low}`, 96 + prefix, 'ipv6');
  }
  for (const [address, prefix] of SPECIAL_IPV6) list.addSubnet(address, prefix, 'ipv6');
  return list;
}

/**
 * Why a host (a URL hostname, IPv6 possibly in brackets, or a resolved address) is link-local or a
 * cloud metadata service; undefined when it is neither or is a name that still has to be resolved.
 */
export function specialHostReason(list: BlockList, hostname: string): string | undefined {
  let host = hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  const family = isIP(host);
  if (family === 0) return SPECIAL_NAMES.has(host) ? `${host} is a cloud metadata service` : undefined;
  return list.check(host, family === 4 ? 'ipv4' : 'ipv6') ? `${host} is a link-local or cloud metadata address` : undefined;
}

/** The error for a refused address; the transport prefixes what was being fetched. */
export function addressRefused(host: string, detail: string): RegistryError {
  return new RegistryError(
    'REGISTRY_NOT_ALLOWED',
    `refusing to contact ${host}: ${detail} (list exactly "${host}" in allowedRegistries, allowedRedirects, allowedTokenRealms or revocation.allowedHosts to allow it)`,
    { reason: 'ADDRESS_NOT_ALLOWED' },
  );
}

/**
 * A DNS lookup that fails when any address a name resolves to is special: one bad address among
 * several refuses the name (fail closed). Handles both callback shapes (`all` or not), since net
 * asks for all addresses when it races IPv4 and IPv6 (autoSelectFamily).
 */
export function guardedLookup(base: LookupFunction, list: BlockList): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    base(hostname, options, (error, address, family) => {
      if (error) {
        callback(error, address, family);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(address) ? address : [{ address, family: family ?? isIP(address) }];
      for (const entry of addresses) {
        const reason = specialHostReason(list, entry.address);
        if (reason !== undefined) {
          callback(addressRefused(hostname, `it resolves to ${entry.address}, a link-local or cloud metadata address`), address, family);
          return;
        }
      }
      callback(null, address, family);
    });
  };
}

export interface EgressAgentOptions {
  /** Exempt hosts (configuration lists them exactly), as `URL.host` spells them. Default: none. */
  isAddressExempt?: (host: string) => boolean;
  /** The resolver whose answers are checked (default dns.lookup); tests map names to addresses. */
  lookup?: LookupFunction;
  /** TLS options for https connections (e.g. `ca` for a private registry CA). */
  tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  connectTimeoutMs?: number;
  connections?: number;
  keepAliveTimeoutMs?: number;
}

/**
 * An undici Agent whose every connection is checked: a literal address must not be special, and
 * every address a name resolves to must not be either, unless the host is exempt.
 */
export function createEgressAgent(options: EgressAgentOptions = {}): Agent {
  const list = specialAddressBlockList();
  const isExempt = options.isAddressExempt ?? (() => false);
  const base: LookupFunction = options.lookup ?? (dnsLookup as LookupFunction);
  const build = (lookup: LookupFunction) => buildConnector({ ...(options.tls ?? {}), timeout: options.connectTimeoutMs ?? 5_000, lookup });
  const plain = build(base);
  const guarded = build(guardedLookup(base, list));
  const connect: buildConnector.connector = (opts, callback) => {
    const host = opts.host ?? opts.hostname;
    const literal = specialHostReason(list, opts.hostname);
    if (isExempt(host)) {
      plain(opts, callback);
    } else if (literal !== undefined) {
      queueMicrotask(() => callback(addressRefused(host, literal), null));
    } else {
      guarded(opts, callback);
    }
  };
  return new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    keepAliveMaxTimeout: 120_000,
    connect,
  });
}

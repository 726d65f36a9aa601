// The signing options `vouch sign` and `vouch promote --sign-for` share: their flags, their help
// text, and turning them into a signer and SignImageOptions. Everything here is local (files,
// flags): a bad key, chain or timestamp root fails before any registry is contacted.

import { readFile } from 'node:fs/promises';
import { VouchError } from '../core/index.js';
import { loadSigningIdentity, type SignImageOptions, type SigningIdentity, type TimestampOptions } from '../notation/index.js';
import { parseCertificates } from '../trust/index.js';
import { UsageError } from './io.js';

/** parseArgs option specs of the signing flags. */
export const SIGNING_FLAGS = {
  key: { type: 'string' },
  cert: { type: 'string' },
  envelope: { type: 'string', default: 'jws' },
  expiry: { type: 'string' },
  'timestamp-url': { type: 'string' },
  'timestamp-root': { type: 'string' },
  annotation: { type: 'string', multiple: true },
  'user-metadata': { type: 'string', multiple: true },
} as const;

/** Help lines of the signing flags (both commands' usage texts). */
export const SIGNING_FLAGS_HELP = `  --key KEY            PEM private key (PKCS#8, EC or RSA; not encrypted): EC P-256/384/521 or
                       RSA 2048/3072/4096
  --cert CHAIN         PEM certificate chain, leaf first, ending in its self-signed root
  --envelope FMT       jws (default) or cose
  --expiry DURATION    signature expiry from now: e.g. 30m, 72h, 7d
  --timestamp-url URL  RFC 3161 timestamp authority to countersign the signature
  --timestamp-root PEM root certificate(s) the TSA's token must chain to (with --timestamp-url)
  --annotation k=v     annotation on the signature manifest (repeatable)
  --user-metadata k=v  signed user metadata in the payload, as notation's (repeatable)`;

export interface SigningFlagValues {
  key?: string | undefined;
  cert?: string | undefined;
  envelope?: string | undefined;
  expiry?: string | undefined;
  'timestamp-url'?: string | undefined;
  'timestamp-root'?: string | undefined;
  annotation?: string[] | undefined;
  'user-metadata'?: string[] | undefined;
}

/** What to sign with: the identity and the options signImage/prepareSignature take (expiry relative to signing). */
export interface SigningChoice {
  signer: SigningIdentity;
  options: Pick<SignImageOptions, 'format' | 'userMetadata' | 'manifestAnnotations' | 'timestamp'>;
  /** Expiry as a duration from the signing time. */
  expiryMs: number | undefined;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Ten years: a longer "best by" is certainly a typo. */
const MAX_EXPIRY_MS = 10 * 365 * 86_400_000;

/** A duration like notation's --expiry: one or more <integer><unit> with units s, m, h, d (`72h`, `1h30m`, `7d`). */
export function parseDuration(text: string, usage = ''): number {
  if (!/^(\d+[smhd])+$/.test(text)) throw new UsageError(`--expiry must be a duration like 30m, 72h or 7d, got "${text}"`, usage);
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) ms += Number(amount) * UNIT_MS[unit!]!;
  if (ms <= 0) throw new UsageError(`--expiry must be positive, got "${text}"`, usage);
  if (ms > MAX_EXPIRY_MS) throw new UsageError(`--expiry must be at most ten years, got "${text}"`, usage);
  return ms;
}

function keyValues(values: string[] | undefined, flag: string, usage: string): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} must be key=value, got "${item}"`, usage);
    const key = item.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`${flag} ${key} is given twice`, usage);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

/** Checks the flags (UsageError, exit 2) without reading any file. */
export function checkSigningFlags(values: SigningFlagValues, usage: string, context = ''): void {
  if (values.key === undefined || values.key === '') throw new UsageError(`--key is required${context}`, usage);
  if (values.cert === undefined || values.cert === '') throw new UsageError(`--cert is required${context}`, usage);
  const format = values.envelope ?? 'jws';
  if (format !== 'jws' && format !== 'cose') throw new UsageError(`--envelope must be jws or cose, got "${format}"`, usage);
  if (values.expiry !== undefined) parseDuration(values.expiry, usage);
  if ((values['timestamp-url'] === undefined) !== (values['timestamp-root'] === undefined)) {
    throw new UsageError('--timestamp-url and --timestamp-root go together', usage);
  }
  if (values['timestamp-url'] !== undefined) timestampUrl(values['timestamp-url'], usage);
  keyValues(values.annotation, '--annotation', usage);
  keyValues(values['user-metadata'], '--user-metadata', usage);
}

function timestampUrl(text: string, usage: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--timestamp-url is not a URL: "${text}"`, usage);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--timestamp-url must be http or https, got "${url.protocol}"`, usage);
  }
  return url;
}

/** Reads the key, the chain and the timestamp root named by the flags (checked with checkSigningFlags first). */
export async function loadSigningChoice(values: SigningFlagValues, usage: string): Promise<SigningChoice> {
  checkSigningFlags(values, usage);
  const signer = await loadSigningIdentity(values.key!, values.cert!);
  let timestamp: TimestampOptions | undefined;
  if (values['timestamp-url'] !== undefined) {
    const rootFile = values['timestamp-root']!;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(rootFile));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new VouchError('INVALID_INPUT', `timestamp root ${rootFile}: cannot be read (${code ?? String(error)})`, {
        reason: code === 'ENOENT' ? 'NOT_FOUND' : 'OTHER',
      });
    }
    timestamp = { url: timestampUrl(values['timestamp-url'], usage), roots: parseCertificates(bytes, `timestamp root ${rootFile}`) };
  }
  const manifestAnnotations = keyValues(values.annotation, '--annotation', usage);
  const userMetadata = keyValues(values['user-metadata'], '--user-metadata', usage);
  return {
    signer,
    expiryMs: values.expiry === undefined ? undefined : parseDuration(values.expiry, usage),
    options: {
      format: values.envelope === 'cose' ? 'cose' : 'jws',
      ...(userMetadata ? { userMetadata } : {}),
      ...(manifestAnnotations ? { manifestAnnotations } : {}),
      ...(timestamp ? { timestamp } : {}),
    },
  };
}

// `vouch sign --key KEY --cert CHAIN [...] REF`: signs an image as `notation sign` does and
// attaches the signature as a referrer (OCI 1.1 artifact manifest; the referrers tag index is kept
// current on registries without the Referrers API). docs/api.md "vouch sign". Exit 0 signed,
// 1 the registry or the TSA failed, 2 bad usage or bad input (key, certificate, reference).

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createRegistryClient } from '../../app/index.js';
import { CONFIG_ENV_VAR, loadConfig } from '../../config/index.js';
import { VouchError, formatReference, manifestReference, parseReference, withDigest } from '../../core/index.js';
import { moduleLogger } from '../../log.js';
import { loadSigningIdentity, signImage, type TimestampOptions } from '../../notation/index.js';
import { RegistryClient, referrersTag } from '../../oci/index.js';
import { parseCertificates } from '../../trust/index.js';
import { UsageError, type CommandIo } from '../io.js';

export const signUsage = `usage: vouch sign --key KEY --cert CHAIN [--envelope jws|cose] [--expiry DURATION]
                  [--timestamp-url URL --timestamp-root PEM] [--annotation k=v]... [--user-metadata k=v]...
                  [--config FILE] [--plain-http] [--output text|json] REF

Signs an image with a Notary Project signature that \`notation verify\` accepts, and pushes it as a
referrer of the image (OCI 1.1 manifest with artifactType application/vnd.cncf.notary.signature).
On registries without the Referrers API the sha256-<hex> referrers tag index is updated.

  REF                  image by tag (resolved; the digest is signed) or by digest
  --key KEY            PEM private key (PKCS#8, EC or RSA; not encrypted): EC P-256/384/521 or
                       RSA 2048/3072/4096
  --cert CHAIN         PEM certificate chain, leaf first, ending in its self-signed root
  --envelope FMT       jws (default) or cose
  --expiry DURATION    signature expiry from now: e.g. 30m, 72h, 7d
  --timestamp-url URL  RFC 3161 timestamp authority to countersign the signature
  --timestamp-root PEM root certificate(s) the TSA's token must chain to (with --timestamp-url)
  --annotation k=v     annotation on the signature manifest (repeatable)
  --user-metadata k=v  signed user metadata in the payload, as notation's (repeatable)
  --config FILE        take registry credentials and plainHttp from the config's registries
                       section (or ${CONFIG_ENV_VAR})
  --plain-http         without a config: talk HTTP to the registry (loopback development registries)
  --output FMT         text (default) or json

Without a config, registry credentials come from VOUCH_REGISTRY_USERNAME and VOUCH_REGISTRY_PASSWORD.
Exit status: 0 signed, 1 the registry or the timestamp authority failed, 2 bad usage or bad input.`;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Ten years: a longer "best by" is certainly a typo. */
const MAX_EXPIRY_MS = 10 * 365 * 86_400_000;

/** A duration like notation's --expiry: one or more <integer><unit> with units s, m, h, d (`72h`, `1h30m`, `7d`). */
export function parseDuration(text: string): number {
  if (!/^(\d+[smhd])+$/.test(text)) throw new UsageError(`--expiry must be a duration like 30m, 72h or 7d, got "${text}"`, signUsage);
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) ms += Number(amount) * UNIT_MS[unit!]!;
  if (ms <= 0) throw new UsageError(`--expiry must be positive, got "${text}"`, signUsage);
  if (ms > MAX_EXPIRY_MS) throw new UsageError(`--expiry must be at most ten years, got "${text}"`, signUsage);
  return ms;
}

function keyValues(values: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} must be key=value, got "${item}"`, signUsage);
    const key = item.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`${flag} ${key} is given twice`, signUsage);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

export async function signCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: 'string' },
      cert: { type: 'string' },
      envelope: { type: 'string', default: 'jws' },
      expiry: { type: 'string' },
      'timestamp-url': { type: 'string' },
      'timestamp-root': { type: 'string' },
      annotation: { type: 'string', multiple: true },
      'user-metadata': { type: 'string', multiple: true },
      config: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      output: { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(signUsage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one image reference', signUsage);
  if (values.key === undefined || values.key === '') throw new UsageError('--key is required', signUsage);
  if (values.cert === undefined || values.cert === '') throw new UsageError('--cert is required', signUsage);
  const format = values.envelope;
  if (format !== 'jws' && format !== 'cose') throw new UsageError(`--envelope must be jws or cose, got "${format}"`, signUsage);
  if (values.output !== 'text' && values.output !== 'json')
    throw new UsageError(`--output must be text or json, got "${values.output}"`, signUsage);
  const expiryMs = values.expiry === undefined ? undefined : parseDuration(values.expiry);
  if ((values['timestamp-url'] === undefined) !== (values['timestamp-root'] === undefined)) {
    throw new UsageError('--timestamp-url and --timestamp-root go together', signUsage);
  }
  let timestampUrl: URL | undefined;
  if (values['timestamp-url'] !== undefined) {
    try {
      timestampUrl = new URL(values['timestamp-url']);
    } catch {
      throw new UsageError(`--timestamp-url is not a URL: "${values['timestamp-url']}"`, signUsage);
    }
    if (timestampUrl.protocol !== 'https:' && timestampUrl.protocol !== 'http:') {
      throw new UsageError(`--timestamp-url must be http or https, got "${timestampUrl.protocol}"`, signUsage);
    }
  }
  const manifestAnnotations = keyValues(values.annotation, '--annotation');
  const userMetadata = keyValues(values['user-metadata'], '--user-metadata');
  const configPath = values.config ?? (process.env[CONFIG_ENV_VAR] || undefined);
  if (configPath !== undefined && values['plain-http']) {
    throw new UsageError(`--plain-http is for use without a config; with one, set plainHttp in its registries section`, signUsage);
  }
  const input = positionals[0]!;
  const ref = parseReference(input);

  // Everything local first: a bad key, chain or root fails before any registry is contacted.
  const signer = await loadSigningIdentity(values.key, values.cert);
  let timestamp: TimestampOptions | undefined;
  if (timestampUrl !== undefined) {
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
    timestamp = { url: timestampUrl, roots: parseCertificates(bytes, `timestamp root ${rootFile}`) };
  }

  let client: RegistryClient;
  if (configPath !== undefined) {
    client = createRegistryClient(await loadConfig(configPath), { logger: moduleLogger('cli') });
  } else {
    const username = process.env['VOUCH_REGISTRY_USERNAME'];
    client = new RegistryClient({
      hosts: {
        [ref.registry]: {
          plainHttp: values['plain-http'],
          ...(username ? { username, password: process.env['VOUCH_REGISTRY_PASSWORD'] ?? '' } : {}),
        },
      },
    });
  }
  try {
    const repository = client.repositoryFor(ref);
    const subject = await repository.resolve(manifestReference(ref));
    const signed = await signImage(repository, subject, {
      signer,
      format,
      ...(expiryMs !== undefined ? { expiry: new Date(Date.now() + expiryMs) } : {}),
      ...(userMetadata ? { userMetadata } : {}),
      ...(manifestAnnotations ? { manifestAnnotations } : {}),
      ...(timestamp ? { timestamp } : {}),
    });
    const signedRef = formatReference(withDigest(ref, subject.digest));
    if (values.output === 'json') {
      io.out(
        JSON.stringify(
          {
            reference: signedRef,
            subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
            signature: { ...signed.descriptor, envelopeMediaType: signed.envelopeMediaType },
            via: signed.via,
            ...(signed.via === 'tag-schema' ? { referrersTag: referrersTag(subject.digest) } : {}),
            timestamped: timestamp !== undefined,
          },
          null,
          2,
        ),
      );
    } else {
      const via =
        signed.via === 'referrers-api'
          ? 'the registry indexed it (Referrers API)'
          : `the referrers tag index ${referrersTag(subject.digest)} was updated (no Referrers API)`;
      io.out(
        [
          `Signed ${signedRef}`,
          `  signature ${signed.descriptor.digest} (${format}${timestamp ? ', timestamped' : ''})`,
          `  referrer: ${via}`,
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await client.close();
  }
}

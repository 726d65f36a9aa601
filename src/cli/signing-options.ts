// The signing options `vouch sign` and `vouch promote --sign-for` share: their flags, their help
// text, and turning them into a signer and SignImageOptions. Everything here is local (files,
// flags): a bad key, chain or timestamp root fails before any registry is contacted.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { VouchConfig } from '../config/index.js';
import { VouchError } from '../core/index.js';
import {
  PLUGIN_NAME,
  PluginHost,
  loadSigningIdentity,
  pluginSigningKey,
  readPemFile,
  pluginSigningMode,
  type PluginSigningKey,
  type SignImageOptions,
  type SigningIdentity,
  type TimestampOptions,
} from '../notation/index.js';
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
  plugin: { type: 'string' },
  id: { type: 'string' },
  'plugin-config': { type: 'string', multiple: true },
  'plugin-dir': { type: 'string' },
} as const;

/** The flags that choose a key held by a notation plugin (instead of --key/--cert). */
export const PLUGIN_SIGNING_FLAGS = ['plugin', 'id', 'plugin-config', 'plugin-dir'] as const;

/**
 * One plugin command while signing from the CLI. Far above the server's verification budget: a
 * signing service may be remote, slow, or wait for an approval.
 */
export const CLI_PLUGIN_TIMEOUT_MS = 60_000;

/** Help lines of the signing flags (both commands' usage texts). */
export const SIGNING_FLAGS_HELP = `  --key KEY            PEM private key (PKCS#8, EC or RSA; not encrypted): EC P-256/384/521 or
                       RSA 2048/3072/4096
  --cert CHAIN         PEM certificate chain, leaf first, ending in its self-signed root
  --envelope FMT       jws (default) or cose
  --expiry DURATION    signature expiry from now: e.g. 30m, 72h, 7d
  --timestamp-url URL  RFC 3161 timestamp authority to countersign the signature
  --timestamp-root PEM root certificate(s) the TSA's token must chain to (with --timestamp-url)
  --annotation k=v     annotation on the signature manifest (repeatable)
  --user-metadata k=v  signed user metadata in the payload, as notation's (repeatable)
  --plugin NAME        sign with a key held by the notation plugin NAME (a KMS, HSM or signing
                       service: the key never leaves it); instead of --key/--cert
  --id KEY_ID          the key's id in the plugin (with --plugin)
  --plugin-config k=v  configuration for the plugin (repeatable), as notation's --plugin-config
  --plugin-dir DIR     plugin directory (<DIR>/NAME/notation-NAME); default: the config's
                       plugins.directory, else notation's \$XDG_CONFIG_HOME/notation/plugins
                       (~/.config/notation/plugins). The plugin runs with your environment.`;

export interface SigningFlagValues {
  key?: string | undefined;
  cert?: string | undefined;
  envelope?: string | undefined;
  expiry?: string | undefined;
  'timestamp-url'?: string | undefined;
  'timestamp-root'?: string | undefined;
  annotation?: string[] | undefined;
  'user-metadata'?: string[] | undefined;
  plugin?: string | undefined;
  id?: string | undefined;
  'plugin-config'?: string[] | undefined;
  'plugin-dir'?: string | undefined;
}

/** What to sign with: the identity and the options signImage/prepareSignature take (expiry relative to signing). */
export interface SigningChoice {
  /** Key files, or a key held by a notation plugin. */
  signer: SigningIdentity | PluginSigningKey;
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
  if (values.plugin !== undefined) {
    if (values.key !== undefined || values.cert !== undefined) {
      throw new UsageError("--plugin signs with the plugin's key: it excludes --key and --cert", usage);
    }
    if (!PLUGIN_NAME.test(values.plugin) || values.plugin.includes('..')) {
      throw new UsageError(`--plugin must be a plugin name (letters, digits, ".", "_", "-"), got "${values.plugin}"`, usage);
    }
    if (values.id === undefined || values.id === '') throw new UsageError(`--plugin needs --id KEY_ID${context}`, usage);
    if (values['plugin-dir'] === '') throw new UsageError('--plugin-dir is empty', usage);
    keyValues(values['plugin-config'], '--plugin-config', usage);
  } else {
    const stray = (['id', 'plugin-config', 'plugin-dir'] as const).find((name) => values[name] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} goes with --plugin NAME`, usage);
    if (values.key === undefined || values.key === '') throw new UsageError(`--key is required${context}`, usage);
    if (values.cert === undefined || values.cert === '') throw new UsageError(`--cert is required${context}`, usage);
  }
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

/** Where `vouch sign --plugin` finds plugins, and with what. */
export interface PluginSigningContext {
  /** The loaded --config, for plugins.directory and, with `environment`, its plugin configuration. */
  config?: VouchConfig | undefined;
  /** The environment whose plugin configuration applies (`promote --sign-for ENV`). */
  environment?: string | undefined;
  /** The caller's environment: the plugin runs with it, and it locates notation's default directory. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The plugin directory: --plugin-dir, else the config's plugins.directory, else notation's default
 * (notation-go dir.PluginFS: the user config directory, os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config).
 */
export function pluginDirectory(values: SigningFlagValues, context: PluginSigningContext = {}): string {
  if (values['plugin-dir'] !== undefined) return resolve(values['plugin-dir']);
  const configured = context.config?.plugins?.directory;
  if (configured !== undefined) return configured;
  const env = context.env ?? process.env;
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : join(env['HOME'] || homedir(), '.config');
  return join(resolve(base), 'notation', 'plugins');
}

/**
 * A key held by a plugin. The plugin runs with the caller's environment, like notation's: the CLI acts
 * with the user's own authority (the server scrubs). Its configuration is the config's for
 * `context.environment` and that plugin, overridden key by key by --plugin-config (notation-go mergeConfig).
 */
async function pluginChoice(values: SigningFlagValues, usage: string, context: PluginSigningContext): Promise<PluginSigningKey> {
  const name = values.plugin!;
  const env = context.env ?? process.env;
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) environment[k] = v;
  const host = new PluginHost({ directory: pluginDirectory(values, context), environment, timeoutMs: CLI_PLUGIN_TIMEOUT_MS });
  const fromConfig = context.environment === undefined ? undefined : context.config?.plugins?.config.get(context.environment)?.get(name);
  const given = keyValues(values['plugin-config'], '--plugin-config', usage);
  const merged = fromConfig === undefined && given === undefined ? undefined : { ...fromConfig, ...given };
  const key = pluginSigningKey(host, name, values.id!, merged);
  // A missing, unsafe or non-signing plugin fails here, before any registry is contacted (the
  // answer is cached by the host for the signing that follows).
  pluginSigningMode(name, await host.metadata(name, merged));
  return key;
}

/** Reads the key, the chain and the timestamp root named by the flags (checked with checkSigningFlags first). */
export async function loadSigningChoice(
  values: SigningFlagValues,
  usage: string,
  context: PluginSigningContext = {},
): Promise<SigningChoice> {
  const signer =
    values.plugin !== undefined ? await pluginChoice(values, usage, context) : await loadSigningIdentity(values.key!, values.cert!);
  let timestamp: TimestampOptions | undefined;
  if (values['timestamp-url'] !== undefined) {
    const rootFile = values['timestamp-root']!;
    const bytes = await readPemFile(rootFile, 'timestamp root');
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

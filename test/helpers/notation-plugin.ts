// The real Notary Project plugin "vouch-test" (tools/notation-vouch-test, built by scripts/tools.sh on the upstream
// plugin framework) installed into plugin directories, with keys held by the plugin, for the plugin tests of notation
// and vouch. Plugin layout (notation's, and vouch's plugin host): <directory>/<name>/notation-<name>
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md#plugin-discovery).
// The plugin's behaviour and faults are driven by pluginConfig keys: see tools/notation-vouch-test/README.md.

import { createHash, type KeyObject } from 'node:crypto';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Certificate } from '../../src/trust/index.js';
import type { NotationCli, NotationResult } from './notation.js';
import type { GeneratedCertificate, GeneratedChain } from './pki.js';
import { toolPath } from './registries.js';

export const TEST_PLUGIN_NAME = 'vouch-test';
/** The version the plugin reports unless pluginConfig test.version says otherwise. */
export const TEST_PLUGIN_DEFAULT_VERSION = '1.2.0';

/** One key the plugin holds: `keys/<id>.key` (PEM private key) and `keys/<id>.crt` (PEM chain, leaf first). */
export interface TestPluginKey {
  id: string;
  keyPem: string;
  chainPem: string;
}

export interface InstalledTestPlugin {
  /** The plugin directory given (holds `vouch-test/`): notation's `<config>/plugins`, or vouch's plugins directory. */
  directory: string;
  /** `<directory>/vouch-test` */
  pluginDir: string;
  /** `<directory>/vouch-test/notation-vouch-test` (a copy of the built binary, mode 0755) */
  executable: string;
  keysDir: string;
  revokedPath: string;
}

/** A key for the plugin from a test PKI chain (leaf first) or certificate: PKCS#8 key, PEM chain. */
export function testPluginKey(id: string, source: GeneratedChain | GeneratedCertificate | GeneratedCertificate[]): TestPluginKey {
  const chain = Array.isArray(source) ? source : 'chain' in source ? source.chain : [source];
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('testPluginKey: empty chain');
  return { id, keyPem: privateKeyPem(leaf.privateKey), chainPem: chain.map((c) => `${c.certificate.toPem().trimEnd()}\n`).join('') };
}

function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Lowercase hex SHA-256 of a certificate's DER: the form of the plugin's revoked.txt and "vouch-test.sha256:" identities. */
export function certificateFingerprint(certificate: Certificate | Uint8Array): string {
  const der = certificate instanceof Uint8Array ? certificate : certificate.der;
  return createHash('sha256').update(der).digest('hex');
}

/** A trusted identity only the plugin understands: the leaf certificate by fingerprint. */
export function fingerprintIdentity(certificate: Certificate | Uint8Array): string {
  return `vouch-test.sha256:${certificateFingerprint(certificate)}`;
}

/**
 * Copies the built plugin to `<directory>/vouch-test/notation-vouch-test` (mode 0755; a copy, since plugin hosts may
 * refuse symlinks), writes `keys/` and `revoked.txt` (certificates or fingerprints). Calling it again on the same
 * directory adds keys and replaces revoked.txt.
 */
export async function installTestPlugin(
  directory: string,
  options: { keys?: TestPluginKey[]; revoked?: Certificate[] | string[] } = {},
): Promise<InstalledTestPlugin> {
  const pluginDir = join(directory, TEST_PLUGIN_NAME);
  const executable = join(pluginDir, `notation-${TEST_PLUGIN_NAME}`);
  const keysDir = join(pluginDir, 'keys');
  const revokedPath = join(pluginDir, 'revoked.txt');
  await mkdir(keysDir, { recursive: true, mode: 0o755 });
  await copyFile(toolPath('notation-vouch-test'), executable);
  await chmod(executable, 0o755);
  for (const key of options.keys ?? []) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(key.id)) throw new Error(`installTestPlugin: bad key id ${key.id}`);
    await writeFile(join(keysDir, `${key.id}.key`), key.keyPem, { mode: 0o600 });
    await writeFile(join(keysDir, `${key.id}.crt`), key.chainPem);
  }
  await writeRevoked({ revokedPath }, options.revoked ?? []);
  return { directory, pluginDir, executable, keysDir, revokedPath };
}

/** Replaces the plugin's revocation list. */
export async function writeRevoked(plugin: Pick<InstalledTestPlugin, 'revokedPath'>, revoked: Certificate[] | string[]): Promise<void> {
  const lines = revoked.map((r) => (typeof r === 'string' ? r.toLowerCase() : certificateFingerprint(r)));
  await writeFile(plugin.revokedPath, lines.map((l) => `${l}\n`).join(''));
}

/** Installs the plugin where this notation looks for plugins (`<config>/notation/plugins`). */
export function installTestPluginForNotation(
  notation: NotationCli,
  options: { keys?: TestPluginKey[]; revoked?: Certificate[] | string[] } = {},
): Promise<InstalledTestPlugin> {
  return installTestPlugin(notation.pluginsDir, options);
}

/** `--plugin-config k=v` arguments, one pair each. */
export function pluginConfigArgs(config: Readonly<Record<string, string>> = {}): string[] {
  return Object.entries(config).flatMap(([k, v]) => ['--plugin-config', `${k}=${v}`]);
}

export interface PluginSignOptions {
  /** The plugin's key id (`--id`). */
  keyId: string;
  format?: 'jws' | 'cose';
  /** pluginConfig for the signing (e.g. { 'test.capabilities': 'envelope,identity,revocation' } for envelope signing). */
  config?: Readonly<Record<string, string>>;
  extraArgs?: string[];
}

/**
 * `notation sign --plugin vouch-test --id <keyId>` over plain HTTP. Returns notation's result (code 0 = signed); the
 * plugin must be installed (installTestPluginForNotation). With capability `raw` (the default set includes it) notation
 * builds the envelope and the plugin only signs; without it the plugin builds the envelope and names itself as the
 * verification plugin.
 */
export function signWithNotationPlugin(notation: NotationCli, reference: string, options: PluginSignOptions): Promise<NotationResult> {
  return notation.run([
    'sign',
    '--insecure-registry',
    '--signature-format',
    options.format ?? 'jws',
    '--plugin',
    TEST_PLUGIN_NAME,
    '--id',
    options.keyId,
    ...pluginConfigArgs(options.config),
    ...(options.extraArgs ?? []),
    reference,
  ]);
}

/**
 * `notation verify --plugin-config ...` (the config reaches the verification plugin). With `debug`, notation's stderr
 * carries the plugin requests and responses and the reason a signature failed (notation prints no reason otherwise).
 */
export function verifyWithNotationPlugin(
  notation: NotationCli,
  reference: string,
  config: Readonly<Record<string, string>> = {},
  options: { debug?: boolean } = {},
): Promise<NotationResult> {
  return notation.run(['verify', '--insecure-registry', ...(options.debug ? ['-d'] : []), ...pluginConfigArgs(config), reference]);
}

/** pluginConfig that makes the plugin sign envelopes (no RAW capability, so notation asks for generate-envelope). */
export const ENVELOPE_SIGNING: Readonly<Record<string, string>> = { 'test.capabilities': 'envelope,identity,revocation' };

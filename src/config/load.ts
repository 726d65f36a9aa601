// Reading the configuration file: where it is (`--config` or VOUCH_CONFIG), reading and decoding it,
// and checking up front that the files and directories it names exist, so `vouch serve` fails at
// start naming the file and field rather than on the first TLS handshake or air-gapped lookup.
// Trust policies and trust stores are loaded and checked by EnvironmentSet.

import { readFile, stat } from 'node:fs/promises';
import { VouchError } from '../core/index.js';
import { formatConfigPath, parseConfig, type ParseConfigOptions } from './parse.js';
import type { VouchConfig } from './schema.js';

/** The environment variable that may name the configuration file (docs/api.md "Commands"). */
export const CONFIG_ENV_VAR = 'VOUCH_CONFIG';

/** Configuration files are small; anything bigger is not one. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * The configuration file to use: the `--config` value when given, else VOUCH_CONFIG. Throws
 * INVALID_CONFIG when neither is set, so every command fails the same clear way.
 */
export function configPathFrom(argvValue?: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (argvValue !== undefined) {
    if (argvValue === '') throw new VouchError('INVALID_CONFIG', '--config: expected a file path, got an empty value');
    return argvValue;
  }
  const fromEnv = env[CONFIG_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  throw new VouchError('INVALID_CONFIG', `no configuration file: pass --config FILE or set ${CONFIG_ENV_VAR}`, { reason: 'NOT_FOUND' });
}

export interface LoadConfigOptions extends ParseConfigOptions {
  /** Check that the files and directories the configuration names exist (default true). */
  checkFiles?: boolean;
}

/** Reads, parses and validates a configuration file (see parseConfig), then checks the paths it names. */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<VouchConfig> {
  let bytes: Buffer;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new VouchError('INVALID_CONFIG', `${file}: not a regular file`, { reason: 'BAD_CONTENT' });
    if (info.size > MAX_CONFIG_BYTES) {
      throw new VouchError('INVALID_CONFIG', `${file}: larger than ${MAX_CONFIG_BYTES} bytes, not a configuration file`, {
        reason: 'SIZE_LIMIT',
      });
    }
    bytes = await readFile(file);
  } catch (error) {
    if (error instanceof VouchError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'configuration file not found' : `cannot read the configuration file: ${(error as Error).message}`;
    throw new VouchError('INVALID_CONFIG', `${file}: ${what}`, { reason: code === 'ENOENT' ? 'NOT_FOUND' : 'OTHER', cause: error });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new VouchError('INVALID_CONFIG', `${file}: not UTF-8 text`, { reason: 'BAD_CONTENT', cause: error });
  }
  const config = parseConfig(text, file, options);
  if (options.checkFiles !== false) await checkConfigPaths(config, file);
  return config;
}

/**
 * Checks that every file and directory a configuration names (other than trust policies and trust
 * stores) exists and has the right kind: TLS files are regular files, ociLayout, crlDirectory and the
 * plugin directory are directories (each plugin's executable is checked when it is run). `file` names the configuration in messages.
 */
export async function checkConfigPaths(config: VouchConfig, file: string = config.file): Promise<void> {
  const checks: Array<{ at: Array<string | number>; target: string; kind: 'file' | 'directory' }> = [];
  const tls = config.server.tls;
  if (tls !== undefined) {
    checks.push({ at: ['server', 'tls', 'certFile'], target: tls.certFile, kind: 'file' });
    checks.push({ at: ['server', 'tls', 'keyFile'], target: tls.keyFile, kind: 'file' });
    if (tls.clientCAFile !== undefined) checks.push({ at: ['server', 'tls', 'clientCAFile'], target: tls.clientCAFile, kind: 'file' });
  }
  for (const [host, registry] of config.registries) {
    if (registry.ociLayout !== undefined)
      checks.push({ at: ['registries', host, 'ociLayout'], target: registry.ociLayout, kind: 'directory' });
  }
  const shared = config.cache.shared;
  if (shared !== undefined) {
    checks.push({ at: ['cache', 'shared', 'keyFile'], target: shared.keyFile, kind: 'file' });
    for (const [i, previous] of (shared.previousKeyFiles ?? []).entries()) {
      checks.push({ at: ['cache', 'shared', 'previousKeyFiles', i], target: previous, kind: 'file' });
    }
    if (shared.passwordFile !== undefined)
      checks.push({ at: ['cache', 'shared', 'passwordFile'], target: shared.passwordFile, kind: 'file' });
    if (shared.caFile !== undefined) checks.push({ at: ['cache', 'shared', 'caFile'], target: shared.caFile, kind: 'file' });
  }
  if (config.plugins !== undefined) {
    checks.push({ at: ['plugins', 'directory'], target: config.plugins.directory, kind: 'directory' });
  }
  if (config.revocation.crlDirectory !== undefined) {
    checks.push({ at: ['revocation', 'crlDirectory'], target: config.revocation.crlDirectory, kind: 'directory' });
  }
  for (const { at, target, kind } of checks) {
    const where = `${file}: ${formatConfigPath(at)}: ${target}`;
    let info;
    try {
      info = await stat(target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const what = code === 'ENOENT' ? `no such ${kind}` : (error as Error).message;
      throw new VouchError('INVALID_CONFIG', `${where}: ${what}`, { reason: code === 'ENOENT' ? 'NOT_FOUND' : 'OTHER', cause: error });
    }
    const ok = kind === 'file' ? info.isFile() : info.isDirectory();
    if (!ok)
      throw new VouchError('INVALID_CONFIG', `${where}: not a ${kind === 'file' ? 'regular file' : 'directory'}`, {
        reason: 'BAD_CONTENT',
      });
  }
}

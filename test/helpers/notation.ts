// Drives the real notation CLI (installed by scripts/tools.sh) with its own throw-away
// configuration directory, so tests can sign with notation and compare verdicts with it.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toolPath } from './registries.js';

const run = promisify(execFile);

export interface NotationResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class NotationCli {
  readonly home: string;
  readonly binary: string;
  /** Name of the default signing key and of the `ca` trust store holding its certificate. */
  readonly keyName: string;

  private constructor(home: string, binary: string, keyName: string) {
    this.home = home;
    this.binary = binary;
    this.keyName = keyName;
  }

  /** A notation with a fresh config dir and a generated RSA test key set as the default signer. */
  static async create(keyName = 'vouch-test'): Promise<NotationCli> {
    const home = await mkdtemp(join(tmpdir(), 'vouch-notation-'));
    const cli = new NotationCli(home, toolPath('notation'), keyName);
    const generated = await cli.run(['cert', 'generate-test', '--default', keyName]);
    if (generated.code !== 0) throw new Error(`notation cert generate-test failed: ${generated.stderr}`);
    return cli;
  }

  /**
   * Makes a PEM key and certificate chain (leaf first) notation's default signing key, as a local key
   * in signingkeys.json (notation's "keyPath"/"certPath" entries), so notation signs with an identity
   * a test generated (e.g. generateSigningIdentity) instead of its own self-signed test key.
   */
  async useSigningKey(name: string, keyPem: string, chainPem: string): Promise<void> {
    const dir = join(this.configDir, 'localkeys');
    await mkdir(dir, { recursive: true });
    const keyPath = join(dir, `${name}.key`);
    const certPath = join(dir, `${name}.crt`);
    await writeFile(keyPath, keyPem, { mode: 0o600 });
    await writeFile(certPath, chainPem);
    const file = join(this.configDir, 'signingkeys.json');
    const current = JSON.parse(await readFile(file, 'utf8')) as { keys?: Array<{ name: string }> };
    const keys = (current.keys ?? []).filter((k) => k.name !== name);
    await writeFile(file, JSON.stringify({ ...current, default: name, keys: [...keys, { name, keyPath, certPath }] }, null, 2));
  }

  get configDir(): string {
    return join(this.home, 'config', 'notation');
  }

  async run(args: string[]): Promise<NotationResult> {
    try {
      const { stdout, stderr } = await run(this.binary, args, {
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: this.home,
          XDG_CONFIG_HOME: join(this.home, 'config'),
          XDG_CACHE_HOME: join(this.home, 'cache'),
        },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string; message: string };
      if (typeof e.code !== 'number') throw error;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
    }
  }

  /** `notation sign` over plain HTTP; returns the signature manifest digest notation reports. */
  async sign(reference: string, options: { format?: 'jws' | 'cose'; expiry?: string; extraArgs?: string[] } = {}): Promise<string> {
    const args = ['sign', '--insecure-registry', '--signature-format', options.format ?? 'jws'];
    if (options.expiry !== undefined) args.push('--expiry', options.expiry);
    args.push(...(options.extraArgs ?? []), reference);
    const result = await this.run(args);
    if (result.code !== 0) throw new Error(`notation sign ${reference} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  }

  /** Signature manifest digests `notation list` shows for a reference. */
  async list(reference: string): Promise<string[]> {
    const result = await this.run(['list', '--insecure-registry', reference]);
    if (result.code !== 0) throw new Error(`notation list ${reference} failed (${result.code}): ${result.stderr}`);
    // The tree prints the subject first, then one line per signature digest.
    return [...result.stdout.matchAll(/sha256:[a-f0-9]{64}/g)].map((m) => m[0]).filter((d) => !reference.endsWith(d));
  }

  /** Where this notation looks for plugins: `<pluginsDir>/<name>/notation-<name>` (see notation-plugin.ts). */
  get pluginsDir(): string {
    return join(this.configDir, 'plugins');
  }

  /** The trust store directory (contains x509/), shared by notation and vouch in interop tests. */
  get trustStoreDir(): string {
    return join(this.configDir, 'truststore');
  }

  get trustPolicyPath(): string {
    return join(this.configDir, 'trustpolicy.json'); // notation 1.3.x reads only this name for OCI policies
  }

  /** Writes the OCI trust policy notation will use (and vouch reads the same file). */
  async setTrustPolicy(policy: unknown): Promise<void> {
    await mkdir(this.configDir, { recursive: true });
    await writeFile(this.trustPolicyPath, JSON.stringify(policy, null, 2));
  }

  /** Puts PEM certificates into x509/<type>/<name>/ of notation's trust store. */
  async addTrustedCertificates(type: 'ca' | 'signingAuthority' | 'tsa', name: string, pems: string[]): Promise<void> {
    const dir = join(this.trustStoreDir, 'x509', type, name);
    await mkdir(dir, { recursive: true });
    for (const [i, pem] of pems.entries()) await writeFile(join(dir, `cert-${i}.pem`), pem);
  }

  /** `notation verify`; code 0 means verified. */
  async verify(reference: string): Promise<NotationResult> {
    return this.run(['verify', '--insecure-registry', reference]);
  }

  async dispose(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

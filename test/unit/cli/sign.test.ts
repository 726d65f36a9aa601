// `vouch sign` on the command line without a registry: usage errors exit 2 with the usage text,
// durations parse like notation's --expiry, and one user-facing error message is pinned (golden).

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { parseDuration, pluginDirectory } from '../../../src/cli/signing-options.js';
import { generateChain } from '../../helpers/pki.js';

let dir: string;
test.before(async () => {
  delete process.env['VOUCH_CONFIG'];
  dir = await mkdtemp(join(tmpdir(), 'vouch-sign-cli-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['sign', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const REF = '127.0.0.1:1/app:v1';
const KEY = ['--key', 'k.pem', '--cert', 'c.pem'];

const USAGE_ERRORS: Array<[string, string[], RegExp]> = [
  ['no reference', [...KEY], /expected exactly one image reference/],
  ['two references', [...KEY, REF, REF], /expected exactly one image reference/],
  ['no --key', ['--cert', 'c.pem', REF], /--key is required/],
  ['no --cert', ['--key', 'k.pem', REF], /--cert is required/],
  ['a bad --envelope', [...KEY, '--envelope', 'pgp', REF], /--envelope must be jws or cose/],
  ['a bad --expiry', [...KEY, '--expiry', '3 weeks', REF], /--expiry must be a duration/],
  ['a zero --expiry', [...KEY, '--expiry', '0h', REF], /--expiry must be positive/],
  ['--timestamp-url alone', [...KEY, '--timestamp-url', 'http://tsa.example', REF], /go together/],
  ['--timestamp-root alone', [...KEY, '--timestamp-root', 'r.pem', REF], /go together/],
  ['a --timestamp-url that is no URL', [...KEY, '--timestamp-url', 'nope', '--timestamp-root', 'r.pem', REF], /is not a URL/],
  ['an --annotation without =', [...KEY, '--annotation', 'novalue', REF], /--annotation must be key=value/],
  ['a repeated --user-metadata key', [...KEY, '--user-metadata', 'a=1', '--user-metadata', 'a=2', REF], /given twice/],
  ['--plain-http with --config', [...KEY, '--config', 'vouch.yaml', '--plain-http', REF], /--plain-http is for use without a config/],
  ['a bad --output', [...KEY, '--output', 'yaml', REF], /--output must be text or json/],
  ['an unknown option', [...KEY, '--force', REF], /Unknown option/],
  ['--plugin with --key', ['--plugin', 'kms', '--id', 'k', '--key', 'k.pem', REF], /excludes --key and --cert/],
  ['--plugin with --cert', ['--plugin', 'kms', '--id', 'k', '--cert', 'c.pem', REF], /excludes --key and --cert/],
  ['--plugin without --id', ['--plugin', 'kms', REF], /--plugin needs --id KEY_ID/],
  ['--plugin with an empty --id', ['--plugin', 'kms', '--id', '', REF], /--plugin needs --id KEY_ID/],
  ['--plugin that is no plugin name', ['--plugin', '../kms', '--id', 'k', REF], /--plugin must be a plugin name/],
  ['--id without --plugin', [...KEY, '--id', 'k', REF], /--id goes with --plugin/],
  ['--plugin-dir without --plugin', [...KEY, '--plugin-dir', '/tmp', REF], /--plugin-dir goes with --plugin/],
  ['a --plugin-config without =', ['--plugin', 'kms', '--id', 'k', '--plugin-config', 'x', REF], /--plugin-config must be key=value/],
];

for (const [name, args, message] of USAGE_ERRORS) {
  test(`usage error: ${name} → exit 2 with the usage`, async (t) => {
    const result = await run(args);
    t.is(result.code, 2);
    t.regex(result.err, message);
    t.regex(result.err, /usage: vouch sign \(--key KEY --cert CHAIN \| --plugin NAME --id KEY_ID/);
  });
}

test('--help prints the usage and exits 0; vouch lists the command', async (t) => {
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /--timestamp-root PEM/);
  const out: string[] = [];
  await main(['--help'], { out: (s) => out.push(s), err: () => {} });
  t.regex(out.join('\n'), /\n {2}sign {7}sign an image/);
});

test('an invalid reference is exit 2 (INVALID_REFERENCE)', async (t) => {
  const result = await run([...KEY, 'UPPER/Case:tag']);
  t.is(result.code, 2);
  t.regex(result.err, /^vouch sign: INVALID_REFERENCE: /);
});

test('durations as notation writes them', (t) => {
  t.is(parseDuration('72h'), 72 * 3_600_000);
  t.is(parseDuration('30m'), 30 * 60_000);
  t.is(parseDuration('7d'), 7 * 86_400_000);
  t.is(parseDuration('1h30m'), 90 * 60_000);
  t.is(parseDuration('45s'), 45_000);
  for (const bad of ['', '7', 'h', '-1h', '1.5h', '7w', '1h 30m', '4000d']) t.throws(() => parseDuration(bad), undefined, bad);
});

test('golden: a key that does not belong to the certificate (exit 2, before any registry is contacted)', async (t) => {
  const signer = await generateChain({ length: 2, leaf: { subject: 'CN=release signer,O=Example,ST=WA,C=US' } });
  const other = await generateChain({ length: 2 });
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'chain.pem');
  await writeFile(key, other.leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFile(cert, signer.chain.map((c) => c.certificate.toPem()).join('\n'));
  // 127.0.0.1:1 refuses connections: a registry error would be exit 1, not this.
  const result = await run(['--key', key, '--cert', cert, '--plain-http', REF]);
  t.is(result.code, 2);
  t.is(
    result.err.replaceAll(dir, '<DIR>'),
    'vouch sign: INVALID_INPUT: signing key <DIR>/key.pem: the key does not belong to the leaf certificate ' +
      '(the first in <DIR>/chain.pem, subject "CN=release signer, O=Example, ST=WA, C=US")',
  );
});

test('a plugin that is not installed is exit 1 (PLUGIN_ERROR), before any registry is contacted', async (t) => {
  // 127.0.0.1:1 refuses connections: a registry error would name the registry, not the plugin.
  const result = await run(['--plugin', 'absent', '--id', 'k', '--plugin-dir', dir, '--plain-http', REF]);
  t.is(result.code, 1);
  t.regex(result.err, /^vouch sign: PLUGIN_ERROR: plugin "absent" is not installed: /);
});

test("the plugin directory: --plugin-dir, else notation's default under XDG_CONFIG_HOME or ~/.config", (t) => {
  t.is(pluginDirectory({ 'plugin-dir': '/opt/plugins' }, { env: { XDG_CONFIG_HOME: '/x' } }), '/opt/plugins');
  t.is(pluginDirectory({ 'plugin-dir': 'rel' }), join(process.cwd(), 'rel'));
  t.is(pluginDirectory({}, { env: { XDG_CONFIG_HOME: '/x', HOME: '/home/u' } }), '/x/notation/plugins');
  t.is(pluginDirectory({}, { env: { XDG_CONFIG_HOME: '', HOME: '/home/u' } }), '/home/u/.config/notation/plugins');
});

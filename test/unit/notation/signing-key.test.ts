// loadSigningIdentity: PEM keys and chains held to notation's signer rules (key types, key ↔ leaf,
// complete chain, code-signing leaf, validity), each refusal with its code, reason and file.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { VouchError, type ErrorReason } from '../../../src/core/index.js';
import { loadSigningIdentity, readPemFile } from '../../../src/notation/index.js';
import { generateChain, generateLeaf, generateRoot, NOTARY_KEY_SPECS, type GeneratedChain, type KeySpec } from '../../helpers/pki.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vouch-signing-key-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function files(key: KeyObject | string, chain: GeneratedChain | string): Promise<{ key: string; cert: string }> {
  const id = n++;
  const keyPath = join(dir, `key-${id}.pem`);
  const certPath = join(dir, `chain-${id}.pem`);
  await writeFile(keyPath, typeof key === 'string' ? key : (key.export({ type: 'pkcs8', format: 'pem' }) as string));
  await writeFile(certPath, typeof chain === 'string' ? chain : chain.chain.map((c) => c.certificate.toPem()).join('\n'));
  return { key: keyPath, cert: certPath };
}

async function refusal(
  t: import('ava').ExecutionContext,
  paths: { key: string; cert: string },
  reason: VouchError['reason'],
  file: 'key' | 'cert',
) {
  const error = await t.throwsAsync(loadSigningIdentity(paths.key, paths.cert), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_INPUT');
  t.is(error?.reason, reason);
  t.true(error?.message.includes(paths[file]), error?.message);
}

for (const spec of NOTARY_KEY_SPECS) {
  test(`loads a ${spec} key with its chain (PKCS#8)`, async (t) => {
    const chain = await generateChain({ length: 2, leafKey: spec });
    const paths = await files(chain.leaf.privateKey, chain);
    const identity = await loadSigningIdentity(paths.key, paths.cert);
    t.is(identity.certificateChain.length, 2);
    t.true(identity.root.equals(chain.root.certificate));
    t.is(identity.privateKey.asymmetricKeyType, chain.leaf.privateKey.asymmetricKeyType);
  });
}

test('loads SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY) keys', async (t) => {
  const ec = await generateChain({ length: 2, leafKey: 'ec-p384' });
  const rsa = await generateChain({ length: 2, leafKey: 'rsa-2048' });
  const sec1 = ec.leaf.privateKey.export({ type: 'sec1', format: 'pem' }) as string;
  const pkcs1 = rsa.leaf.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  t.true(sec1.includes('EC PRIVATE KEY') && pkcs1.includes('RSA PRIVATE KEY'));
  await t.notThrowsAsync(async () => {
    const a = await files(sec1, ec);
    await loadSigningIdentity(a.key, a.cert);
    const b = await files(pkcs1, rsa);
    await loadSigningIdentity(b.key, b.cert);
  });
});

test('a three-certificate chain (leaf, intermediate, root) loads', async (t) => {
  const chain = await generateChain({ length: 3 });
  const paths = await files(chain.leaf.privateKey, chain);
  t.is((await loadSigningIdentity(paths.key, paths.cert)).certificateChain.length, 3);
});

for (const spec of ['rsa-1024', 'ed25519', 'ec-p224'] as KeySpec[]) {
  test(`a ${spec} key is refused (BAD_KEY)`, async (t) => {
    const root = await generateRoot();
    const leaf = await generateLeaf({ key: spec, issuer: root });
    const paths = await files(leaf.privateKey, `${leaf.certificate.toPem()}\n${root.certificate.toPem()}`);
    await refusal(t, paths, 'BAD_KEY', 'key');
  });
}

test('an encrypted key is refused with a clear reason (BAD_KEY)', async (t) => {
  const chain = await generateChain({ length: 2 });
  const encrypted = chain.leaf.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
  const paths = await files(encrypted, chain);
  await refusal(t, paths, 'BAD_KEY', 'key');
  const error = await t.throwsAsync(loadSigningIdentity(paths.key, paths.cert));
  t.regex(error!.message, /encrypted/);
});

test('a key that is not the leaf certificate’s is refused (BAD_KEY)', async (t) => {
  const chain = await generateChain({ length: 2 });
  const other = await generateChain({ length: 2 });
  await refusal(t, await files(other.leaf.privateKey, chain), 'BAD_KEY', 'key');
});

test('a file that is no key, and a missing file, are refused', async (t) => {
  const chain = await generateChain({ length: 2 });
  await refusal(t, await files(chain.root.certificate.toPem(), chain), 'BAD_KEY', 'key');
  const paths = await files(chain.leaf.privateKey, chain);
  await refusal(t, { key: join(dir, 'absent.pem'), cert: paths.cert }, 'NOT_FOUND', 'key');
  await refusal(t, { key: paths.key, cert: join(dir, 'absent-chain.pem') }, 'NOT_FOUND', 'cert');
});

test('a leaf whose EKU lacks codeSigning is refused (BAD_CONTENT, names the chain file)', async (t) => {
  const chain = await generateChain({ length: 2, leaf: { extendedKeyUsage: { usages: ['1.3.6.1.5.5.7.3.5'] } } });
  await refusal(t, await files(chain.leaf.privateKey, chain), 'BAD_CONTENT', 'cert');
});

test('a leaf without digitalSignature is refused', async (t) => {
  const chain = await generateChain({ length: 2, leaf: { keyUsage: { usages: 0x20 /* keyEncipherment */, critical: true } } });
  await refusal(t, await files(chain.leaf.privateKey, chain), 'BAD_CONTENT', 'cert');
});

test('a chain that stops before its root is refused (notation requires the root)', async (t) => {
  const chain = await generateChain({ length: 3 });
  const partial = chain.chain
    .slice(0, 2)
    .map((c) => c.certificate.toPem())
    .join('\n');
  await refusal(t, await files(chain.leaf.privateKey, partial), 'BAD_CONTENT', 'cert');
});

test('an expired leaf is refused', async (t) => {
  const chain = await generateChain({
    length: 2,
    leaf: { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) },
  });
  await refusal(t, await files(chain.leaf.privateKey, chain), 'BAD_CONTENT', 'cert');
});

test('readPemFile: a FIFO, a directory or a file past 1 MiB is refused without reading it all (or hanging)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-pem-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'key.fifo');
  execFileSync('mkfifo', [fifo]);
  const big = join(dir, 'big.pem');
  await writeFile(big, Buffer.alloc(1024 * 1024 + 1, 0x41));
  const cases: Array<[string, ErrorReason]> = [
    [fifo, 'BAD_CONTENT'],
    [dir, 'BAD_CONTENT'],
    [big, 'SIZE_LIMIT'],
    [join(dir, 'absent.pem'), 'NOT_FOUND'],
  ];
  for (const [path, reason] of cases) {
    const error = await t.throwsAsync(readPemFile(path, 'signing key'), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_INPUT', path);
    t.is(error?.reason, reason, path);
  }
  const ok = join(dir, 'ok.pem');
  await writeFile(ok, 'x'.repeat(1024 * 1024));
  t.is((await readPemFile(ok, 'signing key')).length, 1024 * 1024, 'exactly the limit is fine');
});

// Trust store errors name what a user has to fix: the directory a missing store was looked for in,
// and a certificate file that is text without a PEM block.

import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { FileTrustStore, TRUST_STORE_NOT_FOUND } from '../../../src/trust/index.js';
import { generateRoot } from '../../helpers/pki.js';

async function tempRoot(t: import('ava').ExecutionContext): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-truststore-hints-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

test('store: a missing trust store names the directory it was looked for in', async (t) => {
  const root = await tempRoot(t);
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  const error = await t.throwsAsync(store.getCertificates('ca', 'acme'), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.is(error.reason as string, TRUST_STORE_NOT_FOUND);
  t.true(error.message.includes(path.join(root, 'x509', 'ca', 'acme')), error.message);
});

test('store: a certificate file that is text without a PEM block says so; a DER file with garbage does not claim it', async (t) => {
  const root = await tempRoot(t);
  const dir = path.join(root, 'x509', 'ca', 'acme');
  await mkdir(dir, { recursive: true });
  const pem = (await generateRoot({ key: 'ec-p256', subject: 'CN=hint' })).certificate.toPem();
  // the BEGIN line lost (a copy-paste of the base64 only)
  await writeFile(path.join(dir, 'root.pem'), pem.replace(/-----BEGIN CERTIFICATE-----\r?\n/, ''));
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  const error = await t.throwsAsync(store.getCertificates('ca', 'acme'), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.is(error.reason as string, 'BAD_CONTENT');
  t.true(error.message.includes('root.pem'));
  t.true(error.message.includes('-----BEGIN CERTIFICATE-----'), error.message);

  await writeFile(path.join(dir, 'root.pem'), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01, 0xff]));
  const der = await t.throwsAsync(new FileTrustStore(root, { recheckIntervalMs: 0 }).getCertificates('ca', 'acme'), {
    instanceOf: VouchError,
  });
  t.is(der.reason as string, 'BAD_CONTENT');
  t.false(der.message.includes('BEGIN CERTIFICATE'), der.message);
});

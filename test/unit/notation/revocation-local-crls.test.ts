// Local CRLs: bytes (refused at construction when not CRLs) or a directory read once, matched by
// issuer, the freshest valid one first.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { createLogger } from '../../../src/log.js';
import { LocalCrls } from '../../../src/notation/revocation-local-crls.js';
import { parseCertificates } from '../../../src/trust/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const CRL_DIR = path.join(NOTATION_VECTORS, 'notation-cli-e2e/crl');
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(CRL_DIR, name)));
const [, intermediate, root] = parseCertificates(file('certchain_with_crl.pem'), 'certchain_with_crl.pem');
const silent = createLogger({ level: 'silent' });

test('local CRLs: bytes are matched by issuer; one that does not validate is skipped with a problem noted', async (t) => {
  const local = new LocalCrls([file('leaf_expired.crl'), file('intermediate.crl')], silent);
  t.is((await local.candidates(intermediate!, false)).length, 1);
  t.is((await local.candidates(root!, false)).length, 1);
  t.is((await local.candidates(intermediate!, true)).length, 0);
  const problems: string[] = [];
  t.is(await local.freshest(intermediate!, false, new Date(), problems), undefined);
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^local CRL: /);
  t.truthy(await local.freshest(root!, false, new Date(), []));
});

test('local CRLs: bytes that are not a CRL are INVALID_CONFIG at construction', (t) => {
  const error = t.throws(() => new LocalCrls([file('leaf.crl'), new Uint8Array([1, 2, 3])], silent), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.regex(error?.message ?? '', /local CRL 1/);
});

test('local CRLs: a directory is read once; other files are skipped; a missing directory is empty', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vouch-local-crls-'));
  try {
    await copyFile(path.join(CRL_DIR, 'leaf.crl'), path.join(dir, 'leaf.crl'));
    await writeFile(path.join(dir, 'README'), 'not a CRL');
    const local = new LocalCrls(dir, silent);
    t.is((await local.candidates(intermediate!, false)).length, 1);
    await rm(path.join(dir, 'leaf.crl'));
    t.is((await local.candidates(intermediate!, false)).length, 1, 'read once');
    t.deepEqual(await new LocalCrls(path.join(dir, 'absent'), silent).candidates(intermediate!, false), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

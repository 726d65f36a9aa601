// CRL parsing, validation, delta matching and the per-serial verdict (RFC 5280 §5), on the
// notation e2e CRL fixtures (test/fixtures/vectors/notation/README.md §1.6).

import test from 'ava';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pkijs from 'pkijs';
import { serialKey } from '../../../src/notation/revocation-common.js';
import { checkDeltaForBase, crlVerdict, parseCrl, splitCrls, validateCrl } from '../../../src/notation/revocation-crl.js';
import { parseCertificates } from '../../../src/trust/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const CRL_DIR = path.join(NOTATION_VECTORS, 'notation-cli-e2e/crl');
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(CRL_DIR, name)));
const [leaf, intermediate, root] = parseCertificates(file('certchain_with_crl.pem'), 'certchain_with_crl.pem');
const leafSerial = serialKey(pkijs.Certificate.fromBER(leaf!.der).serialNumber);

test('crl: a base CRL parses; validates against its issuer only; while current', (t) => {
  const crl = parseCrl(file('leaf.crl'));
  t.false(crl.isDelta);
  t.truthy(crl.nextUpdate);
  const during = new Date(crl.thisUpdate.getTime() + 1_000);
  t.notThrows(() => validateCrl(crl, intermediate!, during));
  t.throws(() => validateCrl(crl, root!, during), { message: /not issued by/ });
  t.throws(() => validateCrl(crl, intermediate!, new Date(crl.nextUpdate!.getTime() + 1_000)), { message: /expired CRL/ });
  t.throws(() => validateCrl(parseCrl(file('leaf_expired.crl')), intermediate!, new Date()));
});

test('crl: the verdict finds the revoked serial, and a signing time before it skips the entry', (t) => {
  const revoked = parseCrl(file('leaf_revoked.crl'));
  const { entry } = crlVerdict(leafSerial, revoked, undefined, undefined);
  t.is(entry?.revocationDate.toISOString(), '2024-11-11T05:30:52.000Z');
  const early = crlVerdict(leafSerial, revoked, undefined, new Date('2024-01-01T00:00:00Z'));
  t.is(early.entry, undefined);
  t.truthy(early.skipped);
  t.deepEqual(crlVerdict(leafSerial, parseCrl(file('leaf.crl')), undefined, undefined), {});
});

test('crl: PEM blocks are split, text without a CRL block is refused, garbage does not parse', (t) => {
  const der = file('leaf.crl');
  const block = `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64')}\n-----END X509 CRL-----\n`;
  t.is(splitCrls(Buffer.from(block + block)).length, 2);
  t.deepEqual(splitCrls(der), [der]);
  t.throws(() => splitCrls(Buffer.from('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n')), { message: /X509 CRL/ });
  t.throws(() => parseCrl(Buffer.from('not a CRL')), { message: /malformed CRL/ });
});

test('crl: a base CRL is not accepted as a delta', (t) => {
  const base = parseCrl(file('leaf.crl'));
  t.throws(() => checkDeltaForBase(base, base), { message: /not a delta CRL/ });
});

// Certificate parsing (src/trust/certificate.ts): the cases fuzzing found. Certificates are otherwise
// exercised through the trust store, chain and verifier tests.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { parseEnvelope } from '../../../src/notation/parse-envelope.js';
import { Certificate } from '../../../src/trust/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

/** The leaf of a real notation-go envelope (RSA-2048, 836 bytes of DER). */
function leafDer(): Uint8Array {
  const envelope = parseEnvelope(
    'application/jose+json',
    new Uint8Array(readFileSync(join(NOTATION_VECTORS, 'notation-go/envelopes/jws_signature.sig'))),
  );
  return new Uint8Array(envelope.certificateChain[0]!);
}

test('Certificate.fromDer: the unmodified leaf parses', (t) => {
  t.notThrows(() => Certificate.fromDer(leafDer(), 'leaf'));
});

// found by fuzzing: both parsers accepted these, and the key (node) or the extensions (@peculiar/x509)
// were decoded only on first use, which threw an OpenSSL Error or a TypeError from wherever that was
for (const [offset, what] of [
  [233, 'a public key that does not decode'],
  [535, 'a malformed extension'],
] as const) {
  test(`Certificate.fromDer: ${what} is INVALID_INPUT at parse time`, (t) => {
    const der = leafDer();
    der[offset] = 0;
    const error = t.throws(() => Certificate.fromDer(der, 'x5c[0]'), { instanceOf: VouchError });
    t.is(error?.code, 'INVALID_INPUT');
    t.is(error?.reason, 'BAD_CONTENT');
  });
}

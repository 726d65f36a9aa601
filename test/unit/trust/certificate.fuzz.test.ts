// Property tests of X.509 certificates from envelopes (src/trust/certificate.ts, src/notation/chain.ts;
// docs/reliability.md "Fuzzing"): real DER certificates mutated byte-wise either fail to parse with
// INVALID_INPUT or parse into a Certificate every accessor of which answers without throwing; chains of
// mutated certificates give a validated chain or a VouchError.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSigningChain } from '../../../src/notation/chain.js';
import { parseEnvelope } from '../../../src/notation/parse-envelope.js';
import { Certificate } from '../../../src/trust/index.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';
import { checkProperty, fc, typedOutcome } from '../../helpers/fuzz.js';
import { generateChain } from '../../helpers/pki.js';

const chains: Uint8Array[][] = [];
test.before(async () => {
  const vector = parseEnvelope(
    MEDIA_TYPE.jws,
    new Uint8Array(readFileSync(join(NOTATION_VECTORS, 'notation-go/envelopes/jws_signature.sig'))),
  );
  chains.push(vector.certificateChain);
  chains.push((await generateChain({ length: 3, leafKey: 'ec-p256', root: { key: 'ec-p256' } })).ders);
});

/** A DER certificate with one edit: a byte replaced, bytes inserted or removed, a length byte stretched. */
const mutatedDer = fc.tuple(fc.nat(), fc.nat(), fc.nat(3), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([pick, at, kind, bytes]) => {
  const chain = chains[pick % chains.length]!;
  const der = chain[pick % chain.length]!;
  const i = at % der.length;
  const out = [...der];
  if (kind === 0) out.splice(i, bytes.length, ...bytes);
  else if (kind === 1) out.splice(i, 0, ...bytes);
  else if (kind === 2) out.splice(i, bytes.length);
  else out[i] = (out[i]! & 0x80) | 0x7f; // a length (or anything) made large
  return { chain, index: pick % chain.length, der: new Uint8Array(out) };
});

/** Every accessor, named, so a failure says which one threw. */
const ACCESSORS: Record<string, (c: Certificate) => unknown> = {
  subject: (c) => c.subject,
  issuer: (c) => c.issuer,
  notBefore: (c) => c.notBefore.getTime(),
  notAfter: (c) => c.notAfter.getTime(),
  publicKey: (c) => c.publicKey,
  rawSubject: (c) => c.rawSubject,
  rawIssuer: (c) => c.rawIssuer,
  basicConstraints: (c) => c.basicConstraints,
  keyUsage: (c) => c.keyUsage,
  extendedKeyUsage: (c) => c.extendedKeyUsage,
  isCA: (c) => c.isCA,
  version: (c) => c.version,
  signatureHash: (c) => c.signatureHash,
  isSelfSigned: (c) => c.isSelfSigned(),
  toPem: (c) => c.toPem(),
};

function touchEverything(certificate: Certificate): void {
  for (const [name, read] of Object.entries(ACCESSORS)) {
    try {
      read(certificate);
    } catch (error) {
      throw new Error(`${name} threw ${String(error)}`);
    }
  }
}

test('Certificate.fromDer: mutated DER gives INVALID_INPUT or a certificate whose accessors all answer', (t) => {
  checkProperty(
    t,
    [mutatedDer],
    ({ der }) => {
      const outcome = typedOutcome(() => Certificate.fromDer(der, 'x5c[0]'), ['INVALID_INPUT']);
      if ('value' in outcome) touchEverything(outcome.value);
    },
    0.5,
  );
});

test('validateSigningChain: a chain with a mutated certificate gives a chain or a VouchError', (t) => {
  checkProperty(
    t,
    [mutatedDer],
    ({ chain, index, der }) => {
      const ders = chain.map((d, i) => (i === index ? der : d));
      typedOutcome(() => validateSigningChain(ders));
    },
    0.5,
  );
});

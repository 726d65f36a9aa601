// The ProviderResponse written by hand (providerResponseJson) is exactly JSON.stringify of the
// response, whatever the keys, values, errors and systemError hold.

import test from 'ava';
import fc from 'fast-check';
import type { ErrorCode } from '../../../src/core/index.js';
import { providerResponseJson, systemErrorResponse, toProviderResponse, toVerifyResponse } from '../../../src/server/provider-protocol.js';
import { CompactResults } from '../../../src/verify/compact-result.js';
import type { KeyResult, VerificationResult } from '../../../src/verify/index.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 30 });

function result(reference: string, message: string): VerificationResult {
  return {
    verified: false,
    environment: 'prod',
    reference,
    digest: DIGEST,
    signatures: [],
    reasons: [{ code: 'NO_SIGNATURE', message, detail: message }],
    warnings: [],
  };
}

const CODES: ErrorCode[] = ['INVALID_REFERENCE', 'REGISTRY_UNAVAILABLE', 'DEADLINE_EXCEEDED', 'UNKNOWN_ENVIRONMENT'];

test('providerResponseJson: equals JSON.stringify for verify and mutate answers with any text', (t) => {
  const compact = new CompactResults();
  const outcome = fc.tuple(anyText, anyText, fc.integer({ min: 0, max: 5 })).map(([key, text, kind]): KeyResult => {
    const reference = `r.example/${text}@${DIGEST}`;
    if (kind === 0) return { key, error: { code: CODES[text.length % CODES.length]!, message: text } };
    if (kind === 1) return { key, value: result(reference, text) };
    // A cached (compact) value, as the engine serves it.
    return { key, value: compact.compact(`prod\n1\n${reference}`, result(reference, text)).value };
  });
  fc.assert(
    fc.property(fc.array(outcome, { maxLength: 8 }), (outcomes) => {
      const verify = toVerifyResponse(outcomes);
      const mutate = toProviderResponse(outcomes);
      return providerResponseJson(verify) === JSON.stringify(verify) && providerResponseJson(mutate) === JSON.stringify(mutate);
    }),
  );
  const error = systemErrorResponse('bad "request"\n');
  t.is(providerResponseJson(error), JSON.stringify(error));
});

// requestTimestamp against a real HTTP TSA (test/helpers/tsa-server.ts): the request notation's
// tspclient-go would send, a token that verifies, and every way a TSA can fail us, each with its code.

import test from 'ava';
import * as pkijs from 'pkijs';
import { createHash, randomBytes } from 'node:crypto';
import { VouchError, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import { buildTimestampRequest, requestTimestamp } from '../../../src/notation/index.js';
import { HASH_OID } from '../../../src/notation/timestamp.js';
import { startTsaServer, type TsaMode, type TsaServer } from '../../helpers/tsa-server.js';

let tsa: TsaServer;
let other: TsaServer;
test.before(async () => {
  [tsa, other] = await Promise.all([startTsaServer(), startTsaServer()]);
});
test.after.always(async () => {
  await Promise.allSettled([tsa?.stop(), other?.stop()]);
});

const SIGNATURE = new Uint8Array(randomBytes(64));

test('the request: version 1, the imprint of the signature with the given hash, a nonce below 2^159, certReq', (t) => {
  for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
    const { der, nonce } = buildTimestampRequest(SIGNATURE, hash);
    const req = pkijs.TimeStampReq.fromBER(der);
    t.is(req.version, 1);
    t.is(req.messageImprint.hashAlgorithm.algorithmId, HASH_OID[hash]);
    t.deepEqual(Buffer.from(req.messageImprint.hashedMessage.valueBlock.valueHexView), createHash(hash).update(SIGNATURE).digest());
    t.true(req.certReq);
    t.is(nonce.length, 20);
    t.true(nonce[0]! < 0x80 && nonce[0]! > 0);
    t.deepEqual(Buffer.from(req.nonce!.valueBlock.valueHexView), Buffer.from(nonce));
  }
  t.notDeepEqual(buildTimestampRequest(SIGNATURE, 'sha256').nonce, buildTimestampRequest(SIGNATURE, 'sha256').nonce);
});

test('a granted answer yields a token that verifies against the TSA root', async (t) => {
  const { token, timestamp } = await requestTimestamp(SIGNATURE, 'sha384', { url: tsa.url, roots: [tsa.root.certificate] });
  t.true(token.length > 100);
  t.true(Math.abs(timestamp.genTime.getTime() - Date.now()) < 60_000);
  t.true(timestamp.tsaChain[timestamp.tsaChain.length - 1]!.equals(tsa.root.certificate));
});

test('a token that does not chain to the given root is UNTRUSTED_SIGNER', async (t) => {
  const error = await t.throwsAsync(requestTimestamp(SIGNATURE, 'sha256', { url: tsa.url, roots: [other.root.certificate] }), {
    instanceOf: VouchError,
  });
  t.is(error?.code, 'UNTRUSTED_SIGNER');
});

const FAILURES: Array<{ mode: TsaMode; code: ErrorCode; reason: ErrorReason }> = [
  { mode: 'garbage', code: 'INVALID_SIGNATURE', reason: 'BAD_CONTENT' },
  { mode: 'rejection', code: 'REGISTRY_UNAVAILABLE', reason: 'DENIED' },
  { mode: 'wrong-nonce', code: 'INVALID_SIGNATURE', reason: 'BAD_CONTENT' },
  { mode: 'http-500', code: 'REGISTRY_UNAVAILABLE', reason: 'HTTP_STATUS' },
  { mode: 'wrong-content-type', code: 'REGISTRY_UNAVAILABLE', reason: 'MEDIA_TYPE' },
  { mode: 'huge', code: 'REGISTRY_UNAVAILABLE', reason: 'SIZE_LIMIT' },
];

for (const { mode, code, reason } of FAILURES) {
  test.serial(`a TSA answering ${mode}: ${code} (${reason})`, async (t) => {
    tsa.mode = mode;
    try {
      const error = await t.throwsAsync(requestTimestamp(SIGNATURE, 'sha256', { url: tsa.url, roots: [tsa.root.certificate] }), {
        instanceOf: VouchError,
      });
      t.is(error?.code, code, error?.message);
      t.is(error?.reason, reason, error?.message);
      t.regex(error!.message, /timestamp authority http:\/\/127\.0\.0\.1:\d+\/tsa/);
    } finally {
      tsa.mode = 'ok';
    }
  });
}

test('a TSA that cannot be reached is REGISTRY_UNAVAILABLE (CONNECTION)', async (t) => {
  const gone = await startTsaServer();
  await gone.stop();
  const error = await t.throwsAsync(requestTimestamp(SIGNATURE, 'sha256', { url: gone.url, roots: [gone.root.certificate] }), {
    instanceOf: VouchError,
  });
  t.is(error?.code, 'REGISTRY_UNAVAILABLE');
  t.is(error?.reason, 'CONNECTION');
});

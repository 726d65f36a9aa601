// Property tests of cosign inputs (src/cosign; docs/reliability.md "Fuzzing"): the real Sigstore bundle
// v0.3 vector with fields dropped, retyped, replaced by hostile JSON or garbage base64 gives a report
// (verified or with a reason) or a VouchError, never another throw; and no mutation of a field the
// signature covers verifies. Simple signing payloads give a problem or none, never a throw.

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkSimpleSigningPayload, verifyCosignBundle, type CosignTrust } from '../../../src/cosign/index.js';
import { parseDigest, VouchError } from '../../../src/core/index.js';
import { COSIGN_VECTORS } from '../../helpers/fixtures.js';
import {
  checkAsyncProperty,
  checkProperty,
  fc,
  hostileJsonValue,
  hostileText,
  HANG_BOUND_MS,
  withProtoMember,
} from '../../helpers/fuzz.js';
import { simpleSigningPayload } from '../../helpers/oci-fixtures.js';

const VECTOR = join(COSIGN_VECTORS, 'bundle-v03');
const SUBJECT = parseDigest('sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4');
const SIGNATURE = parseDigest(`sha256:${'cd'.repeat(32)}`);
const ISSUER = 'https://github.com/login/oauth';

let bundle: Record<string, unknown>;
let trust: CosignTrust;
test.before(async () => {
  bundle = JSON.parse(await readFile(join(VECTOR, 'oci-attestation.sigstore.json'), 'utf8')) as Record<string, unknown>;
  trust = {
    keys: [],
    trustedRoot: JSON.parse(await readFile(join(VECTOR, 'trusted_root_pgi.json'), 'utf8')) as unknown,
    identities: [{ subject: 'cody@soyland.com', issuer: ISSUER }],
    requireTlog: false,
  };
});

type Path = Array<string | number>;
function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, i) => paths(item, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}
function setAt(root: unknown, at: Path, replace: (old: unknown) => unknown): unknown {
  if (at.length === 0) return replace(root);
  const [head, ...rest] = at;
  if (Array.isArray(root)) {
    const copy = [...root];
    const next = setAt(root[head as number], rest, replace);
    if (next === undefined) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  const copy = { ...(root as Record<string, unknown>) };
  const next = setAt(copy[head as string], rest, replace);
  if (next === undefined) delete copy[head as string];
  else copy[head as string] = next;
  return copy;
}

const mutation = fc.tuple(fc.nat(), fc.nat(4), hostileJsonValue, hostileText);

function mutate([pick, kind, value, text]: [number, number, unknown, string]): unknown {
  const all = paths(bundle).filter((p) => p.length > 0);
  const at = all[pick % all.length]!;
  switch (kind) {
    case 0:
      return setAt(bundle, at, () => undefined);
    case 1:
      return setAt(bundle, at, () => value);
    case 2: // a base64 field with a character changed, or garbage
      return setAt(bundle, at, (old) =>
        typeof old === 'string' && old.length > 0
          ? `${old.slice(0, pick % old.length)}${text.slice(0, 1) || 'A'}${old.slice((pick % old.length) + 1)}`
          : text,
      );
    case 3:
      return JSON.parse(withProtoMember(JSON.stringify(bundle), JSON.stringify(value) ?? '1')) as unknown;
    default:
      return setAt(bundle, at, (old) => (Array.isArray(old) ? [...old, ...old] : { value: old }));
  }
}

test('verifyCosignBundle: mutated bundles give a report or a VouchError; a changed signed field never verifies', async (t) => {
  await checkAsyncProperty(
    t,
    [mutation],
    async (m) => {
      const mutated = mutate(m);
      const started = performance.now();
      let report;
      try {
        report = await verifyCosignBundle(mutated, SUBJECT, trust, { signatureDigest: SIGNATURE });
      } catch (error) {
        if (!(error instanceof VouchError)) throw new Error(`untyped throw: ${String(error)}`);
        return;
      } finally {
        if (performance.now() - started > HANG_BOUND_MS) throw new Error('hang');
      }
      if (report.verified) {
        // What the signature covers cannot change and still verify: the DSSE payload and type, and the signature bytes.
        type Envelope = { payload?: unknown; payloadType?: unknown; signatures?: Array<{ sig?: unknown }> };
        const signed = (e: Envelope | undefined) => JSON.stringify([e?.payload, e?.payloadType, e?.signatures?.map((s) => s?.sig)]);
        if (signed((mutated as { dsseEnvelope?: Envelope }).dsseEnvelope) !== signed(bundle['dsseEnvelope'] as Envelope)) {
          throw new Error('a bundle with a changed DSSE payload or signature verified');
        }
      } else if (report.reasons.length === 0) {
        throw new Error('a failed report without a reason');
      }
    },
    0.3,
  );
});

test('checkSimpleSigningPayload: any bytes give a problem or none, never a throw', (t) => {
  const valid = new TextDecoder().decode(simpleSigningPayload(SUBJECT));
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    hostileJsonValue.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? '')),
    fc
      .tuple(fc.nat(), hostileText)
      .map(([at, text]) => new TextEncoder().encode(valid.slice(0, at % valid.length) + text + valid.slice(at % valid.length))),
    hostileJsonValue.map((v) => new TextEncoder().encode(withProtoMember(valid, JSON.stringify(v) ?? '1'))),
  );
  checkProperty(t, [payload], (bytes) => {
    const problem = checkSimpleSigningPayload(bytes, SUBJECT);
    if (problem !== undefined && typeof problem !== 'string') throw new Error('not a string');
  });
  t.is(checkSimpleSigningPayload(simpleSigningPayload(SUBJECT), SUBJECT), undefined);
});

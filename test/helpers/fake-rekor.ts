// In-process Rekor v1 transparency log, following the REST API of
// https://github.com/sigstore/rekor/blob/main/openapi.yaml (POST /api/v1/log/entries for a
// hashedrekord 0.0.1 proposed entry, GET /api/v1/log/publicKey) with a P-256 log key made per
// instance. It signs a SET (signedEntryTimestamp) for each entry but keeps no Merkle tree: the
// inclusion proof is optional in the API, and cosign's legacy `dev.sigstore.cosign/bundle`
// annotation carries only the SET. Self-contained on purpose: it shares nothing with src/.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRekorEntry {
  uuid: string;
  body: string;
  integratedTime: number;
  logIndex: number;
}

export interface FakeRekor {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The log key, SubjectPublicKeyInfo PEM (what GET /api/v1/log/publicKey answers). */
  publicKeyPem: string;
  /** The log key, SubjectPublicKeyInfo DER. */
  publicKeyDer: Buffer;
  /** Hex sha256 of the SPKI DER: Rekor's logID. */
  logId: string;
  entries: FakeRekorEntry[];
  stop(): Promise<void>;
}

/** Keys sorted recursively, no whitespace: the canonical JSON Rekor signs SETs over (RFC 8785 for these values). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A trusted_root.json tlog entry for a log key (https://github.com/sigstore/protobuf-specs, TransparencyLogInstance). */
export function trustedRootTlog(rekor: Pick<FakeRekor, 'url' | 'publicKeyDer'>, validFrom: Date): unknown {
  return {
    baseUrl: rekor.url,
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: rekor.publicKeyDer.toString('base64'),
      keyDetails: 'PKIX_ECDSA_P256_SHA_256',
      validFor: { start: validFrom.toISOString() },
    },
    logId: { keyId: createHash('sha256').update(rekor.publicKeyDer).digest('base64') },
  };
}

interface HashedRekordProposal {
  apiVersion: '0.0.1';
  kind: 'hashedrekord';
  spec: {
    data: { hash: { algorithm: string; value: string } };
    signature: { content: string; publicKey: { content: string } };
  };
}

function parseProposal(text: string): HashedRekordProposal | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  const entry = value as Partial<HashedRekordProposal> | null;
  if (entry?.kind !== 'hashedrekord' || entry.apiVersion !== '0.0.1') return 'only hashedrekord 0.0.1 is supported';
  const hash = entry.spec?.data?.hash;
  const signature = entry.spec?.signature;
  if (typeof hash?.algorithm !== 'string' || typeof hash.value !== 'string') return 'spec.data.hash is missing';
  if (typeof signature?.content !== 'string' || typeof signature.publicKey?.content !== 'string') return 'spec.signature is missing';
  return entry as HashedRekordProposal;
}

function error(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code: status, message }));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeRekor(options: { clock?: () => Date } = {}): Promise<FakeRekor> {
  const clock = options.clock ?? (() => new Date());
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const logId = createHash('sha256').update(publicKeyDer).digest('hex');
  const entries: FakeRekorEntry[] = [];

  function signedEntryTimestamp(key: KeyObject, entry: FakeRekorEntry): string {
    const payload = canonicalJson({ body: entry.body, integratedTime: entry.integratedTime, logID: logId, logIndex: entry.logIndex });
    return sign('sha256', Buffer.from(payload), key).toString('base64');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/api/v1/log/publicKey') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      res.end(publicKeyPem);
      return;
    }
    if (req.method === 'POST' && path === '/api/v1/log/entries') {
      const proposal = parseProposal(await readBody(req));
      if (typeof proposal === 'string') return error(res, 400, proposal);
      // The canonical entry (rekor pkg/types/hashedrekord/v0.0.1 Canonicalize): only these fields.
      const { hash } = proposal.spec.data;
      const { signature } = proposal.spec;
      const canonical = canonicalJson({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: hash.algorithm, value: hash.value } },
          signature: { content: signature.content, publicKey: { content: signature.publicKey.content } },
        },
      });
      // The entry UUID is its RFC 6962 leaf hash (https://www.rfc-editor.org/rfc/rfc6962#section-2.1).
      const uuid = createHash('sha256')
        .update(Buffer.concat([Buffer.from([0]), Buffer.from(canonical)]))
        .digest('hex');
      const existing = entries.find((e) => e.uuid === uuid);
      if (existing !== undefined) {
        res.writeHead(409, { 'content-type': 'application/json', location: `/api/v1/log/entries/${uuid}` });
        res.end(JSON.stringify({ code: 409, message: 'an equivalent entry already exists in the transparency log' }));
        return;
      }
      const entry: FakeRekorEntry = {
        uuid,
        body: Buffer.from(canonical).toString('base64'),
        integratedTime: Math.floor(clock().getTime() / 1000),
        logIndex: entries.length,
      };
      entries.push(entry);
      const answer = {
        [uuid]: {
          body: entry.body,
          integratedTime: entry.integratedTime,
          logID: logId,
          logIndex: entry.logIndex,
          verification: { signedEntryTimestamp: signedEntryTimestamp(privateKey, entry) },
        },
      };
      res.writeHead(201, { 'content-type': 'application/json', location: `/api/v1/log/entries/${uuid}`, etag: uuid });
      res.end(JSON.stringify(answer));
      return;
    }
    error(res, 404, `no route for ${req.method ?? ''} ${path ?? ''}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => error(res, 500, String(e)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    publicKeyPem,
    publicKeyDer,
    logId,
    entries,
    stop: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

// A small RFC 3161 timestamp authority over HTTP (RFC 3161 §3.4) for signing tests: it parses each
// TimeStampReq, and answers a granted TimeStampResp whose token is a real CMS SignedData over a
// TSTInfo (imprint and nonce echoed, genTime now) signed by a generated TSA certificate
// (test/helpers/pki.ts generateTsaLeaf, root → TSA leaf). Modes make it misbehave for negative tests.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createHash, webcrypto } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateRoot, generateTsaLeaf, type GeneratedCertificate } from './pki.js';

const TST_INFO = '1.2.840.113549.1.9.16.1.4';
const SIGNED_DATA = '1.2.840.113549.1.7.2';

/**
 * How the TSA answers: `ok`; `garbage` (random bytes as a timestamp reply); `rejection`
 * (PKIStatus rejection, badAlg); `wrong-nonce` (a valid token with another nonce); `http-500`;
 * `wrong-content-type` (a valid reply labelled text/html); `huge` (2 MiB reply).
 */
export type TsaMode = 'ok' | 'garbage' | 'rejection' | 'wrong-nonce' | 'http-500' | 'wrong-content-type' | 'huge';

export interface TsaServer {
  url: URL;
  root: GeneratedCertificate;
  leaf: GeneratedCertificate;
  /** The root as PEM, for --timestamp-root and notation's `tsa` trust store. */
  rootPem: string;
  mode: TsaMode;
  /** Requests received (DER TimeStampReq bodies). */
  requests: Uint8Array[];
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) reject(new Error('request too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

async function signingKey(leaf: GeneratedCertificate): Promise<webcrypto.CryptoKey> {
  const pkcs8 = leaf.privateKey.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
}

/** A granted TimeStampResp for `request` (DER TimeStampReq). */
async function respond(
  request: Uint8Array,
  leaf: GeneratedCertificate,
  key: webcrypto.CryptoKey,
  options: { nonce?: asn1js.Integer },
): Promise<Uint8Array> {
  const req = pkijs.TimeStampReq.fromBER(request);
  const pkijsLeaf = pkijs.Certificate.fromBER(leaf.der);
  const tst = new pkijs.TSTInfo({
    version: 1,
    policy: '1.3.6.1.4.1.99999.7',
    messageImprint: req.messageImprint,
    serialNumber: new asn1js.Integer({ value: Math.floor(Math.random() * 1e9) + 1 }),
    genTime: new Date(Math.floor(Date.now() / 1000) * 1000),
    accuracy: new pkijs.Accuracy({ seconds: 1 }),
    ...(options.nonce ? { nonce: options.nonce } : req.nonce ? { nonce: req.nonce } : {}),
  });
  const eContent = new Uint8Array(tst.toSchema().toBER(false));
  const signedData = new pkijs.SignedData({
    version: 3,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: TST_INFO,
      eContent: new asn1js.OctetString({ valueHex: eContent }),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: pkijsLeaf.issuer, serialNumber: pkijsLeaf.serialNumber }),
      }),
    ],
    certificates: req.certReq ? [pkijsLeaf] : [],
  });
  // pkijs's constructor re-chunks eContent into a constructed (BER) OCTET STRING, which Go's
  // encoding/asn1 (tspclient-go, so notation) cannot read: real TSAs send DER, and so does this one.
  signedData.encapContentInfo.eContent = new asn1js.OctetString({ valueHex: eContent });
  const essCertId = new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: createHash('sha256').update(leaf.der).digest() })] });
  signedData.signerInfos[0]!.signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: [
      new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: TST_INFO })] }),
      new pkijs.Attribute({
        type: '1.2.840.113549.1.9.4',
        values: [new asn1js.OctetString({ valueHex: createHash('sha256').update(eContent).digest() })],
      }),
      new pkijs.Attribute({
        type: '1.2.840.113549.1.9.16.2.47',
        values: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [essCertId] })] })],
      }),
    ],
  });
  await signedData.sign(key, 0, 'SHA-256');
  const token = new pkijs.ContentInfo({ contentType: SIGNED_DATA, content: signedData.toSchema(true) });
  const response = new asn1js.Sequence({ value: [new pkijs.PKIStatusInfo({ status: 0 }).toSchema(), token.toSchema()] });
  return new Uint8Array(response.toBER(false));
}

function rejection(): Uint8Array {
  const status = new pkijs.PKIStatusInfo({
    status: 2,
    statusStrings: [new asn1js.Utf8String({ value: 'unsupported algorithm' })],
    failInfo: new asn1js.BitString({ valueHex: new Uint8Array([0x80]), unusedBits: 7 }),
  });
  return new Uint8Array(new asn1js.Sequence({ value: [status.toSchema()] }).toBER(false));
}

/** Starts a TSA on a free loopback port with a fresh root and TSA leaf. */
export async function startTsaServer(mode: TsaMode = 'ok'): Promise<TsaServer> {
  const root = await generateRoot({ subject: 'CN=vouch test TSA root,O=vouch,ST=WA,C=US' });
  const leaf = await generateTsaLeaf(root);
  const key = await signingKey(leaf);
  const requests: Uint8Array[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    requests.push(body);
    const reply = (status: number, type: string, bytes: Uint8Array) => {
      res.writeHead(status, { 'content-type': type, 'content-length': String(bytes.length) });
      res.end(Buffer.from(bytes));
    };
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query') {
      reply(400, 'text/plain', new TextEncoder().encode('expected POST application/timestamp-query'));
      return;
    }
    switch (server.mode) {
      case 'http-500':
        return reply(500, 'text/plain', new TextEncoder().encode('TSA down'));
      case 'garbage':
        return reply(200, 'application/timestamp-reply', new Uint8Array(webcrypto.getRandomValues(new Uint8Array(512))));
      case 'huge':
        return reply(200, 'application/timestamp-reply', new Uint8Array(2 * 1024 * 1024));
      case 'rejection':
        return reply(200, 'application/timestamp-reply', rejection());
      case 'wrong-nonce':
        return reply(200, 'application/timestamp-reply', await respond(body, leaf, key, { nonce: new asn1js.Integer({ value: 42 }) }));
      case 'wrong-content-type':
        return reply(200, 'text/html', await respond(body, leaf, key, {}));
      default:
        return reply(200, 'application/timestamp-reply', await respond(body, leaf, key, {}));
    }
  };
  const http: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const server: TsaServer = {
    url: new URL(`http://127.0.0.1:${port}/tsa`),
    root,
    leaf,
    rootPem: root.certificate.toPem(),
    mode,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
  return server;
}

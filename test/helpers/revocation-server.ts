// A generated PKI (root → intermediate → leaves, ECDSA P-256) whose CRL distribution points and
// OCSP URLs point at an in-process node:http server on 127.0.0.1:0. The server signs CRLs (pkijs
// CertificateRevocationList) and OCSP responses (pkijs BasicOCSPResponse, RFC 6960) on demand,
// with switches for every answer and fault a revocation checker must survive. Self-contained: it
// shares no code with src/ except the Certificate wrapper used to hand certificates over.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { webcrypto } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Certificate } from '../../src/trust/index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const OID_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const OID_FRESHEST_CRL = '2.5.29.46';

export interface Issued {
  name: string;
  certificate: Certificate;
  x509: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  pkijs: pkijs.Certificate;
}

/** Which CA answers: the root for the intermediate and the responders, the intermediate for the leaves. */
export type CaName = 'root' | 'intermediate';

/** How the OCSP responder answers for one certificate. */
export type OcspMode = 'good' | 'revoked' | 'unknown' | 'slow' | 'error500' | 'garbage' | 'tryLater' | 'expired' | 'wrongCert';
/** Who signs OCSP responses of a CA: the CA, a delegated responder (EKU OCSPSigning), or one without that EKU. */
export type OcspSigner = 'ca' | 'delegated' | 'delegatedNoEku' | 'stranger';
/** How a CA's CRL endpoints answer. */
export type CrlMode = 'normal' | 'slow' | 'error500' | 'garbage' | 'expired' | 'huge';

export interface Revocation {
  revokedAt: Date;
  reason?: number;
  invalidityDate?: Date;
  /** Listed only in the delta CRL (the base CRL does not have it). */
  deltaOnly?: boolean;
  /** Listed in the delta CRL as removeFromCRL (a certificateHold lifted since the base). */
  removedInDelta?: boolean;
}

export interface RevocationPkiOptions {
  /** Base CRLs carry a Freshest CRL extension pointing at the CA's delta CRL. */
  deltaCrls?: boolean;
  /** How long CRLs and OCSP answers stay fresh (nextUpdate − thisUpdate), ms. Default one hour. */
  validityMs?: number;
  /** Delay of 'slow' answers, ms. Default 5 s. */
  slowMs?: number;
}

export interface RevocationServer {
  /** http://127.0.0.1:PORT */
  url: string;
  root: Issued;
  intermediate: Issued;
  /** Leaf with both an OCSP URL and a CRL distribution point. */
  leaf: Issued;
  /** Leaf with an OCSP URL only. */
  leafOcspOnly: Issued;
  /** Leaf with a CRL distribution point only. */
  leafCrlOnly: Issued;
  /** Leaf with a CDP and a Freshest CRL (delta) extension. */
  leafWithFreshest: Issued;
  /** Leaf with neither: non-revocable. */
  leafNone: Issued;
  /** [leaf, intermediate, root] as Certificates. */
  chain(leaf?: Issued): Certificate[];
  /** Requests per path ("/ocsp/intermediate", "/crl/intermediate.crl", …). */
  hits: Map<string, number>;
  hitCount(prefix?: string): number;
  ocspMode: Map<string, OcspMode>;
  setOcsp(cert: Issued, mode: OcspMode): void;
  setOcspSigner(ca: CaName, signer: OcspSigner): void;
  /** How the CA's CRL endpoints answer: base and delta (default), or only one of them. */
  setCrlMode(ca: CaName, mode: CrlMode, which?: 'both' | 'base' | 'delta'): void;
  /** Answer the CA's CRL URLs with a 302 to `location` (undefined: serve the CRL again). */
  setCrlRedirect(ca: CaName, location: string | undefined): void;
  revoke(cert: Issued, revocation: Revocation): void;
  close(): Promise<void>;
}

interface State {
  ocsp: Map<string, OcspMode>;
  ocspSigner: Record<CaName, OcspSigner>;
  crl: Record<CaName, CrlMode>;
  deltaCrl: Record<CaName, CrlMode>;
  crlRedirect: Record<CaName, string | undefined>;
  revoked: Record<CaName, Map<string, Revocation>>;
  crlNumber: number;
}

export async function startRevocationServer(options: RevocationPkiOptions = {}): Promise<RevocationServer> {
  const validityMs = options.validityMs ?? 3_600_000;
  const slowMs = options.slowMs ?? 5_000;
  const state: State = {
    ocsp: new Map(),
    ocspSigner: { root: 'ca', intermediate: 'ca' },
    crl: { root: 'normal', intermediate: 'normal' },
    deltaCrl: { root: 'normal', intermediate: 'normal' },
    crlRedirect: { root: undefined, intermediate: undefined },
    revoked: { root: new Map(), intermediate: new Map() },
    crlNumber: 10,
  };
  const hits = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  // filled in once the PKI exists (its URLs need the port first)
  let pki: Pki | undefined;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      handle(req, res, path, Buffer.concat(chunks)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(error));
      });
    });
  });

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  async function handle(req: IncomingMessage, res: ServerResponse, path: string, body: Buffer): Promise<void> {
    if (pki === undefined) throw new Error('PKI not ready');
    const ocspMatch = /^\/ocsp\/(root|intermediate)$/.exec(path);
    if (ocspMatch && req.method === 'POST') {
      const ca = ocspMatch[1] as CaName;
      const request = pkijs.OCSPRequest.fromBER(body);
      const reqCert = request.tbsRequest.requestList[0]!.reqCert;
      const serial = hex(reqCert.serialNumber);
      const mode = state.ocsp.get(`${ca}:${serial}`) ?? 'good';
      switch (mode) {
        case 'slow':
          later(slowMs, () => send(res, 200, 'application/ocsp-response', Buffer.alloc(0)));
          return;
        case 'error500':
          send(res, 500, 'text/plain', Buffer.from('responder down'));
          return;
        case 'garbage':
          send(res, 200, 'application/ocsp-response', Buffer.from('definitely not DER'));
          return;
        case 'tryLater':
          send(
            res,
            200,
            'application/ocsp-response',
            Buffer.from(new pkijs.OCSPResponse({ responseStatus: new asn1js.Enumerated({ value: 3 }) }).toSchema().toBER(false)),
          );
          return;
        default:
          send(res, 200, 'application/ocsp-response', await ocspResponse(pki, state, ca, reqCert, mode, validityMs));
      }
      return;
    }
    const crlMatch = /^\/crl\/(root|intermediate)(-delta)?\.crl$/.exec(path);
    if (crlMatch && req.method === 'GET') {
      const ca = crlMatch[1] as CaName;
      const delta = crlMatch[2] !== undefined;
      const mode = delta ? state.deltaCrl[ca] : state.crl[ca];
      const location = state.crlRedirect[ca];
      if (location !== undefined) {
        res.writeHead(302, { location, 'content-length': '0' });
        res.end();
        return;
      }
      switch (mode) {
        case 'slow':
          later(slowMs, () => send(res, 200, 'application/pkix-crl', Buffer.alloc(0)));
          return;
        case 'error500':
          send(res, 500, 'text/plain', Buffer.from('CRL server down'));
          return;
        case 'garbage':
          send(res, 200, 'application/pkix-crl', Buffer.from('not a CRL at all'));
          return;
        case 'huge':
          send(res, 200, 'application/pkix-crl', Buffer.alloc(2 * 1024 * 1024, 0x30));
          return;
        default:
          send(
            res,
            200,
            'application/pkix-crl',
            await crl(pki, state, ca, delta, mode === 'expired', options.deltaCrls ?? false, validityMs),
          );
      }
      return;
    }
    send(res, 404, 'text/plain', Buffer.from('not found'));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pki = await generatePki(url);
  const ready = pki;

  return {
    url,
    root: ready.root,
    intermediate: ready.intermediate,
    leaf: ready.leaf,
    leafOcspOnly: ready.leafOcspOnly,
    leafCrlOnly: ready.leafCrlOnly,
    leafWithFreshest: ready.leafWithFreshest,
    leafNone: ready.leafNone,
    chain: (leaf = ready.leaf) => [leaf.certificate, ready.intermediate.certificate, ready.root.certificate],
    hits,
    hitCount: (prefix = '/') => [...hits.entries()].filter(([p]) => p.startsWith(prefix)).reduce((n, [, c]) => n + c, 0),
    ocspMode: state.ocsp,
    setOcsp(cert, mode) {
      state.ocsp.set(`${issuerOf(ready, cert)}:${hex(cert.pkijs.serialNumber)}`, mode);
    },
    setOcspSigner(ca, signer) {
      state.ocspSigner[ca] = signer;
    },
    setCrlRedirect(ca, location) {
      state.crlRedirect[ca] = location;
    },
    setCrlMode(ca, mode, which = 'both') {
      if (which !== 'delta') state.crl[ca] = mode;
      if (which !== 'base') state.deltaCrl[ca] = mode;
    },
    revoke(cert, revocation) {
      state.revoked[issuerOf(ready, cert)].set(hex(cert.pkijs.serialNumber), revocation);
      // a revoked certificate also answers "revoked" over OCSP unless a test says otherwise
      const key = `${issuerOf(ready, cert)}:${hex(cert.pkijs.serialNumber)}`;
      if (!state.ocsp.has(key)) state.ocsp.set(key, 'revoked');
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PKI

interface Pki {
  url: string;
  root: Issued;
  intermediate: Issued;
  leaf: Issued;
  leafOcspOnly: Issued;
  leafCrlOnly: Issued;
  leafWithFreshest: Issued;
  leafNone: Issued;
  /** Delegated responders per CA. */
  responders: Record<CaName, { delegated: Issued; noEku: Issued }>;
  /** A key pair unrelated to the PKI, with a self-signed certificate. */
  stranger: Issued;
}

function issuerOf(pki: Pki, cert: Issued): CaName {
  return cert.certificate.equals(pki.intermediate.certificate) || cert.name.startsWith('responder-root') ? 'root' : 'intermediate';
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function issue(
  name: string,
  subject: string,
  issuer: Issued | undefined,
  extensions: x509.Extension[],
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<Issued> {
  const keys = await generateKeys();
  const notBefore = validity.notBefore ?? new Date(Date.now() - 86_400_000);
  const notAfter = validity.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  const serialNumber = `7${Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
    .toString('hex')
    .slice(1)}`;
  const cert =
    issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber,
          name: subject,
          notBefore,
          notAfter,
          keys,
          signingAlgorithm: ALGORITHM,
          extensions,
        })
      : await x509.X509CertificateGenerator.create({
          serialNumber,
          subject,
          issuer: issuer.x509.subject,
          notBefore,
          notAfter,
          publicKey: keys.publicKey,
          signingKey: issuer.keys.privateKey,
          signingAlgorithm: ALGORITHM,
          extensions,
        });
  const der = new Uint8Array(cert.rawData);
  return { name, certificate: Certificate.fromDer(der, name), x509: cert, keys, pkijs: pkijs.Certificate.fromBER(der) };
}

const caExtensions = (pathLength?: number): x509.Extension[] => [
  new x509.BasicConstraintsExtension(true, pathLength, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
];
const leafExtensions = (): x509.Extension[] => [
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.3']),
];
const cdp = (url: string): x509.Extension => new x509.CRLDistributionPointsExtension([url]);
const aia = (url: string): x509.Extension => new x509.AuthorityInfoAccessExtension({ ocsp: [url] });
const freshest = (url: string): x509.Extension =>
  new x509.Extension(OID_FRESHEST_CRL, false, new x509.CRLDistributionPointsExtension([url]).value);

async function generatePki(url: string): Promise<Pki> {
  const root = await issue('root', 'CN=Revocation Test Root,O=Notary,ST=WA,C=US', undefined, caExtensions());
  const intermediate = await issue('intermediate', 'CN=Revocation Test Intermediate,O=Notary,ST=WA,C=US', root, [
    ...caExtensions(0),
    cdp(`${url}/crl/root.crl`),
    aia(`${url}/ocsp/root`),
  ]);
  const leafCdp = cdp(`${url}/crl/intermediate.crl`);
  const leafAia = aia(`${url}/ocsp/intermediate`);
  const leaf = await issue('leaf', 'CN=Revocation Test Leaf,O=Notary,ST=WA,C=US', intermediate, [...leafExtensions(), leafCdp, leafAia]);
  const leafOcspOnly = await issue('leafOcspOnly', 'CN=OCSP Only Leaf,O=Notary,ST=WA,C=US', intermediate, [...leafExtensions(), leafAia]);
  const leafCrlOnly = await issue('leafCrlOnly', 'CN=CRL Only Leaf,O=Notary,ST=WA,C=US', intermediate, [...leafExtensions(), leafCdp]);
  const leafWithFreshest = await issue('leafWithFreshest', 'CN=Delta Leaf,O=Notary,ST=WA,C=US', intermediate, [
    ...leafExtensions(),
    leafCdp,
    freshest(`${url}/crl/intermediate-delta.crl`),
  ]);
  const leafNone = await issue('leafNone', 'CN=Non Revocable Leaf,O=Notary,ST=WA,C=US', intermediate, leafExtensions());
  const responder = (name: string, issuer: Issued, eku: boolean): Promise<Issued> =>
    issue(name, `CN=${name},O=Notary,ST=WA,C=US`, issuer, [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(eku ? [new x509.ExtendedKeyUsageExtension([OID_OCSP_SIGNING])] : []),
      new x509.Extension(OID_OCSP_NOCHECK, false, new asn1js.Null().toBER(false)),
    ]);
  const responders = {
    root: { delegated: await responder('responder-root', root, true), noEku: await responder('responder-root-no-eku', root, false) },
    intermediate: {
      delegated: await responder('responder-intermediate', intermediate, true),
      noEku: await responder('responder-intermediate-no-eku', intermediate, false),
    },
  };
  const stranger = await issue('stranger', 'CN=Stranger,O=Elsewhere,ST=WA,C=US', undefined, caExtensions());
  return { url, root, intermediate, leaf, leafOcspOnly, leafCrlOnly, leafWithFreshest, leafNone, responders, stranger };
}

// ---------------------------------------------------------------------------------------------
// OCSP and CRL answers

function hex(serial: asn1js.Integer): string {
  return Buffer.from(serial.valueBlock.valueHexView)
    .toString('hex')
    .replace(/^(00)+(?=..)/, '');
}

function send(res: ServerResponse, status: number, contentType: string, body: Uint8Array): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
  res.end(body);
}

function caIssued(pki: Pki, ca: CaName): Issued {
  return ca === 'root' ? pki.root : pki.intermediate;
}

function extension(extnID: string, value: asn1js.BaseBlock, critical = false): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

async function ocspResponse(
  pki: Pki,
  state: State,
  ca: CaName,
  reqCert: pkijs.CertID,
  mode: OcspMode,
  validityMs: number,
): Promise<Uint8Array> {
  const signerKind = state.ocspSigner[ca];
  const signer =
    signerKind === 'ca'
      ? caIssued(pki, ca)
      : signerKind === 'delegated'
        ? pki.responders[ca].delegated
        : signerKind === 'delegatedNoEku'
          ? pki.responders[ca].noEku
          : pki.stranger;
  const now = Date.now();
  const revocation = state.revoked[ca].get(hex(reqCert.serialNumber));
  let certStatus: asn1js.BaseBlock;
  const singleExtensions: pkijs.Extension[] = [];
  if (mode === 'revoked') {
    const revokedAt = revocation?.revokedAt ?? new Date(now - 3_600_000);
    certStatus = new asn1js.Constructed({
      idBlock: { tagClass: 3, tagNumber: 1 },
      value: [new asn1js.GeneralizedTime({ valueDate: revokedAt })],
    });
    if (revocation?.invalidityDate)
      singleExtensions.push(extension('2.5.29.24', new asn1js.GeneralizedTime({ valueDate: revocation.invalidityDate })));
  } else if (mode === 'unknown') {
    certStatus = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 } });
  } else {
    certStatus = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 } });
  }
  // 'wrongCert' answers about another serial number
  const certID =
    mode === 'wrongCert'
      ? new pkijs.CertID({
          hashAlgorithm: reqCert.hashAlgorithm,
          issuerNameHash: reqCert.issuerNameHash,
          issuerKeyHash: reqCert.issuerKeyHash,
          serialNumber: new asn1js.Integer({ value: 12345 }),
        })
      : reqCert;
  const thisUpdate = mode === 'expired' ? new Date(now - 2 * validityMs) : new Date(now - 60_000);
  const nextUpdate = mode === 'expired' ? new Date(now - validityMs) : new Date(now + validityMs);
  const basic = new pkijs.BasicOCSPResponse();
  basic.tbsResponseData.responderID = signer.pkijs.subject;
  basic.tbsResponseData.producedAt = new Date(now);
  basic.tbsResponseData.responses.push(
    new pkijs.SingleResponse({ certID, certStatus, thisUpdate, nextUpdate, ...(singleExtensions.length > 0 ? { singleExtensions } : {}) }),
  );
  if (signerKind !== 'ca') basic.certs = [signer.pkijs];
  await basic.sign(signer.keys.privateKey, 'SHA-256');
  const response = new pkijs.OCSPResponse({
    responseStatus: new asn1js.Enumerated({ value: 0 }),
    responseBytes: new pkijs.ResponseBytes({
      responseType: '1.3.6.1.5.5.7.48.1.1',
      response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER(false) }),
    }),
  });
  return new Uint8Array(response.toSchema().toBER(false));
}

async function crl(
  pki: Pki,
  state: State,
  ca: CaName,
  delta: boolean,
  expired: boolean,
  withFreshest: boolean,
  validityMs: number,
): Promise<Uint8Array> {
  const issuer = caIssued(pki, ca);
  const now = Date.now();
  const baseNumber = state.crlNumber;
  const entries: pkijs.RevokedCertificate[] = [];
  for (const [serial, r] of state.revoked[ca]) {
    const inBase = !r.deltaOnly;
    const inDelta = r.deltaOnly === true || r.removedInDelta === true;
    if (delta ? !inDelta : !inBase) continue;
    const reason = delta && r.removedInDelta ? 8 : r.reason;
    const entryExtensions: pkijs.Extension[] = [];
    if (reason !== undefined) entryExtensions.push(extension('2.5.29.21', new asn1js.Enumerated({ value: reason })));
    if (r.invalidityDate) entryExtensions.push(extension('2.5.29.24', new asn1js.GeneralizedTime({ valueDate: r.invalidityDate })));
    entries.push(
      new pkijs.RevokedCertificate({
        userCertificate: new asn1js.Integer({ valueHex: Buffer.from(serial.length % 2 ? `0${serial}` : serial, 'hex') }),
        revocationDate: new pkijs.Time({ type: 0, value: r.revokedAt }),
        ...(entryExtensions.length > 0 ? { crlEntryExtensions: new pkijs.Extensions({ extensions: entryExtensions }) } : {}),
      }),
    );
  }
  const crlExtensions = [extension('2.5.29.20', new asn1js.Integer({ value: delta ? baseNumber + 1 : baseNumber }))];
  if (delta) crlExtensions.push(extension('2.5.29.27', new asn1js.Integer({ value: baseNumber }), true));
  else if (withFreshest) {
    crlExtensions.push(
      new pkijs.Extension({
        extnID: OID_FRESHEST_CRL,
        critical: false,
        extnValue: new x509.CRLDistributionPointsExtension([`${pki.url}/crl/${ca}-delta.crl`]).value,
      }),
    );
  }
  const thisUpdate = expired ? new Date(now - 2 * validityMs) : new Date(now - 60_000);
  const nextUpdate = expired ? new Date(now - validityMs) : new Date(now + validityMs);
  const list = new pkijs.CertificateRevocationList({
    version: 1,
    issuer: issuer.pkijs.subject,
    thisUpdate: new pkijs.Time({ type: 0, value: thisUpdate }),
    nextUpdate: new pkijs.Time({ type: 0, value: nextUpdate }),
    ...(entries.length > 0 ? { revokedCertificates: entries } : {}),
    crlExtensions: new pkijs.Extensions({ extensions: crlExtensions }),
  });
  await list.sign(issuer.keys.privateKey, 'SHA-256');
  return new Uint8Array(list.toSchema(true).toBER(false));
}

// A signing identity from PEM files (`vouch sign --key KEY --cert CHAIN`), held to the rules
// notation applies when it signs, so that nothing is pushed that `notation verify` would reject:
// notation-go signer.NewGenericSignerFromFiles reads the pair with Go's tls.LoadX509KeyPair (PEM
// PKCS#8, SEC1 or PKCS#1; no encrypted keys), notation-core-go NewLocalSigner requires the key to
// be the leaf's, and its envelope Sign validates the chain (x509 ValidateCodeSigningCertChain:
// complete to a self-signed root, code-signing leaf, every certificate valid at signing time).
// Keys: signature-specification.md "Algorithm Selection"
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/signature-specification.md#algorithm-selection).

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { VouchError, errorMessage } from '../core/index.js';
import { OID, parseCertificates, type Certificate } from '../trust/index.js';
import { signatureAlgorithmForKey } from './algorithms.js';
import { validateSigningChain } from './chain.js';
import type { SigningIdentity } from './identity-generation.js';

/** PEM private key blocks notation accepts (tls.LoadX509KeyPair): PKCS#8, SEC1, PKCS#1. */
const PRIVATE_KEY_BLOCK = /-----BEGIN (PRIVATE KEY|EC PRIVATE KEY|RSA PRIVATE KEY)-----[\s\S]*?-----END \1-----/;
/** Key files are small; a bigger file is not a key (a ceiling on what is read into memory). */
const MAX_FILE_BYTES = 1024 * 1024;

export interface LoadSigningIdentityOptions {
  /** The signing time the chain must be valid at (default now). */
  now?: Date;
}

function keyError(file: string, message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_INPUT', `signing key ${file}: ${message}`, { reason: 'BAD_KEY', ...(cause ? { cause } : {}) });
}

function certificateError(file: string, message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_INPUT', `signing certificate chain ${file}: ${message}`, {
    reason: 'BAD_CONTENT',
    ...(cause ? { cause } : {}),
  });
}

/**
 * Reads a PEM file named on the command line (a key, a chain, a timestamp root), at most MAX_FILE_BYTES:
 * a regular file, checked on the open handle before reading, and read no further than the limit, so a
 * FIFO, a device or a huge file is refused instead of filling memory or blocking.
 */
export async function readPemFile(path: string, what: string): Promise<Uint8Array> {
  let handle: FileHandle | undefined;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever; on a regular
    // file it changes nothing.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw new VouchError('INVALID_INPUT', `${what} ${path}: not a regular file`, { reason: 'BAD_CONTENT' });
    // One byte past the limit tells a file at the limit from a longer one (the size may change after stat).
    const buffer = Buffer.alloc(Math.min(info.size, MAX_FILE_BYTES) + 1);
    let bytesRead = 0;
    for (;;) {
      if (bytesRead === buffer.length) break;
      const { bytesRead: n } = await handle.read(buffer, bytesRead, buffer.length - bytesRead, bytesRead);
      if (n === 0) break;
      bytesRead += n;
    }
    if (bytesRead > info.size || bytesRead > MAX_FILE_BYTES) {
      throw new VouchError(
        'INVALID_INPUT',
        bytesRead > MAX_FILE_BYTES
          ? `${what} ${path}: more than the ${MAX_FILE_BYTES} bytes a PEM file may have`
          : `${what} ${path}: changed while it was read`,
        { reason: bytesRead > MAX_FILE_BYTES ? 'SIZE_LIMIT' : 'BAD_CONTENT' },
      );
    }
    return new Uint8Array(buffer.subarray(0, bytesRead));
  } catch (error) {
    if (error instanceof VouchError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new VouchError('INVALID_INPUT', `${what} ${path}: cannot be read (${code ?? errorMessage(error)})`, {
      reason: code === 'ENOENT' ? 'NOT_FOUND' : 'OTHER',
      cause: error,
    });
  } finally {
    await handle?.close();
  }
}

/** Parses a PEM private key; `file` names it in errors. */
function parsePrivateKeyPem(pem: string, file: string): KeyObject {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem) || /Proc-Type:\s*4,\s*ENCRYPTED/.test(pem)) {
    throw keyError(file, 'the key is encrypted; notation and vouch need an unencrypted PEM key (e.g. `openssl pkey -in KEY -out PLAIN`)');
  }
  const block = PRIVATE_KEY_BLOCK.exec(pem);
  if (block === null) {
    throw keyError(file, 'no PEM private key found (expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)');
  }
  try {
    return createPrivateKey({ key: block[0], format: 'pem' });
  } catch (error) {
    throw keyError(file, `the PEM private key does not parse (${errorMessage(error)})`, error);
  }
}

/**
 * Checks that `privateKey` and `chain` (leaf first) can make a signature notation accepts: an
 * allowed key type and size, the key belongs to the leaf, the chain satisfies the Notary
 * code-signing certificate rules up to a self-signed root, and every certificate is valid at `now`.
 * Throws INVALID_INPUT (BAD_KEY for the key, BAD_CONTENT for the chain) naming the files.
 */
export function checkSigningIdentity(
  privateKey: KeyObject,
  chain: readonly Certificate[],
  files: { key: string; cert: string },
  now: Date = new Date(),
): void {
  if (privateKey.type !== 'private') throw keyError(files.key, 'not a private key');
  const publicKey = createPublicKey(privateKey);
  try {
    signatureAlgorithmForKey(publicKey);
  } catch (error) {
    throw keyError(files.key, `${errorMessage(error)}; the Notary Project allows RSA 2048/3072/4096 and EC P-256/P-384/P-521 keys`, error);
  }
  const leaf = chain[0];
  if (leaf === undefined) throw certificateError(files.cert, 'no certificate');
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  if (!spki(publicKey).equals(spki(leaf.publicKey))) {
    throw keyError(files.key, `the key does not belong to the leaf certificate (the first in ${files.cert}, subject "${leaf.subject}")`);
  }
  checkSigningChain(chain, files.cert, now);
}

/**
 * The certificate half of checkSigningIdentity, for signers whose key is elsewhere (a notation
 * plugin's chain): a code-signing leaf, a chain that satisfies the Notary code-signing rules up to
 * a self-signed root, every certificate valid at `now`. Throws INVALID_INPUT (BAD_CONTENT) naming `file`.
 */
export function checkSigningChain(chain: readonly Certificate[], file: string, now: Date = new Date()): void {
  const leaf = chain[0];
  if (leaf === undefined) throw certificateError(file, 'no certificate');
  // notation-core-go validateCodeSigningExtKeyUsage: an EKU extension must include codeSigning.
  const ekus = (leaf.extendedKeyUsage?.usages ?? []).map(String);
  if (leaf.extendedKeyUsage !== undefined && !ekus.includes(OID.codeSigning)) {
    throw certificateError(
      file,
      `the leaf certificate "${leaf.subject}" has an extended key usage without Code Signing (${ekus.join(', ') || 'none'}); notation would refuse to sign with it`,
    );
  }
  try {
    validateSigningChain(chain.map((c) => c.der));
  } catch (error) {
    throw certificateError(file, `${errorMessage(error)} (notation would refuse to sign with it)`, error);
  }
  for (const cert of chain) {
    if (now.getTime() < cert.notBefore.getTime() || now.getTime() > cert.notAfter.getTime()) {
      throw certificateError(
        file,
        `certificate "${cert.subject}" is not valid at ${now.toISOString()} (valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()})`,
      );
    }
  }
}

/**
 * Reads a signing identity: a PEM private key and a PEM certificate chain, leaf first and ending in
 * its self-signed root (as notation requires). The result carries the root as `root`.
 */
export async function loadSigningIdentity(
  keyPath: string,
  certPath: string,
  options: LoadSigningIdentityOptions = {},
): Promise<SigningIdentity> {
  const [keyBytes, certBytes] = await Promise.all([
    readPemFile(keyPath, 'signing key'),
    readPemFile(certPath, 'signing certificate chain'),
  ]);
  const privateKey = parsePrivateKeyPem(Buffer.from(keyBytes).toString('latin1'), keyPath);
  if (!Buffer.from(certBytes).toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    throw certificateError(certPath, 'no PEM CERTIFICATE block found');
  }
  let chain: Certificate[];
  try {
    chain = parseCertificates(certBytes, certPath);
  } catch (error) {
    throw certificateError(certPath, errorMessage(error), error);
  }
  checkSigningIdentity(privateKey, chain, { key: keyPath, cert: certPath }, options.now);
  return { privateKey, certificateChain: chain, root: chain[chain.length - 1]! };
}

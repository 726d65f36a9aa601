// Notary Project trust stores (trust-store-trust-policy.md "Trust Store"): named sets of trusted
// certificates laid out as x509/{ca,signingAuthority,tsa}/<name>/<files>, read with notation-go's rules
// (verifier/truststore x509TrustStore.GetCertificates): every regular file is read whatever its name
// (PEM, possibly several blocks, or DER), symlinks and sub-directories are errors, ca and
// signingAuthority certificates must be CA or self-signed, tsa certificates must be self-signed root CAs.
// FileTrustStore caches loaded stores and reloads them when the directory or one of its files changes.
// scanTrustStore also says which files are still valid on their own when a store is broken, and
// TrustStoreSnapshot serves stores decided once (trust withdrawal: src/config/environments.ts).

import * as asn1js from 'asn1js';
import { lstat, readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { VouchError, throwIfAborted, type ErrorReason } from '../core/index.js';
import { Certificate, KEY_USAGE } from './certificate.js';
import { toGoNameString } from './identity.js';
import { hasVolumeLayout, isVolumeBookkeeping, volumeFileTarget } from './volume-layout.js';

export type TrustStoreType = 'ca' | 'signingAuthority' | 'tsa';

/** A `type:name` entry of a statement's trustStores. */
export interface TrustStoreRef {
  type: TrustStoreType;
  name: string;
}

export const TRUST_STORE_TYPES: readonly TrustStoreType[] = ['ca', 'signingAuthority', 'tsa'];

const STORE_NAME = /^[a-zA-Z0-9_.-]+$/;

/** True for a valid trust store name (`[a-zA-Z0-9_.-]+`, notation-go's rule for policies and directories alike). */
export function isTrustStoreName(name: string): boolean {
  return STORE_NAME.test(name);
}

/** `reason` of the error for a trust store that does not exist. */
export const TRUST_STORE_NOT_FOUND: ErrorReason = 'NOT_FOUND';

export interface TrustStoreOptions {
  /** Look at the filesystem now, whatever the recheck interval (FileTrustStore). */
  recheck?: boolean;
  signal?: AbortSignal;
}

/**
 * Where verifiers get trusted certificates (notation-go truststore.X509TrustStore). Verifiers depend on
 * this interface, never on the filesystem.
 */
export interface TrustStore {
  /**
   * The certificates of the named store. Throws VouchError INVALID_CONFIG: reason TRUST_STORE_NOT_FOUND
   * when the store does not exist, BAD_CONTENT when it cannot be used.
   */
  getCertificates(type: TrustStoreType, name: string, options?: TrustStoreOptions): Promise<Certificate[]>;
  /**
   * The error of a store whose trust the operator withdrew (its files were removed, emptied or
   * broken after they had been loaded: TrustStoreSnapshot), else undefined. Verifiers fail every
   * statement that names a withdrawn store, also one the signature at hand would not need (a `tsa`
   * store when no timestamp is required): withdrawing trust is an emergency action that must not
   * depend on how a signature happens to be built. Stores read straight from disk (FileTrustStore)
   * have no notion of withdrawal and leave this out.
   */
  withdrawal?(type: TrustStoreType, name: string): VouchError | undefined;
}

/**
 * Loads every referenced store once, so that a policy pointing at a missing or broken store is reported
 * at configuration time rather than on the first admission request. Throws the first error.
 */
export async function validateTrustStoreReferences(
  store: TrustStore,
  refs: readonly TrustStoreRef[],
  options: TrustStoreOptions = {},
): Promise<void> {
  for (const ref of refs) {
    throwIfAborted(options.signal, `trust store ${ref.type}:${ref.name}`);
    await store.getCertificates(ref.type, ref.name, options);
  }
}

interface CacheEntry {
  fingerprint: string;
  /** When the filesystem was last looked at for this entry (ms since epoch). */
  checkedAt: number;
  result: { certificates: Certificate[] } | { error: VouchError };
}

export interface FileTrustStoreOptions {
  /**
   * How long a loaded store is trusted before the filesystem is looked at again, in ms (default
   * 1000). Looking costs an lstat per file; verifications in between reuse the result. 0 looks on
   * every call; refresh() always looks.
   */
  recheckIntervalMs?: number;
}

/**
 * A trust store directory as notation uses it: `root` CONTAINS `x509/` (notation's
 * `{NOTATION_CONFIG}/truststore`). Results (and errors) are cached per (type, name) and reused while the
 * store directory and every file in it keep their identity, size and modification time; any change is
 * picked up on the next call without a restart.
 */
export class FileTrustStore implements TrustStore {
  readonly root: string;
  private readonly cache = new Map<string, CacheEntry>();
  private counter = 0;
  private readonly recheckIntervalMs: number;

  constructor(root: string, options: FileTrustStoreOptions = {}) {
    this.root = path.resolve(root);
    this.recheckIntervalMs = options.recheckIntervalMs ?? 1000;
  }

  /**
   * A number that changes whenever a cached store's contents were found to have changed (or a store
   * appeared, disappeared or changed validity). Cheap: it reflects what the last getCertificates or
   * refresh call saw; call refresh() to look at the filesystem.
   */
  generation(): number {
    return this.counter;
  }

  /** Re-checks every store loaded so far and returns the (possibly new) generation. */
  async refresh(options: TrustStoreOptions = {}): Promise<number> {
    for (const key of [...this.cache.keys()]) {
      const [type, name] = key.split('\0') as [TrustStoreType, string];
      try {
        await this.getCertificates(type, name, { ...options, recheck: true });
      } catch (error) {
        if (!(error instanceof VouchError) || options.signal?.aborted === true) throw error;
      }
    }
    return this.counter;
  }

  /** Loads every referenced store; see validateTrustStoreReferences. */
  validateReferences(refs: readonly TrustStoreRef[], options: TrustStoreOptions = {}): Promise<void> {
    return validateTrustStoreReferences(this, refs, options);
  }

  async getCertificates(type: TrustStoreType, name: string, options: TrustStoreOptions = {}): Promise<Certificate[]> {
    checkStoreRef(type, name);
    throwIfAborted(options.signal, `trust store ${type}:${name}`);
    const key = `${type}\0${name}`;

    const cached = this.cache.get(key);
    const now = Date.now();
    if (cached !== undefined && options.recheck !== true && now - cached.checkedAt < this.recheckIntervalMs) {
      if ('error' in cached.result) throw cached.result.error;
      return [...cached.result.certificates];
    }
    const dir = storeDirectory(this.root, type, name);
    const snapshot = await snapshotStore(dir, type, name);
    let entry: CacheEntry;
    if (cached !== undefined && cached.fingerprint === snapshot.fingerprint) {
      entry = cached;
      entry.checkedAt = now;
    } else {
      entry = { fingerprint: snapshot.fingerprint, checkedAt: now, result: await loadStore(dir, type, name, snapshot, options.signal) };
      if (cached !== undefined && !sameResult(cached, entry)) this.counter++;
      this.cache.set(key, entry);
    }
    if ('error' in entry.result) throw entry.result.error;
    return [...entry.result.certificates];
  }
}

/** One trust store as read from disk, both strictly (as notation) and file by file. */
export interface TrustStoreScan {
  type: TrustStoreType;
  name: string;
  /** `<root>/x509/<type>/<name>` */
  directory: string;
  /** notation's verdict: every certificate of the store, or the first problem (FileTrustStore's answer). */
  result: { certificates: Certificate[] } | { error: VouchError };
  /**
   * The certificates of the files that are valid on their own, whatever is wrong elsewhere in the
   * store (equal to result's certificates when the store is valid). A missing, empty, unreadable or
   * unparseable file, a certificate that is not a CA (or, for `tsa`, not a root CA), a symlink or a
   * sub-directory contributes nothing; a missing store has no usable certificates.
   */
  usable: Certificate[];
}

/**
 * Reads one trust store (`<root>/x509/<type>/<name>`) once, without caching: notation's all-or-nothing
 * verdict and, for callers that must decide what is still trusted when the store is broken (trust
 * withdrawal), the certificates of every file that is still valid on its own.
 */
export async function scanTrustStore(
  root: string,
  type: TrustStoreType,
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<TrustStoreScan> {
  checkStoreRef(type, name);
  const dir = storeDirectory(path.resolve(root), type, name);
  const snapshot = await snapshotStore(dir, type, name);
  const usable: Certificate[] = [];
  let firstError: VouchError | undefined = snapshot.error;
  for (const file of snapshot.files) {
    throwIfAborted(options.signal, `trust store ${type}:${name}`);
    const outcome = await readStoreFile(dir, file, type, name, options.signal);
    if ('error' in outcome) firstError ??= outcome.error;
    else usable.push(...outcome.certificates);
  }
  const result =
    firstError !== undefined
      ? { error: firstError }
      : usable.length === 0
        ? { error: noCertificates(type, name) }
        : { certificates: [...usable] };
  return { type, name, directory: dir, result, usable };
}

/** A trust store entry held in memory: certificates, or why the store cannot be used. */
export type TrustStoreEntry = { certificates: readonly Certificate[] } | { error: VouchError };

/**
 * Trust stores held in memory, as decided when they were loaded; never looks at the filesystem. A
 * store not given is NOT_FOUND. An entry whose error has reason WITHDRAWN is also reported by
 * withdrawal(), so verifiers can fail every statement naming it.
 */
export class TrustStoreSnapshot implements TrustStore {
  readonly #stores = new Map<string, TrustStoreEntry>();

  constructor(entries: Iterable<readonly [TrustStoreRef, TrustStoreEntry]>) {
    for (const [ref, entry] of entries) {
      this.#stores.set(`${ref.type}\0${ref.name}`, 'error' in entry ? entry : { certificates: Object.freeze([...entry.certificates]) });
    }
  }

  getCertificates(type: TrustStoreType, name: string, options: TrustStoreOptions = {}): Promise<Certificate[]> {
    try {
      checkStoreRef(type, name);
      throwIfAborted(options.signal, `trust store ${type}:${name}`);
      const entry = this.#stores.get(`${type}\0${name}`);
      if (entry === undefined) {
        throw new VouchError('INVALID_CONFIG', `the trust store ${q(name)} of type ${q(type)} is not loaded`, {
          reason: TRUST_STORE_NOT_FOUND,
        });
      }
      if ('error' in entry) throw entry.error;
      return Promise.resolve([...entry.certificates]);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  withdrawal(type: TrustStoreType, name: string): VouchError | undefined {
    const entry = this.#stores.get(`${type}\0${name}`);
    return entry !== undefined && 'error' in entry && entry.error.reason === 'WITHDRAWN' ? entry.error : undefined;
  }
}

function checkStoreRef(type: TrustStoreType, name: string): void {
  if (!TRUST_STORE_TYPES.includes(type)) {
    throw new VouchError('INVALID_CONFIG', `unsupported trust store type: ${String(type)}`, { reason: 'BAD_CONTENT' });
  }
  if (!isTrustStoreName(name)) {
    throw new VouchError('INVALID_CONFIG', `trust store name needs to follow [a-zA-Z0-9_.-]+ format, ${name} is invalid`, {
      reason: 'BAD_CONTENT',
    });
  }
}

function storeDirectory(root: string, type: TrustStoreType, name: string): string {
  return path.join(root, 'x509', type, name);
}

// Directory and file metadata that decide whether a cached result is still good, the regular files
// to read, and the first structural error (missing store, symlinks, sub-directories). Entries after
// a structural error are still listed: scanTrustStore reads the files that are fine.
async function snapshotStore(dir: string, type: TrustStoreType, name: string): Promise<Snapshot> {
  let info;
  try {
    info = await lstat(dir, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { fingerprint: 'missing', files: [], error: notFound(type, name, dir, error) };
    }
    return {
      fingerprint: `error:${(error as Error).message}`,
      files: [],
      error: storeError(`failed to access the trust store ${q(name)} of type ${q(type)}`, error),
    };
  }
  if (!info.isDirectory() || info.isSymbolicLink()) {
    return {
      fingerprint: `not-dir:${stamp(info)}`,
      files: [],
      error: storeError(`the trust store ${name} of type ${type} with path ${dir} is not a regular directory (symlinks are not supported)`),
    };
  }
  let names: string[];
  try {
    names = (await readdir(dir)).sort(compareBytes);
  } catch (error) {
    return {
      fingerprint: `error:${(error as Error).message}`,
      files: [],
      error: storeError(`failed to access the trust store ${q(name)} of type ${q(type)}`, error),
    };
  }
  const parts = [`dir:${stamp(info)}`];
  const files: string[] = [];
  let problem: VouchError | undefined;
  // A Kubernetes ConfigMap/Secret volume: its bookkeeping entries are skipped and its links
  // followed (volume-layout.ts); the files they reach decide the fingerprint.
  const volume = await hasVolumeLayout(dir);
  for (const file of names) {
    if (volume && isVolumeBookkeeping(file)) continue;
    let fileInfo;
    let target: string | undefined = path.join(dir, file);
    try {
      fileInfo = await lstat(target, { bigint: true });
      if (volume && fileInfo.isSymbolicLink()) {
        target = await volumeFileTarget(dir, file);
        if (target !== undefined) fileInfo = await lstat(target, { bigint: true });
      }
    } catch {
      // Removed between readdir and lstat: the next call sees a new directory mtime.
      parts.push(`${file}:gone`);
      continue;
    }
    parts.push(`${file}:${target ?? ''}:${stamp(fileInfo)}`);
    // notation-go refuses directories and symlinks; other non-regular files (FIFOs, sockets, devices)
    // are refused too, where Go would try to read them.
    if (target === undefined || !fileInfo.isFile()) {
      problem ??= storeError(
        `trusted certificate ${file} in trust store ${name} of type ${type} is not a regular file (directories or symlinks are not supported)`,
      );
      continue;
    }
    files.push(file);
  }
  return { fingerprint: parts.join('|'), files, ...(problem !== undefined ? { error: problem } : {}) };
}

// notation's load: the first problem, else every certificate.
async function loadStore(
  dir: string,
  type: TrustStoreType,
  name: string,
  snapshot: Snapshot,
  signal: AbortSignal | undefined,
): Promise<CacheEntry['result']> {
  if (snapshot.error !== undefined) return { error: snapshot.error };
  const certificates: Certificate[] = [];
  for (const file of snapshot.files) {
    throwIfAborted(signal, `trust store ${type}:${name}`);
    const outcome = await readStoreFile(dir, file, type, name, signal);
    if ('error' in outcome) return outcome;
    certificates.push(...outcome.certificates);
  }
  if (certificates.length === 0) return { error: noCertificates(type, name) };
  return { certificates };
}

// One trusted certificate file with notation-go's checks (x509TrustStore.GetCertificates): readable,
// parseable, not empty, every certificate a CA or self-signed, and for `tsa` a root CA.
async function readStoreFile(
  dir: string,
  file: string,
  type: TrustStoreType,
  name: string,
  signal: AbortSignal | undefined,
): Promise<{ certificates: Certificate[] } | { error: VouchError }> {
  let certs: Certificate[];
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFile(path.join(dir, file), { signal });
    certs = readCertificateFile(bytes);
  } catch (error) {
    throwIfAborted(signal, `trust store ${type}:${name}`);
    return {
      error: storeError(
        `failed to read the trusted certificate ${file} in trust store ${name} of type ${type}: ${(error as Error).message}${bytes !== undefined ? noPemHint(bytes) : ''}`,
        error,
      ),
    };
  }
  if (certs.length === 0) {
    return {
      error: storeError(
        `failed to validate the trusted certificate ${file} in trust store ${name} of type ${type}: input certs cannot be empty`,
      ),
    };
  }
  const invalidCa = certs.find((cert) => !cert.isCA && !cert.isSignedBy(cert));
  if (invalidCa !== undefined) {
    return {
      error: storeError(
        `failed to validate the trusted certificate ${file} in trust store ${name} of type ${type}: certificate with subject ${q(goSubject(invalidCa))} is not a CA certificate or self-signed signing certificate`,
      ),
    };
  }
  // TSA certificates in a trust store must be root CA certificates.
  if (type === 'tsa') {
    for (const cert of certs) {
      const problem = rootCaProblem(cert);
      if (problem !== undefined) {
        return { error: storeError(`trusted certificate ${file} in trust store ${name} of type ${type} is invalid: ${problem}`) };
      }
    }
  }
  return { certificates: certs };
}

/**
 * Why a file that failed to parse failed, when it is text without a PEM block: such a file is then
 * read as DER (notation-core-go ReadCertificateFile), and "malformed certificate" alone does not say
 * that the likely fault is a missing or mangled "-----BEGIN CERTIFICATE-----" line.
 */
function noPemHint(bytes: Uint8Array): string {
  if (bytes.length === 0 || pemBlocks(bytes).length > 0) return '';
  const sample = bytes.subarray(0, 512);
  if (sample.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f))) {
    return ' (the file is text without a PEM block "-----BEGIN CERTIFICATE-----"; certificates must be PEM or DER)';
  }
  // A DER certificate starts with a SEQUENCE tag (0x30, X.690 §8.9.1).
  return bytes[0] === 0x30 ? '' : ' (no PEM block, and not DER)';
}

function noCertificates(type: TrustStoreType, name: string): VouchError {
  return storeError(`no x509 certificates were found in trust store ${q(name)} of type ${q(type)}`);
}

interface Snapshot {
  fingerprint: string;
  files: string[];
  error?: VouchError;
}

function sameResult(a: CacheEntry, b: CacheEntry): boolean {
  if ('error' in a.result || 'error' in b.result) {
    return 'error' in a.result && 'error' in b.result && a.result.error.message === b.result.error.message;
  }
  const x = a.result.certificates;
  const y = b.result.certificates;
  return x.length === y.length && x.every((cert, i) => cert.equals(y[i]!));
}

function stamp(info: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint; mode: bigint }): string {
  return `${info.ino}/${info.mode}/${info.size}/${info.mtimeNs}/${info.ctimeNs}`;
}

// Go's os.ReadDir sorts by name, byte-wise.
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const q = (value: string): string => JSON.stringify(value);

// notation-go's wording, then the directory looked for: the layout <root>/x509/<type>/<name> is the
// part a new user gets wrong (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/trust-store-trust-policy.md#trust-store).
function notFound(type: TrustStoreType, name: string, dir: string, cause: unknown): VouchError {
  return new VouchError('INVALID_CONFIG', `the trust store ${q(name)} of type ${q(type)} does not exist (no directory ${dir})`, {
    reason: TRUST_STORE_NOT_FOUND,
    cause,
  });
}

function storeError(message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_CONFIG', message, { reason: 'BAD_CONTENT', cause });
}

/** A DN as Go prints it (for message parity with notation-go), else as @peculiar/x509 does. */
function goName(raw: Uint8Array, fallback: string): string {
  try {
    return toGoNameString(raw);
  } catch {
    return fallback;
  }
}

function goSubject(cert: Certificate): string {
  return goName(cert.rawSubject, cert.subject);
}

/**
 * Go's isRootCACertificate: the certificate verifies as its own parent (x509 CheckSignatureFrom, which
 * also requires a v3 certificate to be a CA with keyCertSign when keyUsage is present, and refuses
 * SHA-1/MD5 signatures), and its raw issuer equals its raw subject.
 */
function rootCaProblem(cert: Certificate): string | undefined {
  const prefix = `certificate with subject ${q(goSubject(cert))} is not a root CA certificate`;
  const bc = cert.basicConstraints;
  const keyUsage = cert.keyUsage?.usages ?? 0;
  if (
    (cert.version === 3 && bc === undefined) ||
    (bc !== undefined && !bc.ca) ||
    (keyUsage !== 0 && (keyUsage & KEY_USAGE.keyCertSign) === 0)
  ) {
    return `${prefix}: x509: invalid signature: parent certificate cannot sign this kind of certificate`;
  }
  const hash = cert.signatureHash;
  if (hash === 'SHA-1' || hash === 'MD5' || hash === 'MD2') {
    const goHash = hash.replace('-', '');
    const algorithm = cert.publicKey.asymmetricKeyType === 'ec' ? `ECDSA-${goHash}` : `${goHash}-RSA`;
    return `${prefix}: x509: cannot verify signature: insecure algorithm ${algorithm}`;
  }
  if (!cert.isSignedBy(cert)) return `${prefix}: x509: signature verification failed`;
  if (!Buffer.from(cert.rawIssuer).equals(Buffer.from(cert.rawSubject))) {
    return `${prefix}: issuer (${goIssuer(cert)}) and subject (${goSubject(cert)}) are not the same`;
  }
  return undefined;
}

function goIssuer(cert: Certificate): string {
  return goName(cert.rawIssuer, cert.issuer);
}

/**
 * notation-core-go ReadCertificateFile: if the bytes hold a PEM block, every PEM block (whatever its
 * type) must be a certificate; otherwise the bytes are zero or more concatenated DER certificates.
 * Throws Error when one does not parse; an empty file yields no certificates (the caller rejects that).
 */
export function readCertificateFile(bytes: Uint8Array): Certificate[] {
  const blocks = pemBlocks(bytes);
  const ders: { der: Uint8Array; element?: DerElement }[] = [];
  if (blocks.length > 0) {
    ders.push(...blocks.map((der) => ({ der })));
  } else {
    for (let offset = 0; offset < bytes.length;) {
      const der = bytes.subarray(offset);
      const element = firstDerElement(der);
      ders.push({ der: der.subarray(0, element.length), element });
      offset += element.length;
    }
  }
  return ders.map(({ der, element = firstDerElement(der) }, i) => {
    if (!element.sequence) throw new Error('x509: malformed certificate');
    if (element.length !== der.length) throw new Error('x509: trailing data');
    return Certificate.fromDer(der, `certificate ${i + 1}`);
  });
}

/** The first ASN.1 element of some bytes as asn1js decodes it: its encoded length and whether it is a SEQUENCE. */
interface DerElement {
  length: number;
  sequence: boolean;
}

/** Decodes the element at the start of `bytes` with asn1js (definite lengths only, as DER requires); trailing bytes are left alone. */
function firstDerElement(bytes: Uint8Array): DerElement {
  let decoded: asn1js.FromBerResult;
  try {
    decoded = asn1js.fromBER(bytes, { copyInput: false, parseEmbedded: false });
  } catch (error) {
    throw new Error(`x509: malformed certificate (${(error as Error).message})`);
  }
  const { offset, result } = decoded;
  if (offset === -1 || result.error !== '') {
    throw new Error(`x509: malformed certificate (${result.error || 'not DER'})`);
  }
  const { idBlock, lenBlock } = result;
  if (lenBlock.isIndefiniteForm) throw new Error('x509: malformed certificate (DER: indefinite length)');
  // asn1js lets an inner element run past the end of its parent; DER framing does not.
  if (offset !== idBlock.blockLength + lenBlock.blockLength + lenBlock.length) {
    throw new Error('x509: malformed certificate (DER: an element runs past the end of its parent)');
  }
  return { length: offset, sequence: result instanceof asn1js.Sequence && idBlock.isConstructed };
}

// encoding/pem.Decode, repeated: "-----BEGIN <type>-----" at the start of the data or of a line, optional
// "Key: value" headers ended by a blank line, base64 body, "-----END <type>-----". Malformed blocks are
// skipped, as Go skips them.
function pemBlocks(bytes: Uint8Array): Uint8Array[] {
  const text = Buffer.from(bytes).toString('latin1');
  const blocks: Uint8Array[] = [];
  const begin = /(?:^|\n)-----BEGIN ([^\r\n]*)-----[ \t]*\r?\n/g;
  let match: RegExpExecArray | null;
  while ((match = begin.exec(text)) !== null) {
    const type = match[1]!;
    const bodyStart = begin.lastIndex;
    const endMarker = `-----END ${type}-----`;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt === -1) continue;
    let body = text.slice(bodyStart, endAt);
    // Headers: lines with a colon before the first blank line.
    if (/^[^\r\n]*:/.test(body)) {
      const blank = body.search(/\r?\n\r?\n/);
      if (blank === -1) continue;
      body = body.slice(blank).replace(/^\r?\n\r?\n/, '');
    }
    const compact = body.replace(/[ \t\r\n]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) continue;
    blocks.push(Buffer.from(compact, 'base64'));
    begin.lastIndex = endAt + endMarker.length;
  }
  return blocks;
}

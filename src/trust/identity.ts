// Trusted identities of a Notary Project trust policy statement (trust-store-trust-policy.md
// "Trusted Identities Constraints") with notation-go's exact rules: `x509.subject:` values are RFC 4514
// DNs parsed the way go-ldap's ParseDN does (internal/pkix.ParseDistinguishedName), and a signing
// certificate's subject is seen through Go's pkix.Name.String() before it is parsed the same way
// (verifier.verifyX509TrustedIdentities). Matching is a subset test on attribute type → value maps.

import * as asn1js from 'asn1js';
import { VouchError } from '../core/index.js';
import type { Certificate } from './certificate.js';

/** The only identity prefix notation-go understands natively. */
export const X509_SUBJECT_PREFIX = 'x509.subject';

/** The wildcard identity: any signer the trust stores vouch for. */
export const WILDCARD_IDENTITY = '*';

/** A parsed `x509.subject:` trusted identity. */
export interface DistinguishedName {
  /** The identity exactly as written in the policy, prefix included: `x509.subject: C=US, ST=WA, O=Acme`. */
  identity: string;
  /** The DN text after the first `:` (leading spaces kept, as notation-go quotes it in messages). */
  dn: string;
  /** Attribute type → unescaped value; `S` is normalised to `ST`. Types are case-sensitive, as in notation-go. */
  attributes: ReadonlyMap<string, string>;
}

/** The identity-related part of a trust policy statement. */
export interface IdentityConstraints {
  name: string;
  /** True when trustedIdentities is `["*"]`. */
  anyIdentity: boolean;
  x509Subjects: readonly DistinguishedName[];
}

const MANDATORY_ATTRIBUTES = ['C', 'ST', 'O'] as const;

function dnError(message: string, cause?: unknown): VouchError {
  return new VouchError('INVALID_CONFIG', message, { reason: 'BAD_CONTENT', cause });
}

/**
 * Parses a DN with notation-go's rules (internal/pkix.ParseDistinguishedName): no `=#` anywhere, RFC 4514
 * syntax as go-ldap reads it, no multi-valued RDNs, no repeated attribute type (`S` counts as `ST`), and
 * non-empty C, ST and O. Throws VouchError INVALID_CONFIG / BAD_CONTENT with notation-go's message.
 */
export function parseDistinguishedName(name: string): Map<string, string> {
  if (name.includes('=#')) {
    throw dnError(
      `unsupported distinguished name (DN) ${goQuote(name)}: notation does not support x509.subject identities containing "=#"`,
    );
  }
  let rdns: LdapAttribute[][];
  try {
    rdns = parseLdapDN(name);
  } catch (error) {
    throw dnError(
      `parsing distinguished name (DN) ${goQuote(name)} failed with err: ${(error as Error).message}. A valid DN must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum, and follow RFC 4514 standard`,
      error,
    );
  }
  const attributes = new Map<string, string>();
  for (const rdn of rdns) {
    if (rdn.length > 1) {
      throw dnError(
        `distinguished name (DN) ${goQuote(name)} has multi-valued RDN attributes, remove multi-valued RDN attributes as they are not supported`,
      );
    }
    for (const attribute of rdn) {
      // stateOrProvinceName: `S` is an alias for `ST` (case-sensitive, as in notation-go).
      const type = attribute.type === 'S' ? 'ST' : attribute.type;
      // notation-go tests the stored value for "", so an attribute first seen with an empty value may repeat.
      if ((attributes.get(type) ?? '') !== '') {
        throw dnError(
          `distinguished name (DN) ${goQuote(name)} has duplicate RDN attribute for ${goQuote(type)}, DN can only have unique RDN attributes`,
        );
      }
      attributes.set(type, attribute.value);
    }
  }
  for (const field of MANDATORY_ATTRIBUTES) {
    if ((attributes.get(field) ?? '') === '') {
      throw dnError(
        `distinguished name (DN) ${goQuote(name)} has no mandatory RDN attribute for ${goQuote(field)}, it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum`,
      );
    }
  }
  return attributes;
}

/**
 * True when every attribute of `subset` has an equal value in `superset` (notation-go pkix.IsSubsetDN).
 * As in Go, a missing attribute reads as "", so an empty-valued attribute in `subset` matches its absence.
 */
export function isSubsetDN(subset: ReadonlyMap<string, string>, superset: ReadonlyMap<string, string>): boolean {
  for (const [type, value] of subset) {
    if ((superset.get(type) ?? '') !== value) return false;
  }
  return true;
}

/**
 * The first pair (i ≠ j, in notation-go's loop order) where identity i's attributes are a subset of identity
 * j's, or undefined. Such a pair makes the statement invalid: the narrower identity would be redundant.
 */
export function findOverlappingIdentities(dns: readonly DistinguishedName[]): [DistinguishedName, DistinguishedName] | undefined {
  for (let i = 0; i < dns.length; i++) {
    for (let j = 0; j < dns.length; j++) {
      if (i !== j && isSubsetDN(dns[i]!.attributes, dns[j]!.attributes)) return [dns[i]!, dns[j]!];
    }
  }
  return undefined;
}

/**
 * The signing certificate's subject as notation-go sees it: Go's `Subject.String()` parsed with the same
 * DN rules as policy identities. Throws VouchError INVALID_INPUT / BAD_CONTENT when Go could not use it
 * (an attribute Go prints as `OID=#hex` such as emailAddress, two values of one type, C/ST/O missing, …).
 */
export function leafSubjectAttributes(leaf: Certificate): Map<string, string> {
  return new Map(sharedLeafSubjectAttributes(leaf));
}

/** leafSubjectAttributes without the copy, for callers here that only read it. */
function sharedLeafSubjectAttributes(leaf: Certificate): ReadonlyMap<string, string> {
  // Certificates are immutable and reused through the engine's certificate cache (Certificate.fromDer):
  // parse each subject once. A weak map: the memo lives exactly as long as its certificate.
  let outcome = subjectAttributeCache.get(leaf);
  if (outcome === undefined) {
    try {
      outcome = { attributes: parseLeafSubject(leaf) };
    } catch (error) {
      outcome = { error };
    }
    subjectAttributeCache.set(leaf, outcome);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.attributes;
}

const subjectAttributeCache = new WeakMap<Certificate, { attributes: Map<string, string> } | { error: unknown }>();

function parseLeafSubject(leaf: Certificate): Map<string, string> {
  let subject: string;
  try {
    subject = toGoNameString(leaf.rawSubject);
  } catch (error) {
    throw new VouchError('INVALID_INPUT', `the certificate subject could not be read: ${(error as Error).message}`, {
      reason: 'BAD_CONTENT',
      cause: error,
    });
  }
  try {
    return parseDistinguishedName(subject);
  } catch (error) {
    throw new VouchError(
      'INVALID_INPUT',
      `error while parsing the certificate subject from the digital signature. error : ${(error as Error).message}`,
      { reason: 'BAD_CONTENT', cause: error },
    );
  }
}

/**
 * Checks the leaf certificate against a statement's trusted identities (notation-go
 * verifyX509TrustedIdentities). Returns undefined when trusted, otherwise notation-go's failure message.
 * Identities with prefixes other than `x509.subject` are ignored; if none is left, nothing matches.
 */
export function verifyTrustedIdentities(statement: IdentityConstraints, leaf: Certificate): string | undefined {
  if (statement.anyIdentity) return undefined;
  if (statement.x509Subjects.length === 0) {
    return `no x509 trusted identities are configured in the trust policy ${goQuote(statement.name)}`;
  }
  let leafAttributes: ReadonlyMap<string, string>;
  try {
    leafAttributes = sharedLeafSubjectAttributes(leaf);
  } catch (error) {
    return (error as Error).message;
  }
  if (statement.x509Subjects.some((dn) => isSubsetDN(dn.attributes, leafAttributes))) return undefined;
  return `signing certificate from the digital signature does not match the X.509 trusted identities ${formatIdentityMaps(statement.x509Subjects)} defined in the trust policy ${goQuote(statement.name)}`;
}

/** True when the leaf certificate satisfies the statement's trusted identities ('*' matches every leaf). */
export function matchesTrustedIdentities(statement: IdentityConstraints, leaf: Certificate): boolean {
  return verifyTrustedIdentities(statement, leaf) === undefined;
}

/** A subject attribute Go keeps one value of, which a certificate gives several times. */
export interface CollapsedSubjectAttribute {
  /** As Go prints it: `CN` or `SERIALNUMBER`. */
  type: string;
  /** Every value, in certificate (DER) order. */
  values: string[];
  /** The value identity matching compared: the last one, as Go keeps it. */
  compared: string;
}

/** Attributes that Go's pkix.Name holds in a single field, keeping the last value (FillFromRDNSequence). */
const SINGLE_VALUED_TYPES: Readonly<Record<string, string>> = { '2.5.4.3': 'CN', '2.5.4.5': 'SERIALNUMBER' };

/**
 * The attributes of the leaf subject that a matching `x509.subject` identity names although the
 * certificate carries several values of them. Go's pkix.Name keeps only the last CommonName and
 * SerialNumber, so notation-go, and vouch for parity, compare that one: a leaf issued with `CN=dev`
 * and `CN=release` matches an identity `CN=release`. Callers log such a match, since the issuing CA
 * may have meant the other value. Empty for `*`, when no identity matched, or when the subject
 * cannot be read (the identity check itself reports that).
 */
export function collapsedIdentityAttributes(statement: IdentityConstraints, leaf: Certificate): CollapsedSubjectAttribute[] {
  if (statement.anyIdentity) return [];
  // Per certificate, once (as the subject attributes above): this runs on every verification.
  let collapsed = collapsedAttributeCache.get(leaf);
  if (collapsed === undefined) {
    collapsed = collapsedSubjectAttributes(leaf);
    collapsedAttributeCache.set(leaf, collapsed);
  }
  if (collapsed.length === 0) return [];
  let leafAttributes: ReadonlyMap<string, string>;
  try {
    leafAttributes = sharedLeafSubjectAttributes(leaf);
  } catch {
    return [];
  }
  const matched = statement.x509Subjects.filter((dn) => isSubsetDN(dn.attributes, leafAttributes));
  return collapsed
    .filter((attribute) => matched.some((dn) => dn.attributes.has(attribute.type)))
    .map((attribute) => ({ ...attribute, values: [...attribute.values] }));
}

const collapsedAttributeCache = new WeakMap<Certificate, readonly CollapsedSubjectAttribute[]>();

/** The single-valued attributes (CN, SERIALNUMBER) the leaf subject gives several times; none when it cannot be read. */
function collapsedSubjectAttributes(leaf: Certificate): readonly CollapsedSubjectAttribute[] {
  try {
    const names = parseNameAttributes(leaf.rawSubject);
    return Object.entries(SINGLE_VALUED_TYPES).flatMap(([oid, type]) => {
      const values = names.filter((atv) => atv.oid === oid).map((atv) => atv.value);
      return values.length > 1 ? [{ type, values, compared: values.at(-1)! }] : [];
    });
  } catch {
    return [];
  }
}

/** Go's `%q` of a []map[string]string: `[map["C":"US" "O":"Acme"] …]`, keys sorted. For message parity. */
export function formatIdentityMaps(dns: readonly DistinguishedName[]): string {
  const maps = dns.map((dn) => {
    const keys = [...dn.attributes.keys()].sort(compareGoStrings);
    return `map[${keys.map((k) => `${goQuote(k)}:${goQuote(dn.attributes.get(k)!)}`).join(' ')}]`;
  });
  return `[${maps.join(' ')}]`;
}

function compareGoStrings(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/** Go's `%q` for a string (strconv.Quote), close enough for messages: JSON escaping of a UTF-8 string. */
export function goQuote(value: string): string {
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------
// go-ldap v3 ParseDN (the version notation-go uses), ported byte-for-byte in behaviour: RDNs separated
// by unescaped `,` or `;`, multi-valued RDNs joined with `+`, types and values trimmed of unescaped
// spaces and unescaped (`\` + special character, or `\XX` hex). Unescaped `"` and other characters
// RFC 4514 wants escaped are accepted, as go-ldap did.

interface LdapAttribute {
  type: string;
  value: string;
}

/** go-ldap's ParseDN. Returns RDNs (each a list of attributes); throws Error with go-ldap's message. */
function parseLdapDN(str: string): LdapAttribute[][] {
  const rdns: LdapAttribute[][] = [];
  if (isGoSpaceOnly(str)) return rdns;

  let rdn: LdapAttribute[] = [];
  let attr: LdapAttribute = { type: '', value: '' };
  let escaping = false;
  let startPos = 0;
  const appendAttribute = (end: boolean): void => {
    rdn.push(attr);
    attr = { type: '', value: '' };
    if (end) {
      rdns.push(rdn);
      rdn = [];
    }
  };

  // Delimiters are ASCII, so walking UTF-16 code units finds the same positions Go finds walking bytes.
  for (let i = 0; i < str.length; i++) {
    const char = str[i];
    if (escaping) {
      escaping = false;
    } else if (char === '\\') {
      escaping = true;
    } else if (char === '=' && attr.type.length === 0) {
      attr.type = decodeLdapString(str.slice(startPos, i));
      startPos = i + 1;
    } else if (char === ',' || char === '+' || char === ';') {
      if (attr.type.length === 0) throw new Error('incomplete type, value pair');
      attr.value = decodeLdapValue(str.slice(startPos, i));
      startPos = i + 1;
      appendAttribute(char !== '+');
    }
  }
  if (attr.type.length === 0) throw new Error('DN ended with incomplete type, value pair');
  attr.value = decodeLdapValue(str.slice(startPos));
  appendAttribute(true);
  return rdns;
}

function decodeLdapValue(raw: string): string {
  // RFC 4514 §2.4 `#hex` BER values. notation-go rejects "=#" before parsing, so this never runs for
  // identities; go-ldap would decode the BER, which we do not support.
  if (raw.startsWith('#')) throw new Error('failed to decode BER encoding: hex-encoded values are not supported');
  return decodeLdapString(raw);
}

const LDAP_SPECIAL = new Set([' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\']);

/** go-ldap's decodeString: trim unescaped spaces, then unescape `\c` and `\XX`. */
function decodeLdapString(raw: string): string {
  let trimmed = raw.replace(/^ +/, '').replace(/ +$/, '');
  // Re-add the trailing space if it was escaped (go-ldap checks only the last character before it).
  if (trimmed.length > 0 && trimmed.endsWith('\\') && raw.endsWith(' ')) trimmed += ' ';

  const s = Array.from(trimmed); // runes
  const bytes: number[] = [];
  const pushRune = (rune: string): void => {
    for (const b of Buffer.from(rune, 'utf8')) bytes.push(b);
  };
  for (let i = 0; i < s.length; i++) {
    const char = s[i]!;
    if (char !== '\\') {
      pushRune(char);
      continue;
    }
    if (i + 1 >= s.length) throw new Error(`got corrupted escaped character: '${s.join('')}'`);
    const next = s[i + 1]!;
    if (LDAP_SPECIAL.has(next)) {
      pushRune(next);
      i++;
      continue;
    }
    if (i + 2 >= s.length) throw new Error(`failed to decode escaped character: encoding/hex: invalid byte: ${next}`);
    const pair = s[i + 1]! + s[i + 2]!;
    if (Buffer.byteLength(pair, 'utf8') !== 2) throw new Error(`failed to decode escaped character: invalid byte: ${pair}`);
    for (const c of pair) {
      if (!/^[0-9a-fA-F]$/.test(c)) {
        const code = c.codePointAt(0)!;
        // Go's %#U: the quoted character only when it is printable.
        const shown = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c) ? ` '${c}'` : '';
        throw new Error(
          `failed to decode escaped character: encoding/hex: invalid byte: U+${code.toString(16).toUpperCase().padStart(4, '0')}${shown}`,
        );
      }
    }
    bytes.push(parseInt(pair, 16));
    i += 2;
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}

// Go's unicode.IsSpace, used by strings.TrimSpace.
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

function isGoSpaceOnly(value: string): boolean {
  return GO_SPACE.test(value);
}

// ---------------------------------------------------------------------------------------------------
// Go's pkix.Name.String() for a DER Name, as crypto/x509 parses it and prints it: C, ST, L, STREET,
// POSTALCODE, O and OU grouped per type into one RDN each (so two OUs become "OU=a+OU=b"), the last CN
// and SERIALNUMBER, every other attribute as "OID=#<hex DER>", all in reverse order.

const ATTRIBUTE_TYPE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.6': 'C',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.17': 'POSTALCODE',
};

// Multi-valued groups in pkix.Name.ToRDNSequence order (before reversal).
const GROUPED_TYPES = ['2.5.4.6', '2.5.4.8', '2.5.4.7', '2.5.4.9', '2.5.4.17', '2.5.4.10', '2.5.4.11'] as const;

interface NameAttribute {
  oid: string;
  value: string;
}

/**
 * Go's `pkix.Name.String()` for a DER-encoded Name (a certificate's raw subject or issuer). Throws Error
 * for names crypto/x509 itself would refuse (attribute values that are not one of its string types).
 */
export function toGoNameString(der: Uint8Array): string {
  const names = parseNameAttributes(der);

  const rdns: NameAttribute[][] = [];
  // Attributes without a named field come first, so they print last.
  for (const atv of names) {
    if (!(atv.oid in ATTRIBUTE_TYPE_NAMES)) rdns.push([atv]);
  }
  for (const oid of GROUPED_TYPES) {
    const values = names.filter((atv) => atv.oid === oid);
    if (values.length > 0) rdns.push(values);
  }
  // CommonName and SerialNumber are single-valued fields in Go: the last one wins; empty is omitted.
  for (const oid of ['2.5.4.3', '2.5.4.5']) {
    const last = names.filter((atv) => atv.oid === oid).at(-1);
    if (last !== undefined && last.value.length > 0) rdns.push([last]);
  }

  return rdns
    .reverse()
    .map((rdn) => rdn.map(formatGoAttribute).join('+'))
    .join(',');
}

function formatGoAttribute(atv: NameAttribute): string {
  const typeName = ATTRIBUTE_TYPE_NAMES[atv.oid];
  if (typeName === undefined) return `${atv.oid}=#${Buffer.from(marshalGoString(atv.value)).toString('hex')}`;
  const chars = Array.from(atv.value);
  const byteLength = Buffer.byteLength(atv.value, 'utf8');
  let offset = 0;
  let escaped = '';
  for (const c of chars) {
    let escape = false;
    if (',+"\\<>;'.includes(c)) escape = true;
    else if (c === ' ') escape = offset === 0 || offset === byteLength - 1;
    else if (c === '#') escape = offset === 0;
    escaped += escape ? `\\${c}` : c;
    offset += Buffer.byteLength(c, 'utf8');
  }
  return `${typeName}=${escaped}`;
}

/** encoding/asn1.Marshal of a Go string: PrintableString when its characters allow, else UTF8String. */
function marshalGoString(value: string): Uint8Array {
  const printable = /^[a-zA-Z0-9'()+,\-./:=? ]*$/.test(value);
  const element = printable ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value });
  return new Uint8Array(element.toBER());
}

/**
 * The attributes of a DER Name in order (its structure decoded by asn1js), values decoded as crypto/x509's
 * parseASN1String does. Like crypto/x509's parseName, bytes after the Name and elements after an
 * attribute's value are ignored (asn1js still has to be able to decode them).
 */
function parseNameAttributes(der: Uint8Array): NameAttribute[] {
  let decoded: asn1js.FromBerResult;
  try {
    decoded = asn1js.fromBER(der, { parseEmbedded: false });
  } catch (error) {
    throw new Error(`x509: invalid RDNSequence: ${(error as Error).message}`);
  }
  if (decoded.offset === -1 || decoded.result.error !== '') {
    throw new Error(`x509: invalid RDNSequence: ${decoded.result.error || 'not DER'}`);
  }
  const name = definite(decoded.result);
  if (!(name instanceof asn1js.Sequence) || !name.idBlock.isConstructed) throw new Error('x509: invalid RDNSequence');
  const attributes: NameAttribute[] = [];
  for (const set of name.valueBlock.value) {
    if (!(definite(set) instanceof asn1js.Set) || !set.idBlock.isConstructed) {
      throw new Error('x509: invalid RDNSequence: invalid attribute set');
    }
    for (const atv of (set as asn1js.Set).valueBlock.value) {
      if (!(definite(atv) instanceof asn1js.Sequence) || !atv.idBlock.isConstructed) {
        throw new Error('x509: invalid RDNSequence: invalid attribute');
      }
      const [oid, value] = (atv as asn1js.Sequence).valueBlock.value;
      if (!(oid instanceof asn1js.ObjectIdentifier) || definite(oid).idBlock.isConstructed) {
        throw new Error('x509: invalid RDNSequence: invalid attribute type');
      }
      if (value === undefined) throw new Error('x509: invalid RDNSequence: invalid attribute value');
      const { idBlock, lenBlock, valueBeforeDecodeView } = definite(value);
      attributes.push({
        oid: oid.getValue(),
        value: decodeAsn1String(identifierOctet(idBlock), valueBeforeDecodeView.subarray(idBlock.blockLength + lenBlock.blockLength)),
      });
    }
  }
  return attributes;
}

/**
 * DER framing asn1js does not enforce: a definite length, and an encoding exactly as long as the length
 * octets say (asn1js lets a child run past the end of its parent and grows the parent instead).
 */
function definite<T extends asn1js.BaseBlock>(element: T): T {
  const { idBlock, lenBlock, valueBeforeDecodeView } = element;
  if (lenBlock.isIndefiniteForm) throw new Error('DER: indefinite length');
  if (valueBeforeDecodeView.length !== idBlock.blockLength + lenBlock.blockLength + lenBlock.length) {
    throw new Error('DER: an element runs past the end of its parent');
  }
  return element;
}

/** The identifier octet of an asn1js element (Go's cryptobyte asn1.Tag): class, constructed bit, low tag number. */
function identifierOctet(idBlock: asn1js.BaseBlock['idBlock']): number {
  return ((idBlock.tagClass - 1) << 6) | (idBlock.isConstructed ? 0x20 : 0) | Math.min(idBlock.tagNumber, 0x1f);
}

// crypto/x509 parseASN1String: the string types Go accepts in names, with its validity checks.
function decodeAsn1String(tag: number, content: Uint8Array): string {
  switch (tag) {
    case 0x14: // T61String: Go keeps the raw bytes
      return new TextDecoder('utf-8').decode(content);
    case 0x13: // PrintableString
      for (const b of content) {
        if (!isGoPrintable(b)) throw new Error('x509: invalid RDNSequence: invalid attribute value: invalid PrintableString');
      }
      return Buffer.from(content).toString('latin1');
    case 0x0c: // UTF8String
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(content);
      } catch {
        throw new Error('x509: invalid RDNSequence: invalid attribute value: invalid UTF-8 string');
      }
    case 0x1e: {
      // BMPString (UTF-16BE); Go drops one trailing NUL.
      if (content.length % 2 !== 0) throw new Error('x509: invalid RDNSequence: invalid attribute value: invalid BMPString');
      let units = content;
      if (units.length >= 2 && units[units.length - 1] === 0 && units[units.length - 2] === 0) units = units.subarray(0, -2);
      // utf16.Decode: a lone surrogate becomes U+FFFD.
      const codes: number[] = [];
      for (let i = 0; i < units.length; i += 2) codes.push((units[i]! << 8) | units[i + 1]!);
      let out = '';
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i]!;
        const next = codes[i + 1];
        if (c >= 0xd800 && c < 0xdc00 && next !== undefined && next >= 0xdc00 && next < 0xe000) {
          out += String.fromCharCode(c, next);
          i++;
        } else if (c >= 0xd800 && c < 0xe000) out += '\ufffd';
        else out += String.fromCharCode(c);
      }
      return out;
    }
    case 0x16: // IA5String
      for (const b of content) {
        if (b > 0x7f) throw new Error('x509: invalid RDNSequence: invalid attribute value: invalid IA5String');
      }
      return Buffer.from(content).toString('latin1');
    case 0x12: // NumericString
      for (const b of content) {
        if (!(b === 0x20 || (b >= 0x30 && b <= 0x39))) {
          throw new Error('x509: invalid RDNSequence: invalid attribute value: invalid NumericString');
        }
      }
      return Buffer.from(content).toString('latin1');
    default:
      throw new Error(`x509: invalid RDNSequence: invalid attribute value: unsupported string type: ${tag}`);
  }
}

function isGoPrintable(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x30 && b <= 0x39) || // 0-9
    (b >= 0x27 && b <= 0x29) || // ' ( )
    (b >= 0x2b && b <= 0x2f) || // + , - . /
    b === 0x20 ||
    b === 0x3a || // :
    b === 0x3d || // =
    b === 0x3f || // ?
    b === 0x2a || // * (accepted when parsing)
    b === 0x26 // & (accepted when parsing)
  );
}

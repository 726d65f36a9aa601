// Decoding trust policy JSON as Go's encoding/json does into notation-go's structs: only the first JSON value is read
// (trailing bytes are ignored), object keys match field names case-insensitively, unknown fields are
// ignored, `null` leaves strings/bools unchanged and empties slices and maps, a value of the wrong JSON
// type anywhere in a known field makes the document malformed, and repeated keys decode again into the
// same field (maps and structs merge, the rest is replaced).
// notation-go reads policies with encoding/json (verifier/trustpolicy), so vouch accepts and refuses
// the same documents: https://pkg.go.dev/encoding/json#Unmarshal

import { lineColumn } from '../core/index.js';

export interface RawSignatureVerification {
  level: string;
  override: Record<string, string>;
  verifyTimestamp: string;
}

export interface RawStatement {
  name: string;
  registryScopes: string[];
  signatureVerification: RawSignatureVerification;
  trustStores: string[];
  trustedIdentities: string[];
  globalPolicy: boolean;
}

export interface RawDocument {
  version: string;
  statements: RawStatement[];
}

/** Deepest nesting of arrays and objects read; a trust policy nests 4 levels. */
export const MAX_JSON_DEPTH = 1000;

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
interface JsonNumber {
  number: string;
}
interface JsonObject {
  /** Members in document order, repeated keys included. */
  members: Array<[string, JsonValue]>;
}

/**
 * Reads the first JSON value of `text` (RFC 8259, strictly), ignoring what follows, as Go's
 * json.Decoder.Decode does. Throws an Error with Go's message for malformed JSON.
 */
export function readFirstJsonValue(text: string): JsonValue {
  return new JsonReader(text).readFirstValue();
}

/**
 * Fills notation-go's policy structs from `value` as encoding/json would. `typeError` is Go's
 * message for the first value of the wrong JSON type in a known field (the document is then malformed).
 */
export function decodeTrustPolicyDocument(
  value: JsonValue,
  kind: 'oci' | 'blob',
): { document: RawDocument; typeError: string | undefined } {
  const decoder = new GoStructDecoder(kind);
  const document = decoder.document(value);
  return { document, typeError: decoder.typeError };
}

const isObject = (value: JsonValue): value is JsonObject => typeof value === 'object' && value !== null && 'members' in value;
const jsonKind = (value: JsonValue): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : isObject(value)
        ? 'object'
        : typeof value === 'object'
          ? 'number'
          : typeof value;

/** Go's field-name matching: exact, else case-insensitive (with Go's two non-ASCII folds onto ASCII). */
function fieldKey(key: string): string {
  return key
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();
}

class GoStructDecoder {
  typeError: string | undefined;

  constructor(private readonly kind: 'oci' | 'blob') {}

  private mismatch(field: string, value: JsonValue, want: string): void {
    this.typeError ??= `cannot unmarshal ${jsonKind(value)} into field ${field} of type ${want}`;
  }

  document(value: JsonValue): RawDocument {
    const doc: RawDocument = { version: '', statements: [] };
    if (value === null) return doc;
    if (!isObject(value)) {
      this.mismatch('(document)', value, 'object');
      return doc;
    }
    for (const [key, member] of value.members) {
      const field = fieldKey(key);
      if (field === 'version') doc.version = this.string('version', member, doc.version);
      else if (field === 'trustpolicies') doc.statements = this.statements(member, doc.statements);
    }
    return doc;
  }

  private statements(value: JsonValue, current: RawStatement[]): RawStatement[] {
    if (value === null) return [];
    if (!Array.isArray(value)) {
      this.mismatch('trustPolicies', value, 'array');
      return current;
    }
    return value.map((element) => this.statement(element));
  }

  private statement(value: JsonValue): RawStatement {
    const statement: RawStatement = {
      name: '',
      registryScopes: [],
      signatureVerification: { level: '', override: {}, verifyTimestamp: '' },
      trustStores: [],
      trustedIdentities: [],
      globalPolicy: false,
    };
    if (value === null) return statement;
    if (!isObject(value)) {
      this.mismatch('trustPolicies', value, 'object');
      return statement;
    }
    for (const [key, member] of value.members) {
      switch (fieldKey(key)) {
        case 'name':
          statement.name = this.string('name', member, statement.name);
          break;
        case 'registryscopes':
          if (this.kind === 'oci') statement.registryScopes = this.strings('registryScopes', member, statement.registryScopes);
          break;
        case 'signatureverification':
          this.signatureVerification(member, statement.signatureVerification);
          break;
        case 'truststores':
          statement.trustStores = this.strings('trustStores', member, statement.trustStores);
          break;
        case 'trustedidentities':
          statement.trustedIdentities = this.strings('trustedIdentities', member, statement.trustedIdentities);
          break;
        case 'globalpolicy':
          if (this.kind === 'blob') statement.globalPolicy = this.boolean('globalPolicy', member, statement.globalPolicy);
          break;
      }
    }
    return statement;
  }

  private signatureVerification(value: JsonValue, target: RawSignatureVerification): void {
    if (value === null) return;
    if (!isObject(value)) {
      this.mismatch('signatureVerification', value, 'object');
      return;
    }
    for (const [key, member] of value.members) {
      switch (fieldKey(key)) {
        case 'level':
          target.level = this.string('level', member, target.level);
          break;
        case 'override':
          target.override = this.stringMap('override', member, target.override);
          break;
        case 'verifytimestamp':
          target.verifyTimestamp = this.string('verifyTimestamp', member, target.verifyTimestamp);
          break;
      }
    }
  }

  private string(field: string, value: JsonValue, current: string): string {
    if (value === null) return current;
    if (typeof value !== 'string') {
      this.mismatch(field, value, 'string');
      return current;
    }
    return value;
  }

  private boolean(field: string, value: JsonValue, current: boolean): boolean {
    if (value === null) return current;
    if (typeof value !== 'boolean') {
      this.mismatch(field, value, 'bool');
      return current;
    }
    return value;
  }

  private strings(field: string, value: JsonValue, current: string[]): string[] {
    if (value === null) return [];
    if (!Array.isArray(value)) {
      this.mismatch(field, value, '[]string');
      return current;
    }
    return value.map((element) => this.string(field, element, ''));
  }

  private stringMap(field: string, value: JsonValue, current: Record<string, string>): Record<string, string> {
    if (value === null) return {};
    if (!isObject(value)) {
      this.mismatch(field, value, 'map[string]string');
      return current;
    }
    // Go decodes into the existing map, so a repeated "override" merges.
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    Object.assign(map, current);
    for (const [key, member] of value.members) {
      map[key] = this.string(field, member, '');
    }
    return map;
  }
}

/**
 * A JSON syntax error with Go's wording and where it is: an editor goes to a line and column, not to
 * a byte offset. Both are 1-based, the column in UTF-16 units, as the config file's errors
 * (core's lineColumn).
 */
export class JsonSyntaxFailure extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, text: string, offset: number) {
    super(message);
    this.name = 'JsonSyntaxFailure';
    const { line, column } = lineColumn(text, offset);
    this.line = line;
    this.column = column;
  }
}

/** A strict RFC 8259 reader that stops after the first value, as Go's json.Decoder.Decode does. */
class JsonReader {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  readFirstValue(): JsonValue {
    this.skipWhitespace();
    if (this.pos >= this.text.length) throw new JsonSyntaxFailure('unexpected end of JSON input', this.text, this.pos);
    return this.value();
  }

  private fail(what: string): never {
    if (this.pos >= this.text.length) throw new JsonSyntaxFailure('unexpected end of JSON input', this.text, this.pos);
    throw new JsonSyntaxFailure(
      `invalid character ${JSON.stringify(this.text[this.pos])} ${what} at offset ${this.pos}`,
      this.text,
      this.pos,
    );
  }

  private skipWhitespace(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else break;
    }
  }

  private value(): JsonValue {
    const c = this.text[this.pos];
    switch (c) {
      case '{':
      case '[': {
        // Go's scanner refuses nesting deeper than 10000 ("exceeded max depth"); this reader recurses,
        // so it stops far earlier: relying on a caught stack overflow can abort node instead (found by fuzzing).
        if (++this.depth > MAX_JSON_DEPTH) throw new JsonSyntaxFailure('exceeded max depth', this.text, this.pos);
        const result = c === '{' ? this.object() : this.array();
        this.depth--;
        return result;
      }
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail('looking for beginning of value');
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    for (const expected of word) {
      if (this.text[this.pos] !== expected) this.fail(`in literal ${word} (expecting ${JSON.stringify(expected)})`);
      this.pos++;
    }
    return value;
  }

  private number(): JsonNumber {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos));
    if (match === null || match[0] === '' || match[0] === '-') this.fail('in numeric literal');
    this.pos += match![0].length;
    return { number: match![0] };
  }

  private string(): string {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('in string literal');
      const c = this.text[this.pos]!;
      const code = c.charCodeAt(0);
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (code < 0x20) this.fail('in string literal');
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const e = this.text[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const unit = this.hex4();
          if (unit >= 0xd800 && unit < 0xdc00 && this.text.startsWith('\\u', this.pos)) {
            const save = this.pos;
            this.pos += 2;
            const low = this.hex4();
            if (low >= 0xdc00 && low < 0xe000) {
              out += String.fromCharCode(unit, low);
              break;
            }
            this.pos = save;
          }
          // Go's decoder turns a lone surrogate into U+FFFD.
          out += unit >= 0xd800 && unit < 0xe000 ? '\ufffd' : String.fromCharCode(unit);
          break;
        }
        default:
          this.pos--;
          this.fail('in string escape code');
      }
    }
  }

  private hex4(): number {
    const digits = this.text.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail('in \\u hexadecimal character escape');
    this.pos += 4;
    return parseInt(digits, 16);
  }

  private array(): JsonValue[] {
    this.pos++;
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.value());
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === ']') {
        this.pos++;
        return items;
      } else this.fail('after array element');
    }
  }

  private object(): JsonObject {
    this.pos++;
    const members: Array<[string, JsonValue]> = [];
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return { members };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('looking for beginning of object key string');
      const key = this.string();
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail('after object key');
      this.pos++;
      this.skipWhitespace();
      members.push([key, this.value()]);
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === '}') {
        this.pos++;
        return { members };
      } else this.fail('after object key:value pair');
    }
  }
}

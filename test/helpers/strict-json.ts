// A JSON parser that rejects duplicate member names, as strict consumers of log lines do (RFC 8259
// §4 leaves duplicates undefined; Go's encoding/json/v2 and `jq --seq`-style pipelines reject them).
// JSON.parse keeps the last duplicate silently, so it cannot tell.

export class DuplicateKeyError extends Error {
  constructor(readonly key: string) {
    super(`duplicate key "${key}"`);
    this.name = 'DuplicateKeyError';
  }
}

/** Parses `text` like JSON.parse, but throws DuplicateKeyError when an object repeats a name. */
export function parseStrictJson(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      const out: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a member name');
        const key = string();
        if (seen.has(key)) throw new DuplicateKeyError(key);
        seen.add(key);
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        out[key] = value();
        ws();
        const next = text[i++];
        if (next === '}') return out;
        if (next !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        const next = text[i++];
        if (next === ']') return out;
        if (next !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (m === null) return fail('unexpected token');
    i += m[0].length;
    return JSON.parse(m[0]) as unknown;
  };
  const result = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return result;
}

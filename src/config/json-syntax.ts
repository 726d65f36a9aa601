// A strict JSON (RFC 8259) syntax check that says where the text goes wrong. Configuration files
// ending in .json are parsed by the YAML parser like every other config (JSON is YAML 1.2), but YAML
// accepts things JSON does not (trailing commas, bare words, comments), and V8's JSON.parse does not
// always give a position; this scanner gives both the rule and the offset.
// https://www.rfc-editor.org/rfc/rfc8259

/** The first syntax error of a JSON text: its UTF-16 offset and what is wrong there. */
export interface JsonSyntaxError {
  offset: number;
  message: string;
}

const MAX_DEPTH = 256;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

class Failure {
  constructor(readonly error: JsonSyntaxError) {}
}

/** Returns the first syntax error of `text` (one JSON value, optional surrounding whitespace), or undefined. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const fail = (offset: number, message: string): never => {
    throw new Failure({ offset, message });
  };
  const shown = (at: number): string => (at >= text.length ? 'end of input' : JSON.stringify(text[at]));
  const skipWhitespace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };

  const string = (): void => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail(start, 'unterminated string');
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return;
      }
      if (code < 0x20) fail(i, 'control character in string (escape it, e.g. \\n)');
      if (code === 0x5c) {
        const escape = text[i + 1];
        if (escape === 'u') {
          if (!HEX4.test(text.slice(i + 2, i + 6))) fail(i, 'invalid \\u escape (expected four hex digits)');
          i += 6;
          continue;
        }
        if (escape === undefined || !'"\\/bfnrt'.includes(escape)) fail(i, `invalid escape \\${escape ?? ''} in string`);
        i += 2;
        continue;
      }
      i++;
    }
  };

  const value = (depth: number): void => {
    skipWhitespace();
    if (depth > MAX_DEPTH) fail(i, `nesting deeper than ${MAX_DEPTH} levels`);
    const c = text[i];
    if (c === '{') {
      i++;
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWhitespace();
        if (text[i] !== '"') fail(i, `expected a double-quoted member name, found ${shown(i)}`);
        string();
        skipWhitespace();
        if (text[i] !== ':') fail(i, `expected ":" after a member name, found ${shown(i)}`);
        i++;
        value(depth + 1);
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          skipWhitespace();
          if (text[i] === '}') fail(i, 'trailing comma before "}"');
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(i, `expected "," or "}" after a member value, found ${shown(i)}`);
      }
    }
    if (c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          skipWhitespace();
          if (text[i] === ']') fail(i, 'trailing comma before "]"');
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(i, `expected "," or "]" after a list element, found ${shown(i)}`);
      }
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (match !== null && match[0] !== '' && match[0] !== '-') {
      i += match[0].length;
      return;
    }
    fail(i, i >= text.length ? 'unexpected end of input, expected a value' : `unexpected ${shown(i)}, expected a value`);
  };

  try {
    value(0);
    skipWhitespace();
    if (i < text.length) fail(i, `unexpected ${shown(i)} after the end of the JSON value`);
    return undefined;
  } catch (error) {
    if (error instanceof Failure) return error.error;
    throw error;
  }
}

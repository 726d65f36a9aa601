// Where an offset lies in a text, for messages an editor can jump to: the configuration file's
// errors (config/) and trust policy JSON syntax errors (trust/) both give line and column.

/** 1-based line and column of a UTF-16 offset; the column counts UTF-16 units, lines end at "\n". */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

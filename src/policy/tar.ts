// A small reader for the tar archives inside OPA bundles (`opa build` writes gzipped ustar;
// https://www.openpolicyagent.org/docs/management-bundles#bundle-file-format). Only regular
// files are returned; PAX `path` records and GNU long names are honoured, everything else
// (directories, links, devices) is skipped. Format: POSIX.1-2001 pax / ustar,
// https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06

const BLOCK = 512;

export class TarFormatError extends Error {}

/** The regular files of a tar archive: normalised path (no leading "/" or "./") → content. */
export function readTar(archive: Uint8Array, limits: { maxEntries: number } = { maxEntries: 10_000 }): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let longName: string | undefined;
  let entries = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end of archive: two zero blocks
    if (++entries > limits.maxEntries) throw new TarFormatError(`more than ${limits.maxEntries} entries`);
    verifyChecksum(header, offset);
    const size = octal(header.subarray(124, 136), offset);
    const type = String.fromCharCode(header[156] ?? 0);
    const start = offset + BLOCK;
    const end = start + size;
    if (end > archive.length) throw new TarFormatError(`entry at offset ${offset} runs past the end of the archive`);
    const body = archive.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      longName = paxPath(body) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = text(body);
      continue;
    }
    if (type === 'g') continue; // global pax header: no path for one entry
    const name = longName ?? ustarName(header);
    longName = undefined;
    if (type !== '0' && type !== '\0' && type !== '7') continue; // not a regular file
    files.set(normalise(name), body);
  }
  return files;
}

function ustarName(header: Uint8Array): string {
  const name = text(header.subarray(0, 100));
  const magic = text(header.subarray(257, 263));
  const prefix = magic.startsWith('ustar') ? text(header.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** PAX extended header records: "<length> <key>=<value>\n". */
function paxPath(body: Uint8Array): string | undefined {
  const records = new TextDecoder().decode(body);
  let path: string | undefined;
  let at = 0;
  while (at < records.length) {
    const space = records.indexOf(' ', at);
    const length = Number.parseInt(records.slice(at, space), 10);
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0) break;
    const record = records.slice(space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (record.slice(0, equals) === 'path') path = record.slice(equals + 1);
    at += length;
  }
  return path;
}

function normalise(name: string): string {
  return name.replace(/^(\.?\/)+/, '');
}

function text(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

function octal(field: Uint8Array, offset: number): number {
  const digits = text(field).trim();
  if (!/^[0-7]*$/.test(digits)) throw new TarFormatError(`bad size field in the header at offset ${offset}`);
  const value = digits === '' ? 0 : Number.parseInt(digits, 8);
  if (!Number.isSafeInteger(value)) throw new TarFormatError(`bad size field in the header at offset ${offset}`);
  return value;
}

/** The header checksum: the byte sum of the header with the checksum field read as spaces. */
function verifyChecksum(header: Uint8Array, offset: number): void {
  const stored = octal(header.subarray(148, 156), offset);
  let sum = 0;
  for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 0x20 : (header[k] ?? 0);
  if (sum !== stored) throw new TarFormatError(`header checksum mismatch at offset ${offset} (not a tar archive?)`);
}

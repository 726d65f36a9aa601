// Compiles the shared decision (rego/decision, on rego/lib) into the artifacts that must not drift from rego/
// (docs/decision.md):
//   wasm/bundle.tar.gz                `opa build -t wasm -e vouch/decision/keys -e vouch/decision/violations` over
//                                     rego/lib and rego/decision (tests excluded): an OPA bundle whose .manifest
//                                     names the wasm entrypoints, without the Rego modules opa build leaves in it
//                                     (lib.vouch's verify/2 calls Gatekeeper's external_data, which no other OPA
//                                     knows, so a bundle with them would not activate; the wasm needs none)
//   wasm/policy.wasm                  the bundle's /policy.wasm, byte for byte
// Both are committed so that `npm run build` (which copies them to dist/) needs only Node, never OPA. They live
// outside rego/ because opa loads any .tar.gz under a directory it is given as a bundle (`opa test rego/` would
// then see every module twice).
//
//   npx tsx scripts/build-wasm.ts           # write both
//   npx tsx scripts/build-wasm.ts --check   # compare instead of writing; exit 1 when a file is stale
//
// Deterministic: opa build writes tar entries with mtime 0 and fixed modes, in a fixed order, from sorted inputs
// relative to the repository root; the kept entries are copied header and all, and gzip writes mtime 0.
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OPA = join(ROOT, '.tools', 'bin', 'opa');
const SOURCE_DIRS = ['rego/lib', 'rego/decision'];
const DIST_DIR = join(ROOT, 'wasm');
export const ENTRYPOINTS = ['vouch/decision/keys', 'vouch/decision/violations'];
const COMMAND = 'npx tsx scripts/build-wasm.ts';

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`build-wasm: unknown argument(s) ${unknown.join(' ')}; usage: [--check]\n`);
    return 2;
  }
  const check = argv.includes('--check');
  const tar = withoutRego(gunzipSync(await buildBundle()));
  // --check compares the bundle's tar: gzip's bytes may differ between zlib builds, its content may not.
  const outputs = [
    { file: join(DIST_DIR, 'bundle.tar.gz'), content: gzipSync(tar, { level: 9 }), compare: gunzipSync },
    { file: join(DIST_DIR, 'policy.wasm'), content: tarEntry(tar, '/policy.wasm'), compare: (b: Buffer) => b },
  ];
  let stale = 0;
  for (const { file, content, compare } of outputs) {
    const path = relative(ROOT, file);
    if (check) {
      const have = await readFile(file).catch(() => undefined);
      if (have === undefined || !compare(have).equals(compare(content))) {
        stale++;
        process.stderr.write(`build-wasm: ${path} is ${have === undefined ? 'missing' : 'stale'}; run \`${COMMAND}\`\n`);
      }
    } else {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
      process.stdout.write(`build-wasm: wrote ${path}\n`);
    }
  }
  return stale > 0 ? 1 : 0;
}

/** The policy sources: every .rego under the source dirs except tests, sorted, relative to the root. */
async function sources(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of SOURCE_DIRS) {
    for (const name of await readdir(join(ROOT, dir))) {
      if (name.endsWith('.rego') && !name.endsWith('_test.rego')) files.push(`${dir}/${name}`);
    }
  }
  return files.sort();
}

async function buildBundle(): Promise<Buffer> {
  try {
    accessSync(OPA, fsConstants.X_OK);
  } catch {
    throw new Error(`required tool "opa" is missing at ${OPA}; \`bash scripts/tools.sh opa\` installs it`);
  }
  const out = await mkdtemp(join(tmpdir(), 'vouch-build-wasm-'));
  try {
    const bundle = join(out, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', ...ENTRYPOINTS.flatMap((e) => ['-e', e])];
    // Gatekeeper's capabilities: the compiled decision may use only what the template may use.
    args.push('--capabilities', 'rego/capabilities.json', '-o', bundle, ...(await sources()));
    await promisify(execFile)(OPA, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return await readFile(bundle);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** One regular file of a ustar archive (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06). */
export function tarEntry(tar: Buffer, name: string): Buffer {
  for (const entry of tarEntries(tar)) if (entry.name === name) return entry.content;
  throw new Error(`the bundle has no ${name}`);
}

function* tarEntries(tar: Buffer): Generator<{ name: string; content: Buffer; block: Buffer }> {
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) return;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = prefix === '' ? field(0, 100) : `${prefix}/${field(0, 100)}`;
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const end = offset + 512 + Math.ceil(size / 512) * 512;
    yield { name, content: Buffer.from(tar.subarray(offset + 512, offset + 512 + size)), block: Buffer.from(tar.subarray(offset, end)) };
    offset = end;
  }
}

/** The tar without the entries under /rego/ (headers and contents copied as they are), ending in two zero blocks. */
function withoutRego(tar: Buffer): Buffer {
  const kept: Buffer[] = [];
  for (const entry of tarEntries(tar)) if (!entry.name.startsWith('/rego/')) kept.push(entry.block);
  return Buffer.concat([...kept, Buffer.alloc(1024)]);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`build-wasm: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  });
}

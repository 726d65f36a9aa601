// The repository stands on its own (issue #11): tests read their data from test/fixtures/, never from a
// directory beside the clone, and the third-party vectors there are the exact upstream bytes (a
// formatter or an editor that rewrites a signature, certificate or line ending fails here first).

import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COSIGN_VECTORS, NOTATION_VECTORS, VECTORS } from '../helpers/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string, skip: ReadonlySet<string> = new Set()): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(full, skip));
    else if (entry.isFile()) files.push(full);
  }
  return files;
}

const relative = (from: string, file: string): string => path.relative(from, file).split(path.sep).join('/');

test('fixtures: every vector file has the digest SHA256SUMS records, and none is missing or unlisted', (t) => {
  const listed = new Map<string, string>();
  for (const line of readFileSync(path.join(VECTORS, 'SHA256SUMS'), 'utf8').split('\n')) {
    if (line === '') continue;
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match) return t.fail(`SHA256SUMS: malformed line ${JSON.stringify(line)}`);
    listed.set(match[2]!, match[1]!);
  }
  // README.md / PROVENANCE.md / NOTICE.md are our notes about the data, not data, and stay editable.
  const onDisk = walk(VECTORS)
    .map((file) => relative(VECTORS, file))
    .filter((name) => name !== 'SHA256SUMS' && !name.endsWith('.md'))
    .sort();
  t.deepEqual(onDisk, [...listed.keys()].sort(), 'the files on disk are exactly the files SHA256SUMS lists');
  const changed = onDisk.filter(
    (name) =>
      createHash('sha256')
        .update(readFileSync(path.join(VECTORS, name)))
        .digest('hex') !== listed.get(name),
  );
  t.deepEqual(changed, [], 'no vector file differs from its recorded digest');
  t.true(listed.size > 200);
});

test('fixtures: each vector source has its provenance note and the licence text is present', (t) => {
  for (const dir of [NOTATION_VECTORS, COSIGN_VECTORS]) {
    t.true(statSync(path.join(dir, 'PROVENANCE.md')).isFile(), `${relative(ROOT, dir)}PROVENANCE.md`);
    t.true(statSync(path.join(dir, 'README.md')).isFile(), `${relative(ROOT, dir)}README.md`);
  }
  t.true(statSync(path.join(VECTORS, 'NOTICE.md')).isFile());
  t.regex(readFileSync(path.join(VECTORS, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
});

test('fixtures: no test, helper, script or CI file reads data from outside the repository (a sibling shared folder)', (t) => {
  // Spelled in pieces so that this file does not match its own scan, nor the equivalent grep over test/.
  const patterns = [`../${'shared'}`, `${'shared'}/vectors`, `'..', '${'shared'}'`];
  const files = [
    ...['test', 'scripts', 'bench', '.ci']
      .filter((dir) => existsSync(path.join(ROOT, dir)))
      .flatMap((dir) => walk(path.join(ROOT, dir), new Set(['node_modules']))),
    path.join(ROOT, 'package.json'),
  ];
  t.true(files.length > 50, 'the scan found the test files');
  const offenders = files.flatMap((file) => {
    const text = readFileSync(file, 'latin1');
    return patterns.filter((pattern) => text.includes(pattern)).map((pattern) => `${relative(ROOT, file)}: ${pattern}`);
  });
  t.deepEqual(offenders, [], 'read test data through test/helpers/fixtures.ts instead');
});

// The progress line of `vouch promote` (src/cli/progress.ts): rewritten in place, throttled, always
// drawn at the end, cleared before the final output.

import test from 'ava';
import type { Digest } from '../../../src/core/index.js';
import { formatBytes, formatProgress, progressLine } from '../../../src/cli/progress.js';

test('progress: bytes in binary units', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1536), '1.5 KiB');
  t.is(formatBytes(20 * 1024 * 1024), '20.0 MiB');
});

test('progress: one line, redrawn at most every 100 ms and always when done, then cleared', (t) => {
  const written: string[] = [];
  let now = 0;
  const line = progressLine({ write: (s: string) => written.push(s), isTTY: true, columns: 60 }, () => now);
  const p = { objectsDone: 0, objectsTotal: 2, bytesDone: 0, bytesTotal: 2048 };
  now = 1000;
  line.update(p);
  line.update({ ...p, bytesDone: 10 }); // same instant: skipped
  now = 1050;
  line.update({ ...p, bytesDone: 20 }); // 50 ms later: skipped
  now = 1200;
  line.update({ ...p, objectsDone: 1, bytesDone: 1024, current: { kind: 'blob', digest: `sha256:${'a'.repeat(64)}` as Digest } as const });
  line.update({ ...p, objectsDone: 2, bytesDone: 2048 }); // finished: drawn at once
  t.is(written.length, 3);
  t.true(written.every((w) => w.startsWith('\r') && w.length === 60));
  t.regex(written[1]!, /copying 1\/2 objects, 1\.0 KiB\/2\.0 KiB {2}blob sha256:a+$/);
  t.regex(written[2]!, /copying 2\/2 objects/);
  line.done();
  t.regex(written[3]!, /^\r +\r$/);
  t.is(formatProgress(p), 'copying 0/2 objects, 0 B/2.0 KiB');
});

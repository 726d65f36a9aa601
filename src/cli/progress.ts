// Progress of a long copy on a terminal: one line on stderr, rewritten in place (carriage return),
// with objects and bytes done of the total. Not used when stderr is not a TTY or in JSON mode:
// there the command prints one summary line at the end instead, so logs and pipes stay clean.

import type { CopyProgress } from '../oci/index.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressLine {
  update(progress: CopyProgress): void;
  /** Clears the line (before the final output). */
  done(): void;
}

/** At most one redraw per this many ms: a fast copy would otherwise spend its time on the terminal. */
const REDRAW_MS = 100;

export function progressLine(stream: ProgressStream, now: () => number = Date.now): ProgressLine {
  let last = 0;
  let drawn = false;
  return {
    update(progress) {
      const t = now();
      const finished = progress.objectsDone === progress.objectsTotal;
      if (!finished && t - last < REDRAW_MS) return;
      last = t;
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      stream.write(`\r${formatProgress(progress).slice(0, width).padEnd(width)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write(`\r${' '.repeat(Math.max(20, (stream.columns ?? 80) - 1))}\r`);
    },
  };
}

export function formatProgress(p: CopyProgress): string {
  const current = p.current ? `  ${p.current.kind} ${p.current.digest.slice(0, 19)}` : '';
  return `copying ${p.objectsDone}/${p.objectsTotal} objects, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}${current}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

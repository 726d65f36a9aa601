// Human-readable and JSON renderings of discovery results for the CLI.

import type { Descriptor, ReferrerNode, ReferrerTree } from '../oci/index.js';

export interface ReferrersReport {
  reference: string;
  source: string;
  subject: Descriptor;
  tree: ReferrerTree;
}

function short(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `${alg}:${(hex ?? '').slice(0, 12)}`;
}

export function renderReferrersTable(report: ReferrersReport): string {
  const rows: string[][] = [];
  const walk = (nodes: ReferrerNode[], depth: number) => {
    for (const node of nodes) {
      const indent = depth === 0 ? '' : `${'  '.repeat(depth - 1)}└─ `;
      const a = node.artifact;
      rows.push([`${indent}${a.kind}`, a.descriptor.artifactType ?? '-', short(a.descriptor.digest), a.via]);
      walk(node.referrers, depth + 1);
    }
  };
  walk(report.tree.referrers, 0);
  const count = (nodes: ReferrerNode[]): number => nodes.reduce((n, node) => n + 1 + count(node.referrers), 0);
  const lines = [
    `image    ${report.reference}`,
    `source   ${report.source}`,
    `digest   ${report.subject.digest} (${report.subject.mediaType}, ${report.subject.size} bytes)`,
    `found    ${count(report.tree.referrers)} referrer(s)`,
    '',
  ];
  if (rows.length > 0) lines.push(...table([['KIND', 'ARTIFACT TYPE', 'DIGEST', 'FOUND VIA'], ...rows]));
  for (const skipped of report.tree.skipped) lines.push(`skipped  ${short(skipped.reference)}  ${skipped.code}: ${skipped.message}`);
  return lines.join('\n');
}

/** A JSON-friendly view: the tree without raw manifest bytes. */
export function referrersJson(report: ReferrersReport): unknown {
  const node = (n: ReferrerNode): unknown => ({
    kind: n.artifact.kind,
    descriptor: n.artifact.descriptor,
    via: n.artifact.via,
    referrers: n.referrers.map(node),
  });
  return {
    reference: report.reference,
    source: report.source,
    subject: report.subject,
    referrers: report.tree.referrers.map(node),
    skipped: report.tree.skipped,
  };
}

export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** One image of `vouch check`: where it is, and what the decision said about it. */
export interface CheckRow {
  kind: string;
  name: string;
  namespace?: string;
  source: string;
  document: number;
  item?: number;
  container: string;
  image: string;
  environment: string;
  verdict: 'ADMITTED' | 'DENIED' | 'UNDECIDED';
  code?: string;
  message?: string;
  details?: unknown;
}

/** `vouch check`'s table: one line per image, then a count. */
export function renderCheckTable(rows: readonly CheckRow[], objects: number): string {
  const denied = rows.filter((r) => r.verdict !== 'ADMITTED').length;
  const summary = `${objects} object(s), ${rows.length} image(s): ${rows.length - denied} admitted, ${denied} denied`;
  if (rows.length === 0) return summary;
  const lines = table([
    ['KIND/NAME', 'CONTAINER', 'IMAGE', 'ENV', 'VERDICT', 'CODE/MESSAGE'],
    ...rows.map((r) => [
      `${r.kind}/${r.name}`,
      r.container || '-',
      r.image,
      r.environment || '-',
      r.verdict,
      r.code === undefined ? '' : `${r.code}: ${r.message ?? ''}`,
    ]),
  ]);
  return [...lines, '', summary].join('\n');
}

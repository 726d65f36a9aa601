// Human-readable and JSON renderings of discovery results for the CLI.

import type { Descriptor, ReferrerNode, ReferrerTree } from '../oci/index.js';
import type { EnvironmentVerdict, ReferrerVerdicts } from './referrer-verdicts.js';

export interface ReferrersReport {
  reference: string;
  source: string;
  subject: Descriptor;
  tree: ReferrerTree;
}

function short(digest: string): string {
  // A skipped referrer may be named by a tag (cosign's `sha256-<hex>.sig`), not a digest: as is.
  if (!digest.includes(':')) return digest;
  const [alg, hex] = digest.split(':');
  return `${alg}:${(hex ?? '').slice(0, 12)}`;
}

function countNodes(nodes: readonly ReferrerNode[]): number {
  return nodes.reduce((n, node) => n + 1 + countNodes(node.referrers), 0);
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
  const lines = [
    `image    ${report.reference}`,
    `source   ${report.source}`,
    `digest   ${report.subject.digest} (${report.subject.mediaType}, ${report.subject.size} bytes)`,
    `found    ${countNodes(report.tree.referrers)} referrer(s)`,
    '',
  ];
  if (rows.length > 0) lines.push(...table([['KIND', 'ARTIFACT TYPE', 'DIGEST', 'FOUND VIA'], ...rows]));
  for (const skipped of report.tree.skipped) lines.push(`skipped  ${short(skipped.reference)}  ${skipped.code}: ${skipped.message}`);
  return lines.join('\n');
}

/**
 * A JSON-friendly view: the tree without raw manifest bytes. With verdicts (`--tree` with a config),
 * the image and every verified artifact carry `verdicts` (the engine's answer per environment), and
 * every signature node its own outcome per environment.
 */
export function referrersJson(report: ReferrersReport, verdicts?: ReferrerVerdicts): unknown {
  const verdictsOf = (digest: string): { verdicts?: EnvironmentVerdict[] } => {
    const found = verdicts?.signatures[digest] ?? verdicts?.subjects[digest];
    return found === undefined ? {} : { verdicts: found };
  };
  const node = (n: ReferrerNode): unknown => ({
    kind: n.artifact.kind,
    descriptor: n.artifact.descriptor,
    via: n.artifact.via,
    ...verdictsOf(n.artifact.descriptor.digest),
    referrers: n.referrers.map(node),
  });
  return {
    reference: report.reference,
    source: report.source,
    subject: report.subject,
    ...(verdicts !== undefined ? { environments: verdicts.environments, ...verdictsOf(report.subject.digest) } : {}),
    referrers: report.tree.referrers.map(node),
    skipped: report.tree.skipped,
  };
}

/** One environment's verdict as a tree line shows it: `verified (CN=…)`, `UNTRUSTED_SIGNER (CN=…)`, `undecided: …`. */
export function verdictText(verdict: EnvironmentVerdict): string {
  const signer = verdict.signer !== undefined ? ` (${verdict.signer})` : '';
  switch (verdict.status) {
    case 'verified':
      return `verified${signer}${verdict.message !== undefined ? `: ${verdict.message}` : ''}`;
    case 'not-verified':
      return `${verdict.code ?? 'not verified'}${signer}`;
    case 'not-evaluated':
      return `not evaluated${verdict.message !== undefined ? `: ${verdict.message}` : ''}`;
    case 'undecided':
      return `undecided: ${verdict.code ?? '-'}${verdict.reason !== undefined ? ` (${verdict.reason})` : ''}`;
  }
}

/**
 * `vouch referrers --tree`: the referrer graph drawn like `tree` / `oras discover --format tree`,
 * one line per artifact (kind, artifact type, short digest, how it was found); with verdicts, each
 * signature is followed by one line per environment, and the image's own verdicts head the output.
 */
export function renderReferrersTree(report: ReferrersReport, verdicts?: ReferrerVerdicts): string {
  const lines = [
    `image    ${report.reference}`,
    `source   ${report.source}`,
    `digest   ${report.subject.digest} (${report.subject.mediaType}, ${report.subject.size} bytes)`,
    `found    ${countNodes(report.tree.referrers)} referrer(s)`,
  ];
  const own = verdicts?.subjects[report.subject.digest];
  if (own !== undefined && own.length > 0) {
    // The signer that satisfied each environment is on its signature's line below.
    const withoutSigner = ({ signer: _signer, ...v }: EnvironmentVerdict): EnvironmentVerdict => v;
    lines.push(`verdict  ${own.map((v) => `${v.environment}: ${verdictText(withoutSigner(v))}`).join('; ')}`);
  }
  lines.push('', report.reference);
  const width = Math.max(0, ...(verdicts?.environments ?? []).map((e) => e.length));
  const walk = (nodes: readonly ReferrerNode[], prefix: string) => {
    nodes.forEach((node, i) => {
      const last = i === nodes.length - 1;
      const a = node.artifact;
      lines.push(`${prefix}${last ? '└─ ' : '├─ '}${a.kind}  ${a.descriptor.artifactType ?? '-'}  ${short(a.descriptor.digest)}  ${a.via}`);
      const childPrefix = prefix + (last ? '   ' : '│  ');
      const detailPrefix = childPrefix + (node.referrers.length > 0 ? '│  ' : '   ');
      for (const v of verdicts?.signatures[a.descriptor.digest] ?? []) {
        lines.push(`${detailPrefix}${`${v.environment}:`.padEnd(width + 1)} ${verdictText(v)}`);
      }
      walk(node.referrers, childPrefix);
    });
  };
  walk(report.tree.referrers, '');
  if (report.tree.skipped.length > 0) lines.push('');
  for (const skipped of report.tree.skipped) {
    lines.push(
      `skipped  ${short(skipped.reference)}  ${skipped.code}${skipped.reason !== 'OTHER' ? ` (${skipped.reason})` : ''}: ${skipped.message}`,
    );
  }
  return lines.join('\n');
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

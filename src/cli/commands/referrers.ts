// `vouch referrers REF`: lists what refers to an image (signatures, SBOMs, signatures on those),
// from a registry or an OCI layout, the way the verifier will find them.

import { parseArgs } from 'node:util';
import { parseReference, formatReference, manifestReference, VouchError } from '../../core/index.js';
import { OciLayoutSource, RegistryClient, walkReferrers, type ContentSource } from '../../oci/index.js';
import { referrersJson, renderReferrersTable, type ReferrersReport } from '../render.js';
import { dockerHubNotes } from '../hints.js';
import { UsageError, type CommandIo } from '../io.js';

export const referrersUsage = `usage: vouch referrers [--layout DIR] [--plain-http] [--depth N] [--output table|json] REF

Lists the referrers of an image: notation and cosign signatures, SBOMs and other artifacts, and
their own referrers (a signature on an SBOM) down to --depth levels (default 2).

  REF             image reference (host/repo:tag, host/repo@sha256:…); with --layout, a tag,
                  a digest or a reference whose tag is in the layout's index.json
  --layout DIR    read an OCI image layout directory instead of a registry
  --plain-http    talk HTTP, not HTTPS, to the registry (loopback development registries)
  --depth N       levels of referrers to walk (1 = direct referrers only)
  --output FMT    table (default) or json

Registry credentials, if needed, come from VOUCH_REGISTRY_USERNAME and VOUCH_REGISTRY_PASSWORD.`;

export async function referrersCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      layout: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      depth: { type: 'string', default: '2' },
      output: { type: 'string', default: 'table' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(referrersUsage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one image reference', referrersUsage);
  const depth = Number(values.depth);
  if (!Number.isInteger(depth) || depth < 1 || depth > 10)
    throw new UsageError(`--depth must be an integer from 1 to 10, got "${values.depth}"`, referrersUsage);
  if (values.output !== 'table' && values.output !== 'json')
    throw new UsageError(`--output must be table or json, got "${values.output}"`, referrersUsage);
  const input = positionals[0]!;

  let source: ContentSource;
  let reference: string;
  let display: string;
  let client: RegistryClient | undefined;
  if (values.layout !== undefined) {
    source = await OciLayoutSource.open(values.layout);
    reference = input;
    display = input;
  } else {
    const ref = parseReference(input);
    for (const note of dockerHubNotes('referrers', [input])) io.err(note);
    const username = process.env['VOUCH_REGISTRY_USERNAME'];
    client = new RegistryClient({
      hosts: {
        [ref.registry]: {
          plainHttp: values['plain-http'],
          ...(username ? { username, password: process.env['VOUCH_REGISTRY_PASSWORD'] ?? '' } : {}),
        },
      },
    });
    source = client.repositoryFor(ref);
    reference = manifestReference(ref);
    display = formatReference(ref);
  }
  try {
    const subject = await source.resolve(reference);
    const tree = await walkReferrers(source, subject.digest, { maxDepth: depth });
    const report: ReferrersReport = { reference: display, source: source.location, subject, tree };
    io.out(values.output === 'json' ? JSON.stringify(referrersJson(report), null, 2) : renderReferrersTable(report));
    return 0;
  } catch (error) {
    if (error instanceof VouchError) {
      io.err(`vouch referrers: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await client?.close();
  }
}

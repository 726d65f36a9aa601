// `vouch promote SRC DST`: copies an image and its whole referrer graph (signatures, SBOMs,
// signatures on those) to another registry or repository, digests preserved (docs/api.md
// "vouch promote"). Idempotent: a re-run copies nothing; an interrupted run (Ctrl-C included)
// resumes where it stopped.

import { parseArgs } from 'node:util';
import { promoteImage, registryCredentialsFromEnv, type PromoteResult, type PromoteStamp } from '../../app/index.js';
import { CONFIG_ENV_VAR, configPathFrom, loadConfig, type VouchConfig } from '../../config/index.js';
import { VouchError } from '../../core/index.js';
import { moduleLogger } from '../../log.js';
import { dockerHubNotes } from '../hints.js';
import { UsageError, type CommandIo } from '../io.js';
import { formatBytes, progressLine, type ProgressStream } from '../progress.js';
import { table } from '../render.js';
import { checkSigningFlags, loadSigningChoice, PLUGIN_SIGNING_FLAGS, SIGNING_FLAGS, SIGNING_FLAGS_HELP } from '../signing-options.js';

export const promoteUsage = `usage: vouch promote [--dry-run] [--config FILE] [--plain-http] [--output text|json]
                     [--max-depth N] [--max-objects N]
                     [--sign-for ENV (--key KEY --cert CHAIN | --plugin NAME --id KEY_ID)
                      [signing options]] SRC DST

Copies the image SRC (a single manifest, or a multi-platform index with all its children) and its
whole referrer graph (signatures, SBOMs, scan results, signatures on those) to DST, digests
preserved. What the destination has is skipped, blobs are mounted within one registry, and the
referrers tag index is kept current on registries without the Referrers API. A second run copies
nothing; an interrupted run resumes.

  SRC              host/repo:tag or host/repo@sha256:… (a registry served from an ociLayout in the
                   config is read from the layout)
  DST              host/repo[:tag]: the destination repository and tag (default: SRC's tag)
  --dry-run        list what would be copied (object, size, exists or would copy); write nothing
  --config FILE    registries, credentials, plainHttp and allowlist from the config (or ${CONFIG_ENV_VAR})
  --plain-http     without a config: talk HTTP, not HTTPS, to both registries (loopback registries)
  --output FMT     text (default) or json
  --max-depth N    levels of referrers to copy (default 3); deeper referrers are an error
  --max-objects N  objects (manifests and blobs) in the graph (default 10000); more is an error
  --sign-for ENV   sign the image at DST for environment ENV of the config, and check that ENV
                   admits it there: before anything is written (a key ENV does not trust, or a DST
                   no trust policy of ENV covers, fails with admission's code and writes nothing),
                   and from the registry after the push. A re-run adds no second signature.

signing options (with --sign-for):
${SIGNING_FLAGS_HELP}

Without a config, credentials come from VOUCH_REGISTRY_USERNAME and VOUCH_REGISTRY_PASSWORD.
Exit status: 0 copied (or nothing to copy) and, with --sign-for, admitted by ENV at DST; 1 the copy
failed or ENV would not admit the image; 2 bad usage, configuration or signing key.`;

export interface PromoteDeps {
  /** Where the progress line goes (a TTY only); default process.stderr. */
  progress?: ProgressStream;
  env?: Readonly<Record<string, string | undefined>>;
  /** Cancels the copy (default: SIGINT/SIGTERM of the process). */
  signal?: AbortSignal;
}

export async function promoteCommand(argv: string[], io: CommandIo, deps: PromoteDeps = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      config: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      output: { type: 'string', default: 'text' },
      'max-depth': { type: 'string' },
      'max-objects': { type: 'string' },
      'sign-for': { type: 'string' },
      ...SIGNING_FLAGS,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(promoteUsage);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('expected SRC and DST', promoteUsage);
  if (values.output !== 'text' && values.output !== 'json') {
    throw new UsageError(`--output must be text or json, got "${values.output}"`, promoteUsage);
  }
  const maxDepth = integerOption(values['max-depth'], '--max-depth', 1, 10);
  const maxNodes = integerOption(values['max-objects'], '--max-objects', 1, 1_000_000);
  const env = deps.env ?? process.env;
  const [src, dst] = positionals as [string, string];

  let config: VouchConfig | undefined;
  if (values.config !== undefined || (env[CONFIG_ENV_VAR] ?? '') !== '') {
    config = await loadConfig(configPathFrom(values.config, env));
    if (values['plain-http'])
      throw new UsageError('--plain-http is for use without a config (set plainHttp under registries:)', promoteUsage);
  }
  const signFor = values['sign-for'];
  let stamp: PromoteStamp | undefined;
  if (signFor === undefined) {
    const given = (
      ['key', 'cert', 'expiry', 'timestamp-url', 'timestamp-root', 'annotation', 'user-metadata', ...PLUGIN_SIGNING_FLAGS] as const
    ).filter((name) => values[name] !== undefined);
    if (given.length > 0) throw new UsageError(`--${given[0]} signs: it needs --sign-for ENV`, promoteUsage);
  } else {
    checkSigningFlags(values, promoteUsage, ' with --sign-for');
    if (config === undefined)
      throw new UsageError("--sign-for needs --config (the environment's trust policy and trust store)", promoteUsage);
    if (!config.environments.has(signFor)) {
      throw new UsageError(
        `--sign-for "${signFor}" is not a configured environment (${[...config.environments.keys()].join(', ')})`,
        promoteUsage,
      );
    }
    // Local files first: a bad key, chain or timestamp root fails before any registry is contacted.
    const choice = await loadSigningChoice(values, promoteUsage, { config, environment: signFor, env });
    stamp = {
      environment: signFor,
      signer: choice.signer,
      ...choice.options,
      ...(choice.expiryMs !== undefined ? { expiry: new Date(Date.now() + choice.expiryMs) } : {}),
    };
  }
  const credentials = config === undefined ? registryCredentialsFromEnv(env) : undefined;
  for (const note of dockerHubNotes('promote', [src, dst])) io.err(note);

  const stream = deps.progress ?? process.stderr;
  const line = values.output === 'text' && stream.isTTY === true ? progressLine(stream) : undefined;
  const controller = new AbortController();
  const stop = () => controller.abort(new VouchError('DEADLINE_EXCEEDED', 'promote interrupted', { reason: 'ABORTED' }));
  const signal = deps.signal ? AbortSignal.any([deps.signal, controller.signal]) : controller.signal;
  if (deps.signal === undefined) {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  try {
    const result = await promoteImage(src, dst, {
      ...(config ? { config } : { plainHttp: values['plain-http'] }),
      ...(credentials ? { credentials } : {}),
      dryRun: values['dry-run'],
      ...(maxDepth !== undefined ? { maxDepth } : {}),
      ...(maxNodes !== undefined ? { maxNodes } : {}),
      ...(line ? { onProgress: (p) => line.update(p) } : {}),
      signal,
      logger: moduleLogger('cli'),
      ...(stamp ? { stamp } : {}),
    });
    line?.done();
    if (values.output === 'json') io.out(JSON.stringify(promoteJson(result), null, 2));
    else {
      // The table ends with the summary line: no second one on stderr.
      io.out(renderPromote(result));
    }
    return 0;
  } catch (error) {
    line?.done();
    if (error instanceof VouchError && !['INVALID_CONFIG', 'INVALID_REFERENCE', 'INVALID_INPUT'].includes(error.code)) {
      io.err(`vouch promote: ${error.code} (${error.reason}): ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    if (deps.signal === undefined) {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }
}

function integerOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${value}"`, promoteUsage);
  return n;
}

const ACTION_TEXT = { copied: 'copied', mounted: 'mounted', exists: 'exists', 'would-copy': 'would copy' } as const;

function renderPromote(result: PromoteResult): string {
  const { copy } = result;
  const rows = copy.objects.map((o) => [
    ACTION_TEXT[o.action] + (o.indexRepaired ? ' (index repaired)' : ''),
    o.kind,
    o.artifactType ?? (o.kind === 'blob' ? o.descriptor.mediaType : '-'),
    o.descriptor.digest,
    formatBytes(o.descriptor.size),
  ]);
  const lines = [
    `${copy.dryRun ? 'would promote' : 'promoted'} ${result.source} -> ${result.destination}`,
    `digest   ${copy.subject.digest} (${copy.subject.mediaType})`,
    '',
    ...table([['ACTION', 'KIND', 'TYPE', 'DIGEST', 'SIZE'], ...rows]),
  ];
  for (const s of copy.skipped) lines.push(`skipped  ${s.reference}  ${s.code} (${s.reason}): ${s.message}`);
  lines.push('', summaryLine(result));
  if (result.stamp !== undefined) lines.push(stampLine(result));
  return lines.join('\n');
}

function summaryLine(result: PromoteResult): string {
  const { copy } = result;
  const t = copy.totals;
  const verb = copy.dryRun ? 'would copy' : 'copied';
  const tag =
    copy.tag === undefined
      ? ''
      : copy.tagUpdated
        ? `; tag ${copy.tag} ${copy.dryRun ? 'would be set' : 'set'}`
        : `; tag ${copy.tag} unchanged`;
  if (t.copied === 0 && t.mounted === 0) return `${t.objects} objects, nothing to copy (all exist at ${copy.destination})${tag}`;
  return `${t.objects} objects: ${verb} ${t.copied} (${formatBytes(t.bytesCopied)}), mounted ${t.mounted}, existing ${t.exists}${tag}`;
}

/** What --sign-for did: signed (and verified), already signed, or would sign (dry run). */
function stampLine(result: PromoteResult): string {
  const stamp = result.stamp!;
  const env = stamp.environment;
  if (stamp.action === 'would-sign') return `${env}: would sign (the key is trusted for ${env} at ${result.destination})`;
  const signer = stamp.verification?.value?.signatures.find((s) => s.digest === stamp.signature?.digest)?.signer;
  const by = signer === undefined ? '' : ` by ${signer}`;
  const what =
    stamp.action === 'signed'
      ? `signed ${stamp.signature?.digest}${by}${stamp.signature?.via === 'tag-schema' ? ' (referrers tag index updated)' : ''}`
      : `already signed ${stamp.signature?.digest}${by}: nothing pushed`;
  return `${env}: ${what}; verified for ${env} at ${result.destination}`;
}

function promoteJson(result: PromoteResult): unknown {
  const { copy } = result;
  return {
    source: result.source,
    destination: result.destination,
    subject: copy.subject,
    ...(copy.tag !== undefined ? { tag: copy.tag } : {}),
    tagUpdated: copy.tagUpdated,
    dryRun: copy.dryRun,
    objects: copy.objects,
    skipped: copy.skipped,
    totals: copy.totals,
    ...(result.stamp !== undefined
      ? {
          stamp: {
            environment: result.stamp.environment,
            action: result.stamp.action,
            ...(result.stamp.signature ? { signature: result.stamp.signature } : {}),
            verified: result.stamp.verified,
            ...(result.stamp.verification?.value ? { verification: result.stamp.verification.value } : {}),
          },
        }
      : {}),
  };
}

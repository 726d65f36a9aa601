// `vouch verify --config FILE [--env NAME] [--output json|table] REF...`: verifies each image
// reference once, as the server would (docs/api.md "Commands"). Exit 0 all verified, 1 any not verified
// or undecided, 2 bad usage or bad configuration.

import { parseArgs } from 'node:util';
import { configPathFrom, loadConfig } from '../../config/index.js';
import { moduleLogger } from '../../log.js';
import { createVerificationStack } from '../../app/index.js';
import { splitKey, type KeyResult } from '../../verify/index.js';
import { dockerHubNotes } from '../hints.js';
import { UsageError, type CommandIo } from '../io.js';
import { table } from '../render.js';

export const verifyUsage = `usage: vouch verify --config FILE [--env NAME] [--output json|table] [--timeout-ms N] REF...

Verifies each image reference under an environment's trust policy and trust store, exactly as
the provider would answer /v1/verify. REF may carry an [environment] prefix like a provider key.

  --config FILE    configuration file (or VOUCH_CONFIG)
  --env NAME       environment for references without a prefix (default: defaultEnvironment)
  --output FMT     table (default) or json (the VerificationResult per reference)
  --timeout-ms N   budget for all references (default: server.requestTimeoutMs, at least 30000)

Exit status: 0 every reference verified, 1 any not verified or undecided, 2 bad usage or config.`;

export async function verifyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      env: { type: 'string' },
      output: { type: 'string', default: 'table' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(verifyUsage);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('expected at least one image reference', verifyUsage);
  if (values.output !== 'table' && values.output !== 'json')
    throw new UsageError(`--output must be table or json, got "${values.output}"`, verifyUsage);
  const timeout = values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']);
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0))
    throw new UsageError(`--timeout-ms must be a positive integer`, verifyUsage);

  const config = await loadConfig(configPathFrom(values.config));
  if (values.env !== undefined && !config.environments.has(values.env)) {
    throw new UsageError(
      `--env "${values.env}" is not a configured environment (${[...config.environments.keys()].join(', ')})`,
      verifyUsage,
    );
  }
  const stack = await createVerificationStack(config, { logger: moduleLogger('cli'), watch: false });
  try {
    const keys = positionals.map((ref) => (values.env !== undefined && !ref.startsWith('[') ? `[${values.env}]${ref}` : ref));
    // On stderr, so that --output json stays one JSON document on stdout.
    for (const note of dockerHubNotes('verify', positionals)) io.err(note);
    const budget = timeout ?? Math.max(config.server.requestTimeoutMs, 30_000);
    const results = await stack.engine.verify(keys, { deadline: Date.now() + budget });
    io.out(values.output === 'json' ? JSON.stringify(results.map(toJson), null, 2) : renderTable(results, config.defaultEnvironment));
    return results.every((r) => 'value' in r && r.value?.verified === true) ? 0 : 1;
  } finally {
    await stack.close();
  }
}

function toJson(result: KeyResult): unknown {
  return 'error' in result && result.error ? { key: result.key, error: result.error } : { key: result.key, ...result.value };
}

/**
 * One line per image: verdict, environment, reference, signer, reason. An undecided row has no
 * result to take the environment from: it is the key's [environment] prefix, else the default.
 */
export function renderTable(results: KeyResult[], defaultEnvironment?: string): string {
  const rows = results.map((r) => {
    if (r.error !== undefined) {
      const { environment, reference } = keyParts(r.key, defaultEnvironment);
      return ['UNDECIDED', environment, reference, '-', `${r.error.code}: ${r.error.message}`];
    }
    const v = r.value!;
    const shown = v.signatures.find((s) => s.verified) ?? v.signatures[0];
    // A signature a verification plugin decided says so: its verdict is partly the plugin's.
    const plugin = shown?.type === 'notation' && shown.plugin !== undefined ? ` (plugin ${shown.plugin.name} ${shown.plugin.version})` : '';
    const signer = shown?.signer !== undefined ? `${shown.signer}${plugin}` : '-';
    const reason = v.verified
      ? v.skipped
        ? 'trust policy level skip: not checked'
        : ''
      : `${v.reasons[0]?.code ?? ''}: ${v.reasons[0]?.message ?? ''}`;
    return [v.verified ? 'VERIFIED' : 'NOT VERIFIED', v.environment, v.reference, signer, reason];
  });
  return table([['VERDICT', 'ENV', 'IMAGE', 'SIGNER', 'REASON'], ...rows]).join('\n');
}

function keyParts(key: string, defaultEnvironment: string | undefined): { environment: string; reference: string } {
  try {
    const split = splitKey(key);
    return { environment: split.environment ?? defaultEnvironment ?? '-', reference: split.reference };
  } catch {
    return { environment: '-', reference: key };
  }
}

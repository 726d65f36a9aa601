// `vouch policy eval`: runs an environment's decision policy (docs/policies.md) on an input document,
// the way the engine runs it for an image, and prints its decision. For writing and debugging
// policies: the input is what `--output json` of the engine's policy input looks like.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { configPathFrom, loadConfig } from '../../config/index.js';
import { VouchError, errorMessage } from '../../core/index.js';
import { loadPolicyFile } from '../../policy/index.js';
import { decisionPolicyOf, evaluateDecision, type PolicyDecision } from '../../verify/index.js';
import { UsageError, type CommandIo } from '../io.js';

export const policyUsage = `usage: vouch policy eval --config FILE --env NAME --input FILE|- [--output table|json]

Runs the decision policy of an environment (its policy: key) on a JSON input document and prints
the decision: allowed, or denied with the policy's reasons (docs/policies.md).

  --config FILE   configuration file (or VOUCH_CONFIG)
  --env NAME      the environment whose policy runs
  --input FILE    the input document (JSON; docs/policies.md "Input"); - reads it from stdin
  --output FMT    table (default) or json

Exit code 0 when the policy decided (allowed or denied), 2 when it could not run: bad usage, bad
configuration, no policy for the environment, unreadable input, or a policy that failed
(POLICY_ERROR: compile error, trap, timeout, malformed output).`;

/** Largest input document read. */
const MAX_INPUT_BYTES = 4 * 1024 * 1024;

export async function policyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      env: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string', default: 'table' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(policyUsage);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'eval') throw new UsageError(action === undefined ? 'missing subcommand' : `unknown subcommand "${action}"`, policyUsage);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, policyUsage);
  if (values.env === undefined) throw new UsageError('--env is required', policyUsage);
  if (values.input === undefined) throw new UsageError('--input is required', policyUsage);
  if (values.output !== 'table' && values.output !== 'json') {
    throw new UsageError(`--output must be table or json, got "${values.output}"`, policyUsage);
  }

  try {
    const config = await loadConfig(configPathFrom(values.config));
    const environment = config.environments.get(values.env);
    if (environment === undefined) {
      throw new VouchError(
        'UNKNOWN_ENVIRONMENT',
        `environment "${values.env}" is not configured in ${config.file} (configured: ${[...config.environments.keys()].join(', ')})`,
      );
    }
    if (environment.policy === undefined) {
      throw new VouchError('INVALID_CONFIG', `environment "${values.env}" has no policy: in ${config.file} (the built-in rule applies)`);
    }
    const input = await readInput(values.input, io.stdin ?? process.stdin);
    const wasm = await loadPolicyFile(environment.policy, { timeoutMs: config.limits.policyTimeoutMs });
    try {
      const policy = decisionPolicyOf(wasm, environment.policy);
      const decision = await evaluateDecision(policy, input);
      io.out(
        values.output === 'json'
          ? JSON.stringify({ environment: values.env, policy: policy.file, entrypoint: policy.entrypoint, ...decision }, null, 2)
          : renderDecision(values.env, policy.file, policy.entrypoint, decision),
      );
      return 0;
    } finally {
      await wasm.close();
    }
  } catch (error) {
    if (!(error instanceof VouchError)) throw error;
    io.err(`vouch policy eval: ${error.code}: ${error.message}`);
    return 2;
  }
}

/** The input document from a file, or from `stdin` for "-". */
async function readInput(file: string, stdin: AsyncIterable<Uint8Array | string>): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readStream(stdin) : await readFile(file);
  } catch (error) {
    if (error instanceof VouchError) throw error;
    throw new VouchError('INVALID_INPUT', `cannot read the input ${file}: ${errorMessage(error)}`, { reason: 'NOT_FOUND', cause: error });
  }
  if (bytes.length > MAX_INPUT_BYTES) {
    throw new VouchError('INVALID_INPUT', `the input ${file} is larger than ${MAX_INPUT_BYTES} bytes`, { reason: 'SIZE_LIMIT' });
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    throw new VouchError('INVALID_INPUT', `the input ${file} is not JSON: ${errorMessage(error)}`, { reason: 'BAD_CONTENT', cause: error });
  }
}

/** All of a stream, refusing more than MAX_INPUT_BYTES as soon as it is read. */
async function readStream(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    length += buffer.length;
    if (length > MAX_INPUT_BYTES) {
      throw new VouchError('INVALID_INPUT', `the input - is larger than ${MAX_INPUT_BYTES} bytes`, { reason: 'SIZE_LIMIT' });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function renderDecision(environment: string, file: string, entrypoint: string, decision: PolicyDecision): string {
  const lines = [
    `environment  ${environment}`,
    `policy       ${file} (${entrypoint})`,
    `decision     ${decision.allow ? 'allow' : 'deny'}`,
  ];
  for (const reason of decision.reasons) lines.push(`  ${reason.code}  ${reason.message}`);
  return lines.join('\n');
}

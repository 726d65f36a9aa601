// vouch's command line (docs/api.md "Commands"). Parses the command, runs it, maps failures to
// exit codes: 0 success, 1 a negative or undecided answer, 2 bad usage or bad configuration.

import { VouchError } from '../core/index.js';
import { checkCommand, checkUsage } from './commands/check.js';
import { configCommand, configUsage } from './commands/config.js';
import { demoCommand, demoUsage } from './commands/demo.js';
import { policyCommand, policyUsage } from './commands/policy.js';
import { promoteCommand, promoteUsage } from './commands/promote.js';
import { referrersCommand, referrersUsage } from './commands/referrers.js';
import { serveCommand, serveUsage } from './commands/serve.js';
import { signCommand, signUsage } from './commands/sign.js';
import { verifyCommand, verifyUsage } from './commands/verify.js';
import { processIo, UsageError, type CommandIo } from './io.js';

const commands: Record<string, { run: (argv: string[], io: CommandIo) => Promise<number>; usage: string; summary: string }> = {
  serve: { run: serveCommand, usage: serveUsage, summary: 'run the provider: Gatekeeper HTTP(S) endpoints and gRPC' },
  verify: { run: verifyCommand, usage: verifyUsage, summary: 'verify image references as the provider would' },
  check: { run: checkCommand, usage: checkUsage, summary: 'check Kubernetes manifests as admission would, before admission' },
  referrers: { run: referrersCommand, usage: referrersUsage, summary: 'list signatures and other artifacts that refer to an image' },
  sign: { run: signCommand, usage: signUsage, summary: 'sign an image (Notary Project signature) and attach it as a referrer' },
  promote: {
    run: (argv, io) => promoteCommand(argv, io),
    usage: promoteUsage,
    summary: 'copy an image and its signatures, SBOMs and other referrers to another registry',
  },
  demo: { run: demoCommand, usage: demoUsage, summary: 'offline demo: signed sample images, two environments, the provider answering' },
  policy: { run: policyCommand, usage: policyUsage, summary: "run an environment's decision policy on an input document (policy eval)" },
  config: { run: configCommand, usage: configUsage, summary: 'print the JSON Schema of the configuration file (config schema)' },
};

export const usage = `usage: vouch <command> [options]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "vouch <command> --help" for a command's options.`;

export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    io.err(`vouch: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`vouch ${name}: ${error.message}\n\n${error.usage}`);
      return 2;
    }
    if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`vouch ${name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    if (error instanceof VouchError) {
      io.err(`vouch ${name}: ${error.code}: ${error.message}`);
      return error.code === 'INVALID_CONFIG' || error.code === 'INVALID_INPUT' || error.code === 'INVALID_REFERENCE' ? 2 : 1;
    }
    io.err(`vouch ${name}: internal error: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}

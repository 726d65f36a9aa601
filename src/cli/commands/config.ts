// `vouch config schema`: the JSON Schema (draft 2020-12) of the configuration file, generated from
// the zod schema that validates it (src/config/schema.ts), for editors and other tools. The same
// document is committed as docs/vouch.schema.json (scripts/build-config-schema.ts).

import { parseArgs } from 'node:util';
import { configJsonSchema } from '../../config/index.js';
import { UsageError, type CommandIo } from '../io.js';

export const configUsage = `usage: vouch config schema

  schema    print the JSON Schema of the configuration file (vouch.yaml): every key with its
            type, range, default and description. Editors use it to complete and check the file,
            e.g. with the YAML language server:
              # yaml-language-server: $schema=vouch.schema.json`;

export async function configCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    io.out(configUsage);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'schema')
    throw new UsageError(action === undefined ? 'missing subcommand' : `unknown subcommand "${action}"`, configUsage);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, configUsage);
  io.out(JSON.stringify(configJsonSchema(), null, 2));
  return 0;
}

// Process-wide pino logger and per-module children ({module: 'oci.registry'}), as grpc-js keeps a
// tracer per module. JSON lines on stderr; level from VOUCH_LOG_LEVEL (default info). Never log
// credentials or tokens: the registry client redacts URLs and never passes headers here.

import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino(
    {
      name: 'vouch',
      level: process.env['VOUCH_LOG_LEVEL'] ?? 'info',
      redact: { paths: ['*.password', '*.token', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
  return root;
}

/** Replaces the root logger (the CLI sets level and destination; tests silence it). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function moduleLogger(module: string): Logger {
  return rootLogger().child({ module });
}

// Process-wide pino logger and per-module children ({module: 'oci.registry'}), as grpc-js keeps a
// tracer per module. JSON lines on stderr; level from VOUCH_LOG_LEVEL (default info). Never log
// credentials or tokens: the registry client redacts URLs and never passes headers here.
//
// One `module` per line: pino appends every child's bindings to the line without de-duplicating
// keys (pino docs, "logger.child": "duplicate keys ... are not overwritten"), so
// `moduleLogger('server').child({ module: 'config' })` would write `"module"` twice, which strict
// JSON parsers reject (RFC 8259 §4: names "SHOULD be unique"; e.g. Go's json/v2, jq --strict).
// Loggers made here therefore keep `module` out of the bindings: `child()` lifts it onto the
// instance, where children inherit it (pino children are Object.create(parent)) and a nearer one
// replaces it, and the `mixin` writes the nearest one once per line.

import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const moduleName = Symbol('vouch.log.module');

type ModuleCarrier = Logger & { [moduleName]?: string };

/**
 * A pino logger whose `module` field appears once per line, however many `.child({ module })`
 * calls are stacked on it.
 */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      ...options,
      mixin: (mergeObject, level, instance) => {
        const fields = options.mixin ? options.mixin(mergeObject, level, instance) : {};
        const module = (instance as ModuleCarrier)[moduleName];
        return module === undefined ? fields : { module, ...fields };
      },
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  ) as ModuleCarrier;
  const pinoChild = logger.child as unknown as (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  // Own property on the root; every child (Object.create of its parent) inherits it.
  (logger as { child: unknown }).child = function (this: ModuleCarrier, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) {
    const { module, ...rest } = bindings;
    if (typeof module !== 'string') return pinoChild.call(this, bindings, childOptions);
    const instance = pinoChild.call(this, rest, childOptions) as ModuleCarrier;
    instance[moduleName] = module;
    return instance;
  };
  return logger;
}

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= createLogger({
    name: 'vouch',
    level: process.env['VOUCH_LOG_LEVEL'] ?? 'info',
    redact: { paths: ['*.password', '*.token', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
  return root;
}

/** Replaces the root logger (the CLI sets level and destination; tests silence it). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function moduleLogger(module: string): Logger {
  return rootLogger().child({ module });
}

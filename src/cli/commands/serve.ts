// `vouch serve --config FILE`: runs the provider until SIGTERM/SIGINT, then stops accepting,
// finishes in-flight requests and exits 0 (docs/api.md "Commands").

import { parseArgs } from 'node:util';
import { configPathFrom, loadConfig } from '../../config/index.js';
import { moduleLogger, type Logger } from '../../log.js';
import { startProvider } from '../../app/index.js';
import type { CommandIo } from '../io.js';

export const serveUsage = `usage: vouch serve --config FILE

Runs the Gatekeeper external data provider (HTTP(S) /v1/verify, /v1/mutate, /healthz, /readyz,
/metrics) and, when configured, the gRPC service. --config may also come from VOUCH_CONFIG.
Stops on SIGTERM or SIGINT after finishing in-flight requests. Logs are JSON lines on stderr
(level from VOUCH_LOG_LEVEL); the line {"msg":"serving"} carries the listening addresses.`;

export async function serveCommand(
  argv: string[],
  io: CommandIo,
  signals: NodeJS.EventEmitter = process,
  logger: Logger = moduleLogger('server'),
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    io.out(serveUsage);
    return 0;
  }
  const config = await loadConfig(configPathFrom(values.config));
  const provider = await startProvider(config, { logger });
  // A log line, not text on stderr: the stream a platform collects stays JSON lines only, and the
  // addresses are fields a log query can read (a port-0 listener's port is known only here).
  logger.info(
    {
      url: provider.url,
      ...(provider.grpcAddress ? { grpcAddress: provider.grpcAddress } : {}),
      ...(provider.healthUrl ? { healthUrl: provider.healthUrl } : {}),
      environments: provider.environments.names(),
    },
    'serving',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: draining in-flight requests');
      signals.off('SIGTERM', onTerm);
      signals.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    signals.on('SIGTERM', onTerm);
    signals.on('SIGINT', onInt);
  });
  await provider.close();
  logger.info('stopped');
  return 0;
}

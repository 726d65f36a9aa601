// `vouch demo`: the whole product, offline. Generates signing identities for two environments,
// sample images in an OCI image layout serving as registry `demo.local` (signed for both, for
// staging only, unsigned, with an expired signature, outside prod's trust policy), Notary trust
// policies and stores, and a config; starts the provider; asks it over HTTP, as Gatekeeper would,
// about every image in both environments; prints one table per environment.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/index.js';
import { createLogger, rootLogger } from '../../log.js';
import { startProvider } from '../../app/index.js';
import type { VerificationResult } from '../../verify/index.js';
import { writeDemoContent } from '../demo-content.js';
import type { CommandIo } from '../io.js';
import { table } from '../render.js';

export const demoUsage = `usage: vouch demo [--dir DIR] [--keep-running]

Generates a complete offline setup (keys, signed images in an OCI layout, trust policies, trust
stores, config) in DIR, starts the provider on a free port, and prints its verdicts for every
sample image in the prod and staging environments.

  --dir DIR        write the setup to DIR and keep it (default: a temporary directory, removed
                   when the demo ends)
  --keep-running   leave the provider serving (Ctrl-C to stop) to try it with curl`;

interface ProviderItem {
  key: string;
  value?: VerificationResult;
  error?: string;
}

export async function demoCommand(argv: string[], io: CommandIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'keep-running': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(demoUsage);
    return 0;
  }
  // A directory the user named is theirs to keep and inspect; one made here is removed at the end,
  // however the demo ends (the commands printed below refer to it only with --keep-running).
  const temporary = values.dir === undefined;
  const dir = values.dir ?? (await mkdtemp(path.join(tmpdir(), 'vouch-demo-')));
  try {
    return await runDemo(dir, temporary, values['keep-running'], io, signals);
  } finally {
    if (temporary) await rm(dir, { recursive: true, force: true });
  }
}

async function runDemo(
  dir: string,
  temporary: boolean,
  keepRunning: boolean,
  io: CommandIo,
  signals: NodeJS.EventEmitter,
): Promise<number> {
  const content = await writeDemoContent(dir);
  const config = await loadConfig(content.configFile);
  // The demo's own output is the tables; the provider only logs problems.
  const logger = process.env['VOUCH_LOG_LEVEL'] ? rootLogger() : createLogger({ level: 'error' });
  const provider = await startProvider(config, { logger, defaultMetrics: false });
  let failures = 0;
  try {
    io.out(
      `vouch demo: generated keys, signed images, trust policies and a config in ${dir}${temporary && !keepRunning ? ' (removed when the demo ends; --dir DIR keeps them)' : ''}`,
    );
    io.out(`provider: ${provider.url} (Gatekeeper external data; plain HTTP for the demo, use server.tls in a cluster)\n`);
    for (const environment of ['prod', 'staging'] as const) {
      const keys = content.images.map((image) => `[${environment}]${image.reference}`);
      const response = await fetch(`${provider.url}/v1/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
      });
      const items = ((await response.json()) as { response: { items: ProviderItem[] } }).response.items;
      const rows = items.map((item, i) => {
        const image = content.images[i]!;
        const verdict = item.value?.verified ? 'verified' : (item.value?.reasons[0]?.code ?? item.error?.split(':')[0] ?? 'unknown');
        if (verdict !== image.expect[environment]) failures++;
        return [
          item.value?.verified ? 'VERIFIED' : item.value ? 'NOT VERIFIED' : 'UNDECIDED',
          image.reference,
          item.value?.signatures.find((s) => s.verified)?.signer ?? '-',
          item.value?.verified
            ? ''
            : item.value?.reasons[0]
              ? `${item.value.reasons[0].code}: ${item.value.reasons[0].message}`
              : (item.error ?? ''),
        ];
      });
      io.out(`environment ${environment}`);
      io.out(table([['VERDICT', 'IMAGE', 'SIGNER', 'REASON'], ...rows]).join('\n'));
      io.out('');
    }
    const sample = JSON.stringify({
      apiVersion: 'externaldata.gatekeeper.sh/v1beta1',
      kind: 'ProviderRequest',
      request: { keys: [`[staging]${content.images[1]!.reference}`] },
    });
    if (failures > 0) io.err(`vouch demo: ${failures} verdict(s) differ from what the demo expects`);
    const verifyCommand = `node dist/cli.js verify --config ${content.configFile} --env staging ${content.images[1]!.reference}`;
    if (keepRunning) {
      // Only a provider that is still there can be tried.
      io.out(`Try: curl -s ${provider.url}/v1/verify -d '${sample}'`);
      io.out(`     ${verifyCommand}`);
      io.out('\nServing until Ctrl-C.');
      await new Promise<void>((resolve) => {
        signals.once('SIGINT', () => resolve());
        signals.once('SIGTERM', () => resolve());
      });
    } else if (!temporary) {
      io.out(`Try: ${verifyCommand}\n     or run the demo with --keep-running to try the provider with curl`);
    } else {
      io.out('Try: vouch demo --keep-running (to try the provider with curl), or --dir DIR to keep the setup');
    }
  } finally {
    await provider.close();
  }
  return failures === 0 ? 0 : 1;
}

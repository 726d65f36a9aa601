// The cost of a verification that goes through a Notary Project plugin, next to one that does not, in
// the same run: NotationVerifier.verify of two envelopes by the same key, one plain and one naming the
// real `vouch-test` plugin (tools/notation-vouch-test, on the upstream Go plugin framework), which
// then decides trusted identity and revocation in a `verify-signature` process. Baselines: the plain
// verification, and starting the plugin executable with no work at all (`version`), so the table
// shows where the time goes: a process start (fork/exec of a Go binary, its runtime init) per
// plugin command. Rows with the metadata cache (the default: one process per verification) and
// without it (two: get-plugin-metadata, then verify-signature).
//
// What admission pays is smaller still: the engine caches a plugin's answer with the verification,
// so only a key's first verification (and one after cache.resultTtlMs) starts a plugin at all.

import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateCache, FileTrustStore } from '../src/trust/index.js';
import {
  createChainVerdictCache,
  NotationVerifier,
  PluginHost,
  RevocationChecker,
  signEnvelope,
  NOTARY_HEADER,
} from '../src/notation/index.js';
import { MEDIA_TYPE } from '../src/oci/index.js';
import { buildImage } from '../test/helpers/oci-fixtures.js';
import { installTestPlugin, TEST_PLUGIN_NAME } from '../test/helpers/notation-plugin.js';
import { generateChain } from '../test/helpers/pki.js';
import { formatMs, measure, printTable } from './stats.js';
import { writeBenchTrust } from './trust.js';

const ITERATIONS = Number(process.env['BENCH_PLUGIN_ITERATIONS'] ?? 200);

export async function benchPlugin(): Promise<void> {
  const { certificates, leaf, root } = await generateChain({ length: 2, leafKey: 'ec-p256' });
  const work = await mkdtemp(join(tmpdir(), 'vouch-bench-plugin-'));
  const { trustStore: store, statement } = await writeBenchTrust(work, root.certificate);
  const plugin = await installTestPlugin(join(work, 'plugins'), {});
  const subject = buildImage().descriptor;
  const sign = (plugin: boolean) =>
    signEnvelope({
      format: 'jws',
      privateKey: leaf.privateKey,
      certificateChain: certificates,
      payload: { targetArtifact: subject },
      ...(plugin
        ? {
            extraProtectedHeaders: { [NOTARY_HEADER.verificationPlugin]: TEST_PLUGIN_NAME },
            extraCritical: [NOTARY_HEADER.verificationPlugin],
          }
        : {}),
    });
  const plain = { mediaType: MEDIA_TYPE.jws, bytes: sign(false).bytes, subject };
  const named = { mediaType: MEDIA_TYPE.jws, bytes: sign(true).bytes, subject };

  const trustStore = new FileTrustStore(store);
  const revocation = new RevocationChecker({ offline: true });
  const verifier = (metadataTtlMs?: number) =>
    new NotationVerifier({
      trustStore,
      revocation,
      caches: { certificates: createCertificateCache(), verdicts: createChainVerdictCache() },
      plugins: {
        host: new PluginHost({ directory: plugin.directory, timeoutMs: 5000, ...(metadataTtlMs === undefined ? {} : { metadataTtlMs }) }),
      },
    });
  const cachedMetadata = verifier();
  const noMetadataCache = verifier(0);
  const expectVerified = async (v: NotationVerifier, input: typeof plain, plugged: boolean) => {
    const r = await v.verify(input, statement);
    if (!r.verified || (plugged && r.plugin === undefined)) throw new Error(`bench envelope does not verify: ${JSON.stringify(r.reasons)}`);
  };
  // The baseline of a plugin command: the same executable, started and waited for, doing nothing.
  const startOnly = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(plugin.executable, ['version'], { stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
      child.on('error', reject);
      child.on('close', () => resolve());
    });

  const samples = await measure(ITERATIONS, {
    plain: () => expectVerified(cachedMetadata, plain, false),
    plugin: () => expectVerified(cachedMetadata, named, true),
    pluginNoMetadataCache: () => expectVerified(noMetadataCache, named, true),
    processStart: startOnly,
  });
  console.log(`\nVerification through a plugin (vouch-test, a Go binary), ${ITERATIONS} iterations each, interleaved`);
  const base = samples.plain.p50;
  const start = samples.processStart.p50;
  printTable([
    ['verification', 'p50', 'p95', 'p99', '× plain', '× one process start'],
    ...(
      [
        ['plain envelope (no plugin)', samples.plain],
        ['names the plugin (metadata cached: verify-signature)', samples.plugin],
        ['names the plugin, no metadata cache (2 commands)', samples.pluginNoMetadataCache],
        ['baseline: start the plugin, no work', samples.processStart],
      ] as const
    ).map(([name, s]) => [name, formatMs(s.p50), formatMs(s.p95), formatMs(s.p99), (s.p50 / base).toFixed(1), (s.p50 / start).toFixed(2)]),
  ]);
  const overhead = samples.plugin.p50 - samples.plain.p50;
  console.log(
    `    a plugin adds ${formatMs(overhead)} at p50 to a verification, ${(overhead / start).toFixed(2)} process starts' worth; admission pays it once per key and result TTL (cached answers never start a plugin)`,
  );
}

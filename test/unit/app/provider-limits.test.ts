// The provider's bounds against a flood, end to end through startProvider on loopback:
// - metric labels chosen by keys or registries (attack item 6): registry hosts named by keys become
//   `vouch_registry_requests_total` series only when configured; every other host is `other`;
// - background work (attack item 7): `limits:` reaches the engine, refused keys are counted in
//   `vouch_overloaded_keys_total`, pending jobs are visible as `vouch_background_jobs` and the ones
//   running (at most limits.maxConcurrent) as `vouch_background_jobs_running`.

import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/index.js';
import { startProvider, type RunningProvider } from '../../../src/app/index.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/fake-registry.js';
import { startHungServer, type HungServer } from '../../helpers/hung-server.js';
import { writeTrustMaterial } from '../../helpers/trust-material.js';

const MISSING = `sha256:${'0'.repeat(64)}`;

/** A configuration file's text with one environment (trust material written to `dir`) plus `extra` YAML. */
async function configText(dir: string, extra: string): Promise<string> {
  await writeTrustMaterial(dir);
  return `server:\n  address: 127.0.0.1:0\n  requestTimeoutMs: 400\nenvironments:\n  prod: { trustPolicy: policy.json, trustStore: store }\n${extra}`;
}

async function withProvider(extra: (dir: string) => string, fn: (provider: RunningProvider) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-provider-limits-'));
  try {
    const config = parseConfig(await configText(dir, extra(dir)), join(dir, 'config.yaml'), { env: {} });
    const provider = await startProvider(config, { watch: false, defaultMetrics: false });
    try {
      await fn(provider);
    } finally {
      await provider.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function post(provider: RunningProvider, keys: string[]): Promise<Array<{ key: string; value?: unknown; error?: string }>> {
  const response = await fetch(`${provider.url}/v1/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
  });
  const body = (await response.json()) as {
    response: { items?: Array<{ key: string; value?: unknown; error?: string }>; systemError?: string };
  };
  // Keys undecided for now are not items but named in systemError (README "Undecided keys").
  const undecided =
    body.response.systemError === undefined
      ? []
      : (JSON.parse(body.response.systemError) as { undecided: Array<{ key: string; error: string }> }).undecided;
  return [...(body.response.items ?? []), ...undecided];
}

/** The label sets of every series of `metric` in a Prometheus text exposition. */
function series(exposition: string, metric: string): Array<Record<string, string>> {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${metric}{`))
    .map((line) => Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])));
}

/** Loopback listeners that drop every connection at once: registries no configuration names. */
async function startResettingServers(count: number): Promise<{ hosts: string[]; close(): Promise<void> }> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    servers.push(server);
  }
  return {
    hosts: servers.map((s) => `127.0.0.1:${(s.address() as AddressInfo).port}`),
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

test('provider: registry hosts named by keys get no series of their own unless configured', async (t) => {
  const registry: FakeRegistry = await startFakeRegistry();
  const strangers = await startResettingServers(150);
  try {
    await withProvider(
      () => `registries:\n  "${registry.host}": { plainHttp: true }\n`,
      async (provider) => {
        const keys = [`${registry.host}/team/app@${MISSING}`, ...strangers.hosts.map((host) => `${host}/team/app@${MISSING}`)];
        // Several requests, each within the per-request budget; every key reaches its registry.
        for (let i = 0; i < keys.length; i += 50) await post(provider, keys.slice(i, i + 50));
        const requests = series((await provider.metrics.render()).body, 'vouch_registry_requests_total');
        const hosts = new Set(requests.map((s) => s['host']));
        t.true(hosts.has(registry.host), 'the configured registry keeps its own label');
        t.true(hosts.has('other'), 'the others are counted together');
        t.deepEqual([...hosts].sort(), [registry.host, 'other'].sort());
        t.true(requests.length <= 12, `${requests.length} series`);
      },
    );
  } finally {
    await strangers.close();
    await registry.close();
  }
});

test('provider: `limits:` bounds background jobs; refused keys, pending and running jobs are in the metrics', async (t) => {
  const hung: HungServer = await startHungServer();
  try {
    await withProvider(
      () => `registries:\n  "${hung.host}": { plainHttp: true }\nlimits: { maxPendingPerRegistry: 5, maxPending: 10, maxConcurrent: 2 }\n`,
      async (provider) => {
        const keys = Array.from({ length: 20 }, (_, i) => `${hung.host}/team/app@sha256:${i.toString(16).padStart(64, '0')}`);
        const items = await post(provider, keys);
        t.is(items.length, 20);
        t.true(items.every((item) => item.error?.startsWith('DEADLINE_EXCEEDED: ')));
        t.is(provider.engine.stats().overloaded, 15);
        t.is(provider.engine.stats().pending, 5);
        t.is(provider.engine.stats().running, 2);
        t.true(hung.connections <= 4, `${hung.connections} connections to the hung registry`);
        const exposition = (await provider.metrics.render()).body;
        t.regex(exposition, /^vouch_background_jobs 5$/m);
        t.regex(exposition, /^vouch_background_jobs_running 2$/m);
        t.regex(exposition, /^vouch_overloaded_keys_total\{limit="registry"\} 15$/m);
        t.regex(exposition, /^vouch_key_outcomes_total\{route="\/v1\/verify",outcome="DEADLINE_EXCEEDED",environment="[^"]*"\} 20$/m);
      },
    );
  } finally {
    await hung.close();
  }
});

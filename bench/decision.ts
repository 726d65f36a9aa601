// The compiled WASM decision (wasm/policy.wasm, docs/decision.md) next to what it sits beside at
// admission: for one Deployment of 50 containers whose 50 signed images vouch has already verified,
//  - one cached POST /v1/verify round trip for the same 50 keys (the provider call a host makes first);
//  - the `violations` and `keys` entrypoints through src/policy's WasmPolicy (a worker thread per
//    policy, so a runaway policy can be stopped), and through @open-policy-agent/opa-wasm on the
//    calling thread (what the worker costs on top of the evaluation itself).
// All measured interleaved in the same run; the figure to read is the ratio to the round trip.
// Then an environment decision policy (docs/policies.md; the shipped recent_signature.rego, compiled
// at start by vouch with the real opa): the same cache miss verified in an environment without and
// with it, interleaved, so the difference is what the policy adds to one verification; and the
// policy's evaluation alone, to tell it from the noise of the registry round trips.

import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { Agent } from 'undici';
import { stringify } from 'yaml';
import { createRuntime, startProvider } from '../src/app/index.js';
import { loadConfig } from '../src/config/index.js';
import { moduleLogger } from '../src/log.js';
import { loadPolicyBytes, loadPolicyFile } from '../src/policy/index.js';
import { REPO_ROOT, toolPath } from '../test/helpers/registries.js';
import { postVerify, prepare, providerRequest, type Setup } from './provider.js';
import { formatMs, measure, printTable } from './stats.js';

const IMAGES = 50;
const ITERATIONS = Number(process.env['BENCH_DECISION_ITERATIONS'] ?? 400);
const POLICY_ITERATIONS = Number(process.env['BENCH_POLICY_ITERATIONS'] ?? 150);

export async function benchDecision(): Promise<void> {
  const log = moduleLogger('bench');
  const s = await prepare(IMAGES);
  const provider = await startProvider(s.config, { watch: false, defaultMetrics: false, logger: log });
  const agent = new Agent();
  const wasm = new Uint8Array(await readFile(join(REPO_ROOT, 'wasm', 'policy.wasm')));
  const policy = await loadPolicyBytes(wasm, 'wasm', { timeoutMs: 5_000 });
  const inThread = await loadPolicy(wasm);
  try {
    const images = s.images.map((i) => i.key);
    const keys = images.map((image) => `[bench]${image}`);
    const body = providerRequest(keys);
    await postVerify(agent, provider.url, body); // verify once: every later call is answered from the cache
    const answer = await postVerify(agent, provider.url, body);
    const items = answer.response.items ?? [];
    if (items.length !== IMAGES || items.some((item) => (item.value as { cached?: boolean } | undefined)?.cached !== true))
      throw new Error(`expected ${IMAGES} cached items, got ${JSON.stringify(items).slice(0, 300)}`);

    const object = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bench', namespace: 'bench' },
      spec: { template: { spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } } },
    };
    const parameters = { environment: 'bench' };
    const responses = Object.fromEntries(items.map((item) => [item.key, item.value ?? { error: item.error }]));
    const decisionInput = { object, parameters, responses };
    const keysInput = { object, parameters };

    // Same answer from every path before timing anything.
    const violations = await policy.evaluate('vouch/decision/violations', decisionInput);
    if (!Array.isArray(violations) || violations.length !== 0) throw new Error(`expected no violations: ${JSON.stringify(violations)}`);
    const collected = await policy.evaluate('vouch/decision/keys', keysInput);
    if (!Array.isArray(collected) || collected.length !== IMAGES) throw new Error(`expected ${IMAGES} keys from the decision`);
    const direct = inThread.evaluate(decisionInput, 'vouch/decision/violations') as Array<{ result: unknown }>;
    if (JSON.stringify(direct[0]?.result) !== JSON.stringify(violations))
      throw new Error('opa-wasm on the thread disagrees with WasmPolicy');

    const samples = await measure(ITERATIONS, {
      'cached POST /v1/verify (50 keys)': async () => {
        await postVerify(agent, provider.url, body);
      },
      'WasmPolicy violations': async () => {
        await policy.evaluate('vouch/decision/violations', decisionInput);
      },
      'WasmPolicy keys': async () => {
        await policy.evaluate('vouch/decision/keys', keysInput);
      },
      'opa-wasm on the thread, violations': async () => {
        inThread.evaluate(decisionInput, 'vouch/decision/violations');
      },
    });
    const baseline = samples['cached POST /v1/verify (50 keys)'];
    console.log(
      `\nThe compiled WASM decision for one Deployment of ${IMAGES} containers (${IMAGES} signed images, verified and cached), ` +
        `${ITERATIONS} iterations, interleaved`,
    );
    printTable([
      ['variant', 'p50', 'p99', 'decisions/s (1 ÷ mean)', '÷ cached /v1/verify p50'],
      ...Object.entries(samples).map(([name, sample]) => [
        name,
        formatMs(sample.p50),
        formatMs(sample.p99),
        name.startsWith('cached') ? '-' : (1000 / sample.mean).toFixed(0),
        (sample.p50 / baseline.p50).toFixed(2),
      ]),
    ]);
    console.log(
      `    input: ${(JSON.stringify(decisionInput).length / 1024).toFixed(1)} KiB of JSON (the 50 cached results as /v1/verify returns them)`,
    );
  } finally {
    await policy.close();
    await agent.close();
    await provider.close();
  }
  try {
    await benchEnvironmentPolicy(s);
  } finally {
    await s.registry.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

/** One cache miss verified without and with an environment decision policy, interleaved. */
async function benchEnvironmentPolicy(s: Setup): Promise<void> {
  const trust = { trustPolicy: join(s.dir, 'trustpolicy.json'), trustStore: join(s.dir, 'truststore') };
  const policyFile = join(REPO_ROOT, 'examples', 'environment-policies', 'recent_signature.rego');
  const file = join(s.dir, 'vouch-policy.yaml');
  await writeFile(
    file,
    stringify({
      server: { address: '127.0.0.1:0' },
      defaultEnvironment: 'plain',
      environments: { plain: trust, 'with-policy': { ...trust, policy: policyFile } },
      registries: { [s.registry.host]: { plainHttp: true } },
    }),
  );
  const runtime = await createRuntime(await loadConfig(file), { logger: moduleLogger('bench'), watch: false, opaPath: toolPath('opa') });
  const alone = await loadPolicyFile(policyFile, { opaPath: toolPath('opa'), timeoutMs: 5_000 });
  try {
    const image = s.images[0]!.key;
    const missIn = async (environment: string): Promise<void> => {
      runtime.engine.clearCache();
      const [result] = await runtime.engine.verify([`[${environment}]${image}`], { deadline: Date.now() + 30_000 });
      if (result?.value?.verified !== true) throw new Error(`${environment}: not verified: ${JSON.stringify(result)}`);
    };
    // The input vouch gives the policy for this image (docs/policies.md "Input"), one signature.
    const now = new Date();
    const input = {
      environment: 'with-policy',
      reference: image,
      digest: s.images[0]!.subject.digest,
      verified: true,
      signatures: [
        {
          type: 'notation',
          digest: 'sha256:' + '0'.repeat(64),
          verified: true,
          trustPolicy: 'bench',
          level: 'strict',
          signer: 'CN=bench signer, O=Vouch Bench, ST=WA, C=US',
          signingTime: now.toISOString(),
          signingTimeUnix: Math.floor(now.getTime() / 1000),
          reasons: [],
        },
      ],
    };
    const entrypoint = alone.entrypoints[0]!;
    const samples = await measure(POLICY_ITERATIONS, {
      'cache miss, no policy': () => missIn('plain'),
      'cache miss, recent_signature.rego': () => missIn('with-policy'),
      'the policy alone (WasmPolicy.evaluate)': async () => {
        await alone.evaluate(entrypoint, input);
      },
    });
    const without = samples['cache miss, no policy'];
    const withPolicy = samples['cache miss, recent_signature.rego'];
    console.log(
      `\nAn environment decision policy's cost per verification: one signed image verified as a cache miss (olareg, loopback, ` +
        `warm connections), without and with a policy, ${POLICY_ITERATIONS} iterations, interleaved`,
    );
    printTable([
      ['variant', 'p50', 'p95', 'mean'],
      ...Object.entries(samples).map(([name, sample]) => [name, formatMs(sample.p50), formatMs(sample.p95), formatMs(sample.mean)]),
    ]);
    console.log(
      `    added by the policy: p50 ${formatMs(withPolicy.p50 - without.p50)} (×${(withPolicy.p50 / without.p50).toFixed(2)}), ` +
        `mean ${formatMs(withPolicy.mean - without.mean)}; a cached answer costs nothing extra (the verdict is cached with the result)`,
    );
  } finally {
    await alone.close();
    await runtime.close();
  }
}

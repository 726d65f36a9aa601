// The engine with verification plugins (EnginePlugins): each environment's plugin configuration reaches the plugin,
// a plugin's answer is cached with the verification it belongs to (a verdict for resultTtlMs, PLUGIN_ERROR only for
// undecidedTtlMs), so a cached key runs no plugin. The plugin is a real process: a small script written here.

import test from 'ava';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLUGIN_CAPABILITY, PluginHost, pluginEnvironment, type PluginConfig } from '../../../src/notation/index.js';
import { buildSignatureManifest, signEnvelope } from '../../../src/notation/sign.js';
import { buildImage, pushManifest, pushReferrer } from '../../helpers/oci-fixtures.js';
import { harness, later, pki } from './setup.js';

const NAME = 'acme-kms';

/** A plugin that trusts everything, except that pluginConfig mode=crash makes verify-signature exit without an answer. */
async function installPlugin(): Promise<{ directory: string; calls(): Promise<string[]> }> {
  const directory = await mkdtemp(join(tmpdir(), 'vouch-engine-plugins-'));
  const folder = join(directory, NAME);
  await mkdir(folder, { mode: 0o755 });
  const metadata = {
    name: NAME,
    description: 'engine test plugin',
    version: '1.0.0',
    url: 'https://example.com',
    supportedContractVersions: ['1.0'],
    capabilities: [PLUGIN_CAPABILITY.trustedIdentityVerifier, PLUGIN_CAPABILITY.revocationCheckVerifier],
  };
  const answer = {
    verificationResults: {
      [PLUGIN_CAPABILITY.trustedIdentityVerifier]: { success: true },
      [PLUGIN_CAPABILITY.revocationCheckVerifier]: { success: true },
    },
    processedAttributes: [],
  };
  await writeFile(join(folder, 'metadata.json'), JSON.stringify(metadata));
  await writeFile(join(folder, 'answer.json'), JSON.stringify(answer));
  const script = [
    '#!/bin/sh',
    'case "$1" in',
    '  get-plugin-metadata) cat metadata.json ;;',
    '  verify-signature)',
    '    request=$(cat)',
    '    case "$request" in',
    '      *\'"mode":"crash"\'*) echo crash >> calls; echo boom >&2; exit 3 ;;',
    '    esac',
    '    echo ok >> calls; cat answer.json ;;',
    '  *) exit 1 ;;',
    'esac',
    '',
  ].join('\n');
  await writeFile(join(folder, `notation-${NAME}`), script);
  await chmod(join(folder, `notation-${NAME}`), 0o755);
  return {
    directory,
    calls: async () => (await readFile(join(folder, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
  };
}

test('engine: plugin answers are cached with the verification; PLUGIN_ERROR only for undecidedTtlMs; per-environment configuration', async (t) => {
  const plugin = await installPlugin();
  const configs = new Map<string, ReadonlyMap<string, PluginConfig>>([
    ['prod', new Map([[NAME, { mode: 'ok' }]])],
    ['staging', new Map([[NAME, { mode: 'crash' }]])],
  ]);
  const h = await harness({
    engine: {
      plugins: {
        host: new PluginHost({ directory: plugin.directory, timeoutMs: 10_000, environment: pluginEnvironment([]) }),
        configFor: (environment) => configs.get(environment),
      },
      cache: { undecidedTtlMs: 5_000 },
    },
  });
  t.teardown(() => h.close());
  // Both environments trust the same store and apply to the repository.
  h.environments.map.set('staging', { ...h.environments.get('prod')!, name: 'staging' });

  const { trusted } = await pki();
  const image = buildImage();
  const descriptor = await pushManifest(h.repo, image, 'v1');
  const envelope = signEnvelope({
    format: 'jws',
    privateKey: trusted.leaf.privateKey,
    certificateChain: trusted.certificates,
    payload: { targetArtifact: descriptor },
    extraProtectedHeaders: { 'io.cncf.notary.verificationPlugin': NAME },
    extraCritical: ['io.cncf.notary.verificationPlugin'],
  });
  await pushReferrer(h.repo, buildSignatureManifest(envelope, descriptor, { form: 'artifactType' }));

  const [verified] = await h.engine.verify([h.key(descriptor.digest, 'prod')], later(h));
  t.true(verified?.value?.verified, JSON.stringify(verified));
  const signature = verified?.value?.signatures[0];
  t.deepEqual(signature?.type === 'notation' ? signature.plugin : undefined, {
    name: NAME,
    version: '1.0.0',
    checks: ['authenticity', 'revocation'],
  });
  t.deepEqual(await plugin.calls(), ['ok']);
  const [again] = await h.engine.verify([h.key(descriptor.digest, 'prod')], later(h));
  t.true(again?.value?.cached);
  t.deepEqual(await plugin.calls(), ['ok'], 'a cached verdict runs no plugin');

  const [undecided] = await h.engine.verify([h.key(descriptor.digest, 'staging')], later(h));
  t.is(undecided?.error?.code, 'PLUGIN_ERROR');
  t.is(undecided?.error?.reason, 'PLUGIN_CRASHED');
  t.deepEqual(await plugin.calls(), ['ok', 'crash']);
  const [cachedUndecided] = await h.engine.verify([h.key(descriptor.digest, 'staging')], later(h));
  t.is(cachedUndecided?.error?.code, 'PLUGIN_ERROR');
  t.deepEqual(await plugin.calls(), ['ok', 'crash'], 'cached for undecidedTtlMs');
  h.clock.now += 6_000;
  const [retried] = await h.engine.verify([h.key(descriptor.digest, 'staging')], later(h));
  t.is(retried?.error?.code, 'PLUGIN_ERROR');
  t.deepEqual(await plugin.calls(), ['ok', 'crash', 'crash'], 'asked again once undecidedTtlMs passed');
});

// The README's walkthrough "Sign and verify your own image", run as written: its `sh` blocks, in order, in one bash
// (set -euo pipefail) in a fresh temporary directory, with the real olareg-serve, oras, notation and a built vouch
// (`npm run build`, the walkthrough's own prerequisite). Only the settings of its first block are replaced
// (VOUCH_REPO, REGISTRY, PORT, GRPC_PORT: this checkout and free ports); everything else runs verbatim. Each `text`
// block must match the output of the `sh` block before it (`…` matches anything), and the answers are checked as data:
// verified in dev, UNTRUSTED_SIGNER in prod, from `vouch verify`, `/v1/verify` and gRPC. HOME and XDG_CONFIG_HOME
// point into the temporary directory, so notation never touches the real home; the script runs in its own process
// group, which is killed afterwards whatever happened, so no registry or vouch outlives the test.
import test from 'ava';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, toolPath } from '../helpers/registries.js';
import { buildOnce } from '../helpers/build.js';
import { escapeRegExp, readmeBlocks, runWalkthrough } from '../helpers/readme.js';

const BLOCK_MARK = '@@walkthrough-block-end@@';
/** The settings the README's first block assigns, and the value it shows for the registry (in expected output). */
const SETTINGS = ['VOUCH_REPO', 'REGISTRY', 'PORT', 'GRPC_PORT'] as const;
const README_REGISTRY = '127.0.0.1:5000';

test('README "Sign and verify your own image" runs as written and answers verified in dev, not in prod', async (t) => {
  t.timeout(180_000);
  for (const tool of ['olareg-serve', 'oras', 'notation'] as const) toolPath(tool);
  const blocks = await readmeBlocks('walkthrough');
  const shellBlocks = blocks.filter((b) => b.lang === 'sh');
  t.true(shellBlocks.length >= 6, 'the walkthrough lost its steps');

  const dir = await mkdtemp(join(tmpdir(), 'vouch-walkthrough-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const work = join(dir, 'work');
  await mkdir(work);
  await buildOnce();

  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [registryPort, httpPort, grpcPort] = [...ports] as [number, number, number];
  const registry = `127.0.0.1:${registryPort}`;
  const values: Record<(typeof SETTINGS)[number], string> = {
    VOUCH_REPO: REPO_ROOT,
    REGISTRY: registry,
    PORT: String(httpPort),
    GRPC_PORT: String(grpcPort),
  };
  const { outputs, context } = await runWalkthrough(t, {
    blocks,
    settings: values,
    dir,
    work,
    logFile: join(work, 'vouch.log'),
    readmeRegistry: README_REGISTRY,
    registry,
    blockMark: BLOCK_MARK,
  });

  const image = outputs.join('\n').match(new RegExp(`^${escapeRegExp(registry)}/hello@sha256:[0-9a-f]{64}$`, 'm'))?.[0];
  t.truthy(image, `the walkthrough printed no image reference\n${context}`);

  const verifyOutput = outputs.find((o) => o.includes('VERDICT')) ?? '';
  t.regex(verifyOutput, new RegExp(`^VERIFIED\\s+dev\\s+${escapeRegExp(image!)}\\s+.*CN=dev$`, 'm'));
  t.regex(verifyOutput, new RegExp(`^NOT VERIFIED\\s+prod\\s+${escapeRegExp(image!)}\\s+.*CN=dev\\s+UNTRUSTED_SIGNER: `, 'm'));
  t.regex(verifyOutput, /^exit status 1$/m);

  const httpOutput = outputs.find((o) => o.startsWith('{')) ?? '';
  const answer = JSON.parse(httpOutput) as {
    kind: string;
    response: {
      items: {
        key: string;
        value?: { verified: boolean; environment: string; reasons: { code: string }[]; signatures: { signer: string }[] };
      }[];
      systemError?: string;
    };
  };
  t.is(answer.kind, 'ProviderResponse');
  t.is(answer.response.systemError, undefined);
  const [dev, prod] = answer.response.items;
  t.is(dev?.key, `[dev]${image}`);
  t.is(dev?.value?.verified, true);
  t.regex(dev?.value?.signatures[0]?.signer ?? '', /CN=dev/);
  t.is(prod?.key, `[prod]${image}`);
  t.is(prod?.value?.verified, false);
  t.is(prod?.value?.reasons[0]?.code, 'UNTRUSTED_SIGNER');

  const grpcOutput = outputs.find((o) => o.startsWith('dev ')) ?? '';
  t.deepEqual(grpcOutput.split('\n'), ['dev VERIFIED', 'prod NOT VERIFIED (UNTRUSTED_SIGNER)']);

  // notation wrote its keys where the walkthrough said, inside the temporary directory.
  await t.notThrowsAsync(readFile(join(work, 'config', 'notation', 'localkeys', 'dev.crt')));
});

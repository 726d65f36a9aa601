// The README's walkthrough "Sign and verify your own image", run as written: its `sh` blocks, in order, in one bash
// (set -euo pipefail) in a fresh temporary directory, with the real olareg-serve, oras, notation and a built vouch
// (`npm run build`, the walkthrough's own prerequisite). Only the settings of its first block are replaced
// (VOUCH_REPO, REGISTRY, PORT, GRPC_PORT: this checkout and free ports); everything else runs verbatim. Each `text`
// block must match the output of the `sh` block before it (`…` matches anything), and the answers are checked as data:
// verified in dev, UNTRUSTED_SIGNER in prod, from `vouch verify`, `/v1/verify` and gRPC. HOME and XDG_CONFIG_HOME
// point into the temporary directory, so notation never touches the real home; the script runs in its own process
// group, which is killed afterwards whatever happened, so no registry or vouch outlives the test.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, REPO_ROOT, toolPath } from '../helpers/registries.js';
import { escapeRegExp, readmeBlocks, runScript, showsLines } from '../helpers/readme.js';

const run = promisify(execFile);
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
  await run('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeout: 120_000 });

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
  let settings = shellBlocks[0]!.body;
  for (const name of SETTINGS) {
    const assignment = new RegExp(`^${name}=\\S+`, 'm');
    t.regex(settings, assignment, `the first walkthrough block no longer sets ${name}`);
    settings = settings.replace(assignment, `${name}='${values[name]}'`);
  }
  const script = [
    'set -euo pipefail',
    ...[settings, ...shellBlocks.slice(1).map((b) => b.body)].map((body) => `${body}\nprintf '\\n%s\\n' '${BLOCK_MARK}'`),
  ].join('\n');
  const scriptFile = join(dir, 'walkthrough.sh');
  await writeFile(scriptFile, script);

  const result = await runScript(scriptFile, work, {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'xdg-config'),
    XDG_CACHE_HOME: join(dir, 'xdg-cache'),
    LANG: 'C.UTF-8',
  });
  const vouchLog = await readFile(join(work, 'vouch.log'), 'utf8').catch(() => '(no vouch.log)');
  const context = `exit ${result.code} ${result.signal ?? ''}${result.timedOut ? ' (timed out)' : ''}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n--- vouch.log\n${vouchLog}`;
  t.is(result.code, 0, context);

  // Output per sh block (the marker follows each one), and each text block checked against its sh block's output.
  const outputs = result.stdout.split(`\n${BLOCK_MARK}\n`).map((o) => o.trim());
  t.is(outputs.length, shellBlocks.length + 1, context);
  let shellIndex = -1;
  for (const block of blocks) {
    if (block.lang === 'sh') shellIndex++;
    if (block.lang !== 'text') continue;
    const expected = block.body.replaceAll(README_REGISTRY, registry);
    const shown = showsLines(outputs[shellIndex]!, expected);
    t.true(shown.ok, `README output line not shown by block ${shellIndex + 1}: ${shown.ok ? '' : shown.missing}\n${context}`);
  }

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

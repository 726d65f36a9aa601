// The README's walkthrough "Promote an image", run as written, like readme-walkthrough.test.ts: its `sh` blocks, in
// order, in one bash (set -euo pipefail) in a fresh temporary directory, with the real olareg-serve and notation and
// a built vouch (`npm run build`, the walkthrough's own prerequisite) over the demo's environments (`vouch demo --dir
// demo`). Only the settings of its first block are replaced (VOUCH_REPO, REGISTRY: this checkout and a free port);
// everything else runs verbatim. Each `text` block must be shown by the output of the `sh` block before it (`…`
// matches anything): that block's stderr (where vouch reports a refusal) followed by its stdout, as a terminal shows
// them. The answers are then checked as data: the wrong key refused with UNTRUSTED_SIGNER (exit 1) and nothing
// written, prod and staging VERIFIED at the destination, notation verifying prod's stamp, the re-run copying and
// signing nothing. HOME and XDG_CONFIG_HOME point into the temporary directory, so notation never touches the real
// home; the script runs in its own process group, killed afterwards whatever happened, so no registry outlives it.
import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, toolPath } from '../helpers/registries.js';
import { buildOnce } from '../helpers/build.js';
import { escapeRegExp, readmeBlocks, runWalkthrough } from '../helpers/readme.js';

const BLOCK_MARK = '@@promote-walkthrough-block-end@@';
/** The settings the README's first block assigns, and the value it shows for the registry (in expected output). */
const SETTINGS = ['VOUCH_REPO', 'REGISTRY'] as const;
const README_REGISTRY = '127.0.0.1:5000';
const DIGEST = 'sha256:[0-9a-f]{64}';

test('README "Promote an image" runs as written: the wrong key refused, prod stamped and verified, a re-run copies nothing', async (t) => {
  t.timeout(180_000);
  for (const tool of ['olareg-serve', 'notation'] as const) toolPath(tool);
  const blocks = await readmeBlocks('promote-walkthrough');
  const shellBlocks = blocks.filter((b) => b.lang === 'sh');
  t.true(shellBlocks.length >= 9, 'the walkthrough lost its steps');

  const dir = await mkdtemp(join(tmpdir(), 'vouch-promote-walkthrough-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const work = join(dir, 'work');
  await mkdir(work);
  await buildOnce();

  const registry = `127.0.0.1:${await freePort()}`;
  const values: Record<(typeof SETTINGS)[number], string> = { VOUCH_REPO: REPO_ROOT, REGISTRY: registry };
  const { outputs, errors, context } = await runWalkthrough(t, {
    blocks,
    settings: values,
    dir,
    work,
    logFile: join(work, 'registry.log'),
    readmeRegistry: README_REGISTRY,
    registry,
    blockMark: BLOCK_MARK,
  });

  const blockOf = (command: RegExp): number => {
    const index = shellBlocks.findIndex((b) => command.test(b.body));
    t.not(index, -1, `no walkthrough block runs ${command}`);
    return index;
  };
  const image = new RegExp(`${escapeRegExp(registry)}/shop/api@${DIGEST}`);

  // The wrong key: refused before anything was written, with admission's code, exit status 1.
  const wrongKey = blockOf(/--sign-for prod --key demo\/keys\/staging\.key/);
  t.regex(errors[wrongKey]!, /^vouch promote: UNTRUSTED_SIGNER \(NOT_ADMISSIBLE\): environment prod /m, context);
  t.regex(outputs[wrongKey]!, /^exit status 1$/m, context);
  t.regex(outputs[wrongKey]!, /^404$/m, 'the refused promotion wrote the tag');
  t.notRegex(outputs[wrongKey]!, /^copied /m);

  // The real promotion: copied, signed and verified for prod.
  const promotions = shellBlocks.map((b, i) => (/--sign-for prod --key demo\/keys\/prod\.key/.test(b.body) ? i : -1)).filter((i) => i >= 0);
  t.is(promotions.length, 2, "the walkthrough promotes with prod's key twice (the promotion and its re-run)");
  const [first, again] = promotions as [number, number];
  t.regex(outputs[first]!, /^copied\s+image\s/m, context);
  t.regex(outputs[first]!, /^copied\s+referrer\s/m, context);
  t.regex(outputs[first]!, new RegExp(`^prod: signed ${DIGEST} by CN=release, .*; verified for prod at `, 'm'), context);

  // Admission agrees in both environments.
  const verify = blockOf(/^vouch verify .*--env prod /m);
  t.regex(outputs[verify]!, new RegExp(`^VERIFIED\\s+prod\\s+${image.source}\\s+CN=release,`, 'm'), context);
  t.regex(outputs[verify]!, new RegExp(`^VERIFIED\\s+staging\\s+${image.source}\\s+CN=ci-staging,`, 'm'), context);
  t.notRegex(outputs[verify]!, /NOT VERIFIED/);

  // The real notation accepts prod's stamp with prod's trust.
  const notation = blockOf(/^notation verify /m);
  t.regex(outputs[notation]!, new RegExp(`^Successfully verified signature for ${image.source}$`, 'm'), context);

  // The re-run copied nothing and pushed no second signature.
  const rows = outputs[again]!.split('\n').filter((line) => /^(copied|mounted|exists|would copy)\s/.test(line));
  t.is(rows.length, 6, context);
  t.true(
    rows.every((line) => line.startsWith('exists ')),
    context,
  );
  t.regex(outputs[again]!, /nothing to copy/);
  t.regex(outputs[again]!, /^prod: already signed .*: nothing pushed; verified for prod at /m);

  // What travelled, and prod's stamp: two signatures at the destination, one per environment.
  const tree = blockOf(/^vouch referrers --tree .*"\$REGISTRY\/shop\/api:2\.3"/m);
  t.regex(outputs[tree]!, /^found\s+2 referrer\(s\)$/m, context);
  t.regex(outputs[tree]!, /^verdict\s+staging: verified; prod: verified$/m, context);
});

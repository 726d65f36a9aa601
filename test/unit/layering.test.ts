// The layering rules of .dependency-cruiser.cjs (run by `npm run lint`) can fail: depcruise, with the
// project's own configuration, on a small tree that breaks each rule once, must report each break;
// and the real src/ must pass them.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

function run(cwd: string, outputType: 'json' | 'err'): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', outputType],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ stdout, stderr, exitCode: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 }),
    );
  });
}

/**
 * depcruise on `cwd`/src with the project's rules: the violations (from its JSON report) and the
 * exit code of `npm run lint:layers`'s own invocation (the err reporter; the JSON one always exits 0).
 */
async function depcruise(cwd: string): Promise<{ violations: Violation[]; exitCode: number }> {
  const [json, err] = await Promise.all([run(cwd, 'json'), run(cwd, 'err')]);
  let violations: Violation[];
  try {
    violations = (JSON.parse(json.stdout) as { summary: { violations: Violation[] } }).summary.violations;
  } catch {
    throw new Error(`depcruise gave no JSON report: ${json.stderr}`);
  }
  return { violations, exitCode: err.exitCode };
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
}

const TSCONFIG = JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } });

test('layering: every rule fails on a tree that breaks it', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-layering-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeTree(root, {
    'tsconfig.json': TSCONFIG,
    'test/helper.ts': 'export const helper = 1;\n',
    'src/log.ts': 'export const log = 1;\n',
    // an outward import from the bottom layer, and core using the logger (core is pure)
    'src/core/index.ts': "import { log } from '../log.js';\nexport const core = log;\n",
    'src/core/outward.ts': "import { server } from '../server/index.js';\nexport const outward = server;\n",
    'src/server/index.ts': 'export const server = 1;\n',
    'src/config/index.ts': 'export const config = 1;\n',
    // the servers are given a runtime, they never build one; the CLI reaches servers only through app
    'src/app/index.ts': 'export const app = 1;\n',
    'src/server/uses-app.ts': "import { app } from '../app/index.js';\nexport const usesApp = app;\n",
    'src/cli/serves.ts': "import { server } from '../server/index.js';\nexport const serves = server;\n",
    // config takes its defaults from server; server never reads config
    'src/server/reads-config.ts': "import { config } from '../config/index.js';\nexport const readsConfig = config;\n",
    // oci must not see config
    'src/oci/index.ts': "import { config } from '../config/index.js';\nexport const oci = config;\n",
    // the policy runtime sits beside notation: it must not see it (nor anything but core and log)
    'src/policy/index.ts': "import { notation } from '../notation/index.js';\nexport const policy = notation;\n",
    // a cycle inside one folder, closed by a type-only import
    'src/trust/index.ts': "export { a } from './a.js';\n",
    'src/trust/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
    'src/trust/b.ts': "import type { a } from './a.js';\nexport const b: typeof a | undefined = undefined;\n",
    // an allowed layer, reached past its index
    'src/notation/index.ts': "import { a } from '../trust/a.js';\nexport const notation = a;\n",
    // a test helper in src
    'src/verify/index.ts': "import { helper } from '../../test/helper.js';\nexport const verify = helper;\n",
    // an entry point imported from inside, and the package entry exporting the CLI
    'src/verify/uses-entry.ts': "import { index } from '../index.js';\nexport const usesEntry = index;\n",
    'src/cli/main.ts': 'export const main = 1;\n',
    'src/index.ts': "export { main } from './cli/main.js';\nexport const index = 1;\n",
    // an import nothing can resolve is an import nothing checks
    'src/verify/missing.ts': "import { gone } from '../oci/gone.js';\nexport const missing = gone;\n",
  });

  const { violations, exitCode } = await depcruise(root);
  t.not(exitCode, 0, 'npm run lint fails');
  const found = violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
  const expected = [
    'layer-core: src/core/index.ts → src/log.ts',
    'layer-core: src/core/outward.ts → src/server/index.ts',
    'layer-oci: src/oci/index.ts → src/config/index.ts',
    'layer-policy: src/policy/index.ts → src/notation/index.ts',
    'layer-server: src/server/uses-app.ts → src/app/index.ts',
    'layer-server: src/server/reads-config.ts → src/config/index.ts',
    'layer-cli: src/cli/serves.ts → src/server/index.ts',
    'no-circular: src/trust/a.ts → src/trust/b.ts',
    'through-index: src/notation/index.ts → src/trust/a.ts',
    'no-tests-in-src: src/verify/index.ts → test/helper.ts',
    'no-import-of-entry-points: src/verify/uses-entry.ts → src/index.ts',
    'entry-index: src/index.ts → src/cli/main.ts',
    'not-to-unresolvable: src/verify/missing.ts → ../oci/gone.js',
  ];
  for (const violation of expected) t.true(found.includes(violation), `expected ${violation}; found:\n${found.join('\n')}`);
});

test('layering: a tree that follows the rules passes', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vouch-layering-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeTree(root, {
    'tsconfig.json': TSCONFIG,
    'src/log.ts': 'export const log = 1;\n',
    'src/core/index.ts': "export { core } from './core.js';\n",
    'src/core/core.ts': 'export const core = 1;\n',
    'src/oci/index.ts': "import { core } from '../core/index.js';\nimport { log } from '../log.js';\nexport const oci = core + log;\n",
    'src/trust/index.ts': "import { core } from '../core/index.js';\nexport const trust = core;\n",
    'src/notation/index.ts':
      "import { oci } from '../oci/index.js';\nimport { trust } from '../trust/index.js';\nexport const notation = oci + trust;\n",
    'src/policy/index.ts':
      "import { core } from '../core/index.js';\nimport { log } from '../log.js';\nexport const policy = core + log;\n",
    'src/verify/index.ts':
      "import { notation } from '../notation/index.js';\nimport { policy } from '../policy/index.js';\nexport const verify = notation + policy;\n",
    'src/server/index.ts': "import { verify } from '../verify/index.js';\nexport const server = verify;\n",
    'src/config/index.ts':
      "import { oci } from '../oci/index.js';\nimport { server } from '../server/index.js';\nexport const config = oci + server;\n",
    'src/app/index.ts':
      "import { config } from '../config/index.js';\nimport { server } from '../server/index.js';\nexport const app = config + server;\n",
    'src/cli/main.ts': "import { app } from '../app/index.js';\nexport const main = app;\n",
    'src/cli.ts': "import { main } from './cli/main.js';\nexport const bin = main;\n",
    'src/index.ts': "export { app } from './app/index.js';\nexport { core } from './core/index.js';\n",
  });
  t.deepEqual(await depcruise(root), { violations: [], exitCode: 0 });
});

test('layering: src/ follows the rules', async (t) => {
  const { violations, exitCode } = await depcruise(ROOT);
  t.is(exitCode, 0);
  t.deepEqual(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
  );
});

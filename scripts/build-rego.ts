// Generates the files that must not drift from rego/ (README "Policies: Gatekeeper and Rego"):
//   deploy/gatekeeper/template.yaml  the ConstraintTemplate, embedding rego/gatekeeper/vouch_signed_images.rego and
//                                    every rego/lib/*.rego (tests excluded) as its libs
//   deploy/gatekeeper/gator/template-*.yaml
//                                    the same template plus one stub lib defining external_data, for `gator verify`
//                                    only: gator v3.20.1 never registers the external_data builtin (its rego driver
//                                    does so only when given a provider cache), so it cannot compile the real template
//   rego/capabilities.json           `opa capabilities --current` of the pinned OPA plus Gatekeeper's external_data
//                                    builtin, so `opa check`/`opa test --capabilities` type-check templates like Gatekeeper
//
//   npx tsx scripts/build-rego.ts                  # write everything
//   npx tsx scripts/build-rego.ts --capabilities   # only the capabilities (after bumping OPA in tools/opa)
//   npx tsx scripts/build-rego.ts --template       # only the templates
//   npx tsx scripts/build-rego.ts --check          # compare instead of writing; exit 1 when a file is stale
//
// Output goes through prettier so that `npm run lint` (prettier --check .) accepts the committed files as they are.
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import { Document } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEMPLATE_FILE = join(ROOT, 'deploy', 'gatekeeper', 'template.yaml');
const GATOR_DIR = join(ROOT, 'deploy', 'gatekeeper', 'gator');
const CAPABILITIES_FILE = join(ROOT, 'rego', 'capabilities.json');
const ENTRYPOINT_FILE = join(ROOT, 'rego', 'gatekeeper', 'vouch_signed_images.rego');
const LIB_DIR = join(ROOT, 'rego', 'lib');
const OPA = join(ROOT, '.tools', 'bin', 'opa');

/** external_data exactly as Gatekeeper declares it (frameworks drivers/rego/new.go: one `any` argument, `any` result). */
const EXTERNAL_DATA_BUILTIN = {
  name: 'external_data',
  decl: { type: 'function', args: [{ type: 'any' }], result: { type: 'any' } },
};

/**
 * Stub libs for the gator variants of the template. They join package lib.vouch, where the library's bare
 * `external_data(...)` call resolves to them because gator has no such builtin; real Gatekeeper never sees them.
 */
const GATOR_STUBS: Array<{ file: string; lib: string }> = [
  {
    // What Gatekeeper's builtin returns when the constraint's Provider does not exist: frameworks
    // externaldata.HandleError(400, ProviderCache.Get's error), with null lists (Gatekeeper docs,
    // "External Data": https://open-policy-agent.github.io/gatekeeper/website/docs/externaldata/).
    file: 'template-provider-missing.yaml',
    lib: [
      '# gator-only stub (scripts/build-rego.ts): external_data as Gatekeeper answers for a missing Provider.',
      'package lib.vouch',
      '',
      'external_data(_) := {"responses": null, "errors": null, "status_code": 400, "system_error": "key is not found in provider cache"}',
      '',
    ].join('\n'),
  },
  {
    // Two results for one input: any call aborts the review (eval_conflict_error), so a passing case proves no call.
    file: 'template-no-call.yaml',
    lib: [
      '# gator-only stub (scripts/build-rego.ts): any call to external_data aborts the review.',
      'package lib.vouch',
      '',
      'external_data(_) := "called"',
      '',
      'external_data(_) := "called with conflicting results"',
      '',
    ].join('\n'),
  },
];

type Target = 'template' | 'capabilities';

interface Output {
  file: string;
  content: string;
}

const renderers: Record<Target, { render(): Promise<Output[]>; command: string }> = {
  template: { render: renderTemplates, command: 'npx tsx scripts/build-rego.ts --template' },
  capabilities: { render: renderCapabilities, command: 'npx tsx scripts/build-rego.ts --capabilities' },
};

async function main(argv: string[]): Promise<number> {
  const known = new Set(['--check', '--template', '--capabilities']);
  const unknown = argv.filter((a) => !known.has(a));
  if (unknown.length > 0) {
    process.stderr.write(`build-rego: unknown argument(s) ${unknown.join(' ')}; usage: [--template] [--capabilities] [--check]\n`);
    return 2;
  }
  const check = argv.includes('--check');
  const all: Target[] = ['template', 'capabilities'];
  const only = all.filter((name) => argv.includes(`--${name}`));

  let stale = 0;
  for (const name of only.length > 0 ? only : all) {
    const { render, command } = renderers[name];
    for (const { file, content } of await render()) {
      const path = relative(ROOT, file);
      if (check) {
        const have = await readFile(file, 'utf8').catch(() => undefined);
        if (have !== content) {
          stale++;
          process.stderr.write(`build-rego: ${path} is ${have === undefined ? 'missing' : 'stale'}; run \`${command}\`\n`);
        }
      } else {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, content);
        process.stdout.write(`build-rego: wrote ${path}\n`);
      }
    }
  }
  return stale > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// ConstraintTemplate

async function renderTemplates(): Promise<Output[]> {
  const rego = await readFile(ENTRYPOINT_FILE, 'utf8');
  const libs = await readLibs();
  const version = await readPackageVersion();
  const header =
    ' Generated by scripts/build-rego.ts from rego/gatekeeper/vouch_signed_images.rego and rego/lib/*.rego; do not edit.\n' +
    ' Regenerate with `npx tsx scripts/build-rego.ts --template`.';
  const outputs = [{ file: TEMPLATE_FILE, content: await renderTemplate(header, version, rego, libs) }];
  for (const stub of GATOR_STUBS) {
    const gatorHeader = `${header}\n For gator only: the real template plus a stub lib defining external_data (see the script).`;
    outputs.push({ file: join(GATOR_DIR, stub.file), content: await renderTemplate(gatorHeader, version, rego, [...libs, stub.lib]) });
  }
  return outputs;
}

async function readLibs(): Promise<string[]> {
  const libNames = (await readdir(LIB_DIR)).filter((n) => n.endsWith('.rego') && !n.endsWith('_test.rego')).sort();
  const libs: string[] = [];
  for (const name of libNames) {
    const source = await readFile(join(LIB_DIR, name), 'utf8');
    // Gatekeeper only accepts template libs under data.lib (frameworks regorewriter, libRoot "lib").
    if (!/^package lib\.[\w.]+$/m.test(source)) throw new Error(`rego/lib/${name}: a template lib's package must start with "lib."`);
    libs.push(source);
  }
  return libs;
}

async function renderTemplate(header: string, version: string, rego: string, libs: string[]): Promise<string> {
  const template = {
    apiVersion: 'templates.gatekeeper.sh/v1',
    kind: 'ConstraintTemplate',
    metadata: {
      name: 'vouchsignedimages',
      annotations: {
        'metadata.gatekeeper.sh/title': 'Vouch Signed Images',
        'metadata.gatekeeper.sh/version': version,
        description:
          'Requires every container image of a Pod or workload to be signed by a signer that vouch trusts for the ' +
          "namespace's environment. Undecided answers (registry or provider trouble) are violations unless `undecided` says otherwise.",
      },
    },
    spec: {
      crd: {
        spec: {
          names: { kind: 'VouchSignedImages' },
          validation: { openAPIV3Schema: parametersSchema() },
        },
      },
      targets: [
        {
          target: 'admission.k8s.gatekeeper.sh',
          // Only `code`: the legacy `rego`/`libs` fields would be converted into a v0 source (frameworks
          // apis/templates/v1 conversion.go sets no version) and overwrite this Rego v1 one.
          code: [{ engine: 'Rego', source: { version: 'v1', rego, libs } }],
        },
      ],
    },
  };

  const doc = new Document(template);
  doc.commentBefore = header;
  return format(doc.toString({ lineWidth: 0, blockQuote: 'literal' }), TEMPLATE_FILE);
}

/** The constraint's parameters (README "Gatekeeper"); the Rego applies the same defaults. */
function parametersSchema(): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      provider: {
        type: 'string',
        default: 'vouch',
        description: 'Name of the Gatekeeper Provider resource that points at vouch.',
      },
      environment: {
        type: 'string',
        description:
          "vouch environment for namespaces that neither namespaceEnvironments nor environmentLabel map; empty or unset means vouch's defaultEnvironment.",
      },
      namespaceEnvironments: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'vouch environment per namespace name; takes precedence over environmentLabel and environment.',
      },
      environmentLabel: {
        type: 'string',
        description:
          "Label of the Namespace whose value names the vouch environment. Requires Gatekeeper's Config to sync v1 Namespaces into data.inventory.",
      },
      exemptImages: {
        type: 'array',
        items: { type: 'string' },
        description:
          'Globs of images (as written in the spec) that are not verified. `*` also matches `/` and `.`, so "ghcr.io/acme/*" exempts every repository below ghcr.io/acme.',
      },
      undecided: {
        type: 'string',
        enum: ['violation', 'ignore', 'only'],
        default: 'violation',
        description:
          'What to do when vouch could not decide (registry unreachable, deadline, provider failure): "violation" denies (fail closed), "ignore" admits (fail open), "only" reports nothing but undecided images (for a separate dryrun/warn constraint).',
      },
    },
  };
}

async function readPackageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

// ---------------------------------------------------------------------------------------------------------------
// OPA capabilities

async function renderCapabilities(): Promise<Output[]> {
  try {
    accessSync(OPA, fsConstants.X_OK);
  } catch {
    throw new Error(`required tool "opa" is missing at ${OPA}; \`bash scripts/tools.sh opa\` installs it`);
  }
  const { stdout } = await promisify(execFile)(OPA, ['capabilities', '--current'], { maxBuffer: 64 * 1024 * 1024 });
  const capabilities = JSON.parse(stdout) as { builtins?: Array<{ name: string }> };
  if (!Array.isArray(capabilities.builtins)) throw new Error('`opa capabilities --current` printed no builtins');
  if (capabilities.builtins.some((b) => b.name === EXTERNAL_DATA_BUILTIN.name)) {
    throw new Error('`opa capabilities --current` already declares external_data; check which OPA .tools/bin/opa is');
  }
  capabilities.builtins.push(EXTERNAL_DATA_BUILTIN);
  return [{ file: CAPABILITIES_FILE, content: await format(JSON.stringify(capabilities, null, 2), CAPABILITIES_FILE) }];
}

async function format(text: string, file: string): Promise<string> {
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`build-rego: ${error instanceof Error ? error.message : String(error)}\n`);
  return 2;
});

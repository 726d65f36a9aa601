// The layering of src/, checked by `npm run lint` (depcruise). Imports point inward:
//
//   cli → app → server → verify → {notation → {trust, oci}, cosign → {trust, oci}, policy} → core
//   policy: the WASM policy runtime (compiled OPA policies in a worker thread), beside notation
//   cosign: cosign / Sigstore signatures (through @sigstore/verify), beside notation
//   app: builds the runtime from a configuration and starts the servers over it
//   config (used by app and cli) → {server, verify, notation, trust, oci, core}: its schema takes
//     each default from the module that uses the value, so the two cannot disagree
//   log.ts: usable by every layer above core (core stays pure: no I/O, no logger)
//
// Every edge a folder may take is written out below (one forbidden rule per folder: "anything in
// src/ that is not in this list"), so a new folder or an outward import fails until the list says
// otherwise. Folders meet only through their index.ts; no cycles; src never imports tests.
// Layer picture and reasons: docs/architecture.md. Rule syntax:
// https://github.com/sverweij/dependency-cruiser/blob/main/doc/rules-reference.md

/** One rule per layer: `from` may import only `allowed` (folders, or root files like log.ts). */
const layers = {
  core: [],
  oci: ['core', 'log'],
  trust: ['core', 'log'],
  notation: ['trust', 'oci', 'core', 'log'],
  cosign: ['trust', 'oci', 'core', 'log'],
  policy: ['core', 'log'],
  verify: ['notation', 'cosign', 'policy', 'trust', 'oci', 'core', 'log'],
  config: ['server', 'verify', 'notation', 'cosign', 'policy', 'trust', 'oci', 'core', 'log'],
  server: ['verify', 'notation', 'cosign', 'policy', 'trust', 'oci', 'core', 'log'],
  app: ['server', 'config', 'verify', 'notation', 'cosign', 'policy', 'trust', 'oci', 'core', 'log'],
  cli: ['app', 'config', 'verify', 'notation', 'cosign', 'policy', 'trust', 'oci', 'core', 'log'],
};

/** `core` → `src/core/`, `log` → `src/log.ts`. */
const target = (name) => (name === 'log' ? 'src/log\\.ts$' : `src/${name}/`);
const anyOf = (names) => `^(${names.map(target).join('|')})`;

const layerRules = Object.entries(layers).map(([from, allowed]) => ({
  name: `layer-${from}`,
  comment:
    `src/${from}/ may import only ${allowed.length === 0 ? 'itself' : [from, ...allowed].join(', ')} ` +
    '(imports point inward: cli → app → server → verify → notation/policy → trust/oci → core; config → server and below)',
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: '^src/', pathNot: anyOf([from, ...allowed]) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'layer-log',
      comment: 'src/log.ts is the bottom of the logging stack: it imports nothing from src/',
      severity: 'error',
      from: { path: '^src/log\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'entry-index',
      comment: 'src/index.ts (package "vouch") re-exports folder index.ts files; never the CLI',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(core|oci|trust|notation|policy|verify|config|server|app)/index\\.ts$' },
    },
    {
      name: 'entry-testing',
      comment: 'src/testing.ts (package "vouch/testing") re-exports the signing and push helpers of notation and oci',
      severity: 'error',
      from: { path: '^src/testing\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(core|oci|notation)/index\\.ts$' },
    },
    {
      name: 'entry-cli',
      comment: 'src/cli.ts (the vouch binary) only starts the CLI',
      severity: 'error',
      from: { path: '^src/cli\\.ts$' },
      to: { path: '^src/', pathNot: '^src/cli/main\\.ts$' },
    },
    {
      name: 'no-import-of-entry-points',
      comment: 'entry points (index.ts, testing.ts, cli.ts) are for users; nothing inside src imports them',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/(index|testing|cli)\\.ts$' },
    },
    {
      name: 'through-index',
      comment: 'a folder is imported by other folders only through its index.ts (its public face)',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles in src/',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-tests-in-src',
      comment: 'src/ never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import depcruise cannot resolve is an import no rule above can check',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a cycle or outward edge through `import type` is still coupling.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // NodeNext: `./x.js` in source names `./x.ts`; depcruise maps that itself when x.js is absent.
    enhancedResolveOptions: {
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};

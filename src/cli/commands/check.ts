// `vouch check -f FILE|DIR|- (--config FILE | --server URL) [--env NAME] [--output table|json]`: the
// admission decision before admission, for CI and deploy pipelines (docs/api.md "Commands",
// README "Checking manifests before admission"). It reads Kubernetes manifests, asks the compiled
// shared decision (rego/decision, docs/decision.md) which keys to verify, with the same image rules
// as the Gatekeeper template, verifies them, and asks the decision for the violations: the same
// messages Gatekeeper would show. Exit 0 all admitted, 1 any denied or undecided, 2 bad usage or input.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { createVerificationStack } from '../../app/index.js';
import { configPathFrom, loadConfig } from '../../config/index.js';
import { VouchError } from '../../core/index.js';
import { moduleLogger } from '../../log.js';
import { loadPolicyFile } from '../../policy/index.js';
import { UsageError, type CommandIo } from '../io.js';
import { readManifests, type ManifestObject } from '../manifests.js';
import { renderCheckTable, type CheckRow } from '../render.js';
import { answersFromResults, grpcVerifier, httpVerifier, type Answer, type KeyVerifier } from '../verifiers.js';

export const checkUsage = `usage: vouch check -f FILE|DIR|- (--config FILE | --server URL) [options]

Checks Kubernetes manifests as admission would: the images of every Pod and workload (the
Gatekeeper template's rules), verified by vouch, decided by the compiled shared decision
(rego/decision). One line per image; exit 1 when any is denied.

  -f, --filename P     a manifest file, a directory (recursively: *.yaml, *.yml, *.json) or - for
                       stdin; repeatable. Multi-document YAML and List kinds are read.
  --config FILE        verify in-process with this configuration (or VOUCH_CONFIG)
  --server URL         verify with a running vouch: https://host:port or http://host:port
                       (POST /v1/verify), grpcs://host:port or grpc://host:port (gRPC Verify)
  --ca-file FILE       CA certificates (PEM) for the server's certificate
  --cert-file FILE     client certificate (PEM) for mTLS, with --key-file
  --key-file FILE      its private key (PEM)
  --env NAME           verify every image for this environment (overrides the parameters)
  --parameters FILE    the Constraint's parameters (YAML or JSON: spec.parameters of a
                       VouchSignedImages Constraint, or the Constraint itself): environment,
                       namespaceEnvironments, exemptImages, undecided
  --namespace-env NS=ENV  namespaceEnvironments entry; repeatable (added to --parameters)
  --namespace NS       namespace of objects that name none (default: none)
  --output FMT         table (default) or json (an array, one entry per image)
  --timeout-ms N       budget for all verifications (default 30000)

Without --env, an image's environment is namespaceEnvironments[namespace], else the parameters'
environment, else vouch's defaultEnvironment (docs/decision.md).
Exit status: 0 every image admitted, 1 any denied or undecided, 2 bad usage or bad input.`;

/** The compiled shared decision, shipped in the package (wasm/policy.wasm, built from rego/decision; docs/decision.md). */
export const DECISION_FILE = fileURLToPath(new URL('../../../wasm/policy.wasm', import.meta.url));

/** Per evaluation of the decision (the runtime's default, 500 ms, is for admission). */
const DECISION_TIMEOUT_MS = 10_000;

const KEYS_ENTRYPOINT = 'vouch/decision/keys';
const VIOLATIONS_ENTRYPOINT = 'vouch/decision/violations';

/** What the keys entrypoint returns per image (docs/decision.md). */
interface DecisionKey {
  image: string;
  container: string;
  key: string;
  environment: string;
}

/** What the violations entrypoint returns per finding: Gatekeeper's {msg, details}. */
interface DecisionViolation {
  msg: string;
  details: { image?: string; container?: string; code?: string; key?: string; environment?: string; undecided?: boolean };
}

export async function checkCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      config: { type: 'string' },
      server: { type: 'string' },
      'ca-file': { type: 'string' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      env: { type: 'string' },
      parameters: { type: 'string' },
      'namespace-env': { type: 'string', multiple: true },
      namespace: { type: 'string' },
      output: { type: 'string', default: 'table' },
      'timeout-ms': { type: 'string', default: '30000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(checkUsage);
    return 0;
  }
  const inputs = values.filename ?? [];
  if (inputs.length === 0) throw new UsageError('expected -f FILE|DIR|-', checkUsage);
  if (values.server !== undefined && values.config !== undefined)
    throw new UsageError('--config and --server exclude each other', checkUsage);
  if (values.server === undefined && values.config === undefined && process.env['VOUCH_CONFIG'] === undefined)
    throw new UsageError('give --config FILE (verify in-process) or --server URL (a running vouch)', checkUsage);
  if (values.output !== 'table' && values.output !== 'json')
    throw new UsageError(`--output must be table or json, got "${values.output}"`, checkUsage);
  const timeout = Number(values['timeout-ms']);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new UsageError('--timeout-ms must be a positive integer', checkUsage);
  const parameters = await checkParameters(values.parameters, values['namespace-env'] ?? [], values.env);

  const objects = await readManifests(inputs, io.stdin !== undefined ? { stdin: io.stdin } : {});
  const verifier = await openVerifier(values);
  // A one-shot run on a busy CI machine: a generous per-evaluation limit, unlike admission's.
  const decision = await loadPolicyFile(DECISION_FILE, { timeoutMs: DECISION_TIMEOUT_MS, logger: moduleLogger('cli') }).catch(
    (error: unknown) => {
      void verifier.close();
      throw error;
    },
  );
  try {
    const rows = await check(objects, parameters, values.namespace, verifier, decision, Date.now() + timeout);
    io.out(values.output === 'json' ? JSON.stringify(rows, null, 2) : renderCheckTable(rows, objects.length));
    return rows.every((r) => r.verdict === 'ADMITTED') ? 0 : 1;
  } finally {
    await decision.close();
    await verifier.close();
  }
}

/**
 * The decision's parameters: --parameters (a Constraint or its spec.parameters), --namespace-env on
 * top; --env replaces every environment selection with that one environment.
 */
async function checkParameters(
  file: string | undefined,
  namespaceEnvs: readonly string[],
  env: string | undefined,
): Promise<Record<string, unknown>> {
  let parameters: Record<string, unknown> = {};
  if (file !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(await readFile(file, 'utf8'));
    } catch (error) {
      throw new VouchError('INVALID_INPUT', `--parameters ${file}: ${(error as Error).message}`);
    }
    const spec = (doc as { kind?: unknown; spec?: { parameters?: unknown } } | null)?.spec;
    const candidate = typeof (doc as { kind?: unknown } | null)?.kind === 'string' ? spec?.parameters : doc;
    if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate))
      throw new VouchError('INVALID_INPUT', `--parameters ${file}: expected a mapping of parameters or a Constraint with spec.parameters`);
    parameters = { ...(candidate as Record<string, unknown>) };
  }
  if (namespaceEnvs.length > 0) {
    const map: Record<string, string> = { ...((parameters['namespaceEnvironments'] as Record<string, string> | undefined) ?? {}) };
    for (const entry of namespaceEnvs) {
      const eq = entry.indexOf('=');
      if (eq <= 0 || eq === entry.length - 1)
        throw new UsageError(`--namespace-env takes NAMESPACE=ENVIRONMENT, got "${entry}"`, checkUsage);
      map[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    parameters['namespaceEnvironments'] = map;
  }
  if (env !== undefined) {
    delete parameters['namespaceEnvironments'];
    delete parameters['environmentLabel'];
    parameters['environment'] = env;
  }
  return parameters;
}

async function openVerifier(values: {
  config?: string | undefined;
  server?: string | undefined;
  'ca-file'?: string | undefined;
  'cert-file'?: string | undefined;
  'key-file'?: string | undefined;
}): Promise<KeyVerifier> {
  const tls = { caFile: values['ca-file'], certFile: values['cert-file'], keyFile: values['key-file'] };
  if (values.server !== undefined) {
    let url: URL;
    try {
      url = new URL(values.server);
    } catch {
      throw new UsageError(
        `--server must be a URL like https://vouch.example:8443 or grpcs://vouch.example:9443, got "${values.server}"`,
        checkUsage,
      );
    }
    const definedTls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
    switch (url.protocol) {
      case 'https:':
      case 'http:':
        return httpVerifier(url, definedTls);
      case 'grpc:':
      case 'grpcs:':
        if (url.port === '') throw new UsageError(`--server ${values.server}: a gRPC address needs a port`, checkUsage);
        return grpcVerifier(url.host, url.protocol === 'grpcs:', definedTls);
      default:
        throw new UsageError(`--server scheme must be https, http, grpcs or grpc, got "${url.protocol}"`, checkUsage);
    }
  }
  const config = await loadConfig(configPathFrom(values.config));
  const stack = await createVerificationStack(config, { logger: moduleLogger('cli'), watch: false });
  return {
    async verify(keys, deadline) {
      return answersFromResults(await stack.engine.verify([...keys], { deadline }));
    },
    close: () => stack.close(),
  };
}

interface Decision {
  evaluate(entrypoint: string, input: unknown): Promise<unknown>;
}

/** The keys and violations of every object (see the file comment). */
export async function check(
  objects: readonly ManifestObject[],
  parameters: Record<string, unknown>,
  defaultNamespace: string | undefined,
  verifier: KeyVerifier,
  decision: Decision,
  deadline: number,
): Promise<CheckRow[]> {
  const inputs = objects.map((o) => {
    const metadata = o.object['metadata'] as { namespace?: unknown } | undefined;
    const namespace = typeof metadata?.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : defaultNamespace;
    return { object: o.object, parameters, ...(namespace !== undefined ? { namespace } : {}) };
  });
  const keysPerObject: DecisionKey[][] = [];
  for (const input of inputs) keysPerObject.push(asArray<DecisionKey>(await decision.evaluate(KEYS_ENTRYPOINT, input)));
  const keys = [...new Set(keysPerObject.flat().map((k) => k.key))].sort();
  const { responses: answers, systemError } =
    keys.length === 0 ? { responses: {} as Record<string, Answer>, systemError: undefined } : await verifier.verify(keys, deadline);

  const rows: CheckRow[] = [];
  for (const [i, input] of inputs.entries()) {
    const objectKeys = keysPerObject[i]!;
    if (objectKeys.length === 0) continue;
    const responses: Record<string, Answer> = {};
    for (const k of objectKeys) if (answers[k.key] !== undefined) responses[k.key] = answers[k.key]!;
    const violations = asArray<DecisionViolation>(
      await decision.evaluate(VIOLATIONS_ENTRYPOINT, { ...input, responses, ...(systemError !== undefined ? { systemError } : {}) }),
    );
    const manifest = objects[i]!;
    const where = {
      ...describe(manifest),
      source: manifest.source,
      document: manifest.document,
      ...(manifest.item !== undefined ? { item: manifest.item } : {}),
    };
    const matched = new Set<DecisionViolation>();
    for (const k of objectKeys) {
      const found = violations.filter((v) => v.details?.image === k.image && (v.details?.container ?? '') === k.container);
      const answer = responses[k.key] as { environment?: unknown } | undefined;
      const environment = typeof answer?.environment === 'string' && answer.environment !== '' ? answer.environment : k.environment;
      if (found.length === 0) rows.push({ ...where, container: k.container, image: k.image, environment, verdict: 'ADMITTED' });
      for (const v of found) {
        matched.add(v);
        rows.push(violationRow(where, v, k.container, k.image, environment));
      }
    }
    // A violation for no key the decision named still denies (fail closed), on a line of its own.
    for (const v of violations)
      if (!matched.has(v))
        rows.push(violationRow(where, v, v.details?.container ?? '', v.details?.image ?? '', v.details?.environment ?? ''));
  }
  return rows;
}

function violationRow(
  where: Omit<CheckRow, 'container' | 'image' | 'environment' | 'verdict'>,
  v: DecisionViolation,
  container: string,
  image: string,
  environment: string,
): CheckRow {
  return {
    ...where,
    container,
    image,
    environment,
    verdict: v.details?.undecided === true ? 'UNDECIDED' : 'DENIED',
    code: typeof v.details?.code === 'string' ? v.details.code : 'DENIED',
    message: typeof v.msg === 'string' ? v.msg : JSON.stringify(v),
    details: v.details,
  };
}

function describe(manifest: ManifestObject): { kind: string; name: string; namespace?: string } {
  const metadata = (manifest.object['metadata'] ?? {}) as { name?: unknown; namespace?: unknown };
  return {
    kind: manifest.object['kind'] as string,
    name: typeof metadata.name === 'string' ? metadata.name : '',
    ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
  };
}

function asArray<T>(value: unknown): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new VouchError('INTERNAL', `the decision returned ${JSON.stringify(value).slice(0, 200)}, not an array`);
  return value as T[];
}

// Offline schema validation of rendered Kubernetes objects with the pinned kubectl-validate (scripts/tools.sh): native
// kinds against the Kubernetes OpenAPI schemas built into kubectl-validate, custom resources against the CRDs that
// `bash scripts/tools.sh crds` extracts into .tools/crds/ (Gatekeeper, cert-manager, prometheus-operator), and
// Gatekeeper Constraints against a CRD generated from their ConstraintTemplate the way Gatekeeper generates it.
// Validation is what the API server does on create: structural schema, types, enums, patterns, required fields and
// unknown fields (strict field validation). Nothing is fetched: no cluster (KUBECONFIG points at nothing) and no
// network (proxies point at a closed port), so a schema the tool lacks is an error, never a download.

import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './registries.js';

// Manifests are untyped YAML.
type Obj = Record<string, any>;

/**
 * Kubernetes version whose built-in schemas native kinds are checked against: the newest that kubectl-validate v0.0.4
 * embeds (pkg/openapiclient/builtins/1.30), so no schema is ever fetched.
 */
export const KUBERNETES_VERSION = '1.30';

/** Where `bash scripts/tools.sh crds` puts the CRDs (git-ignored). */
export const CRDS_DIR = join(REPO_ROOT, '.tools', 'crds');

/** The CRD directories read with --local-crds (subfolders of CRDS_DIR). */
export const CRD_SETS = ['gatekeeper', 'cert-manager', 'prometheus-operator'] as const;

/** Group of every Gatekeeper Constraint kind (frameworks constraint/pkg/apis/constraints). */
const CONSTRAINTS_GROUP = 'constraints.gatekeeper.sh';

const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const TIMEOUT_MS = 120_000;

export interface SchemaResult {
  /** `Kind/name` or `Kind/namespace/name`, plus the origin label given by the caller. */
  object: string;
  /** Empty when the object is valid; otherwise one entry per cause, `field: message` (field as kubectl-validate prints it). */
  errors: string[];
}

/** Path of a binary in .tools/bin; throws (never skips) naming the install command when it is missing. */
export function toolsBin(name: string): string {
  const path = join(REPO_ROOT, '.tools', 'bin', name);
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new Error(`required tool "${name}" is missing at ${path}; \`bash scripts/tools.sh ${name}\` installs it`);
  }
  return path;
}

function crdDirs(): string[] {
  const dirs = CRD_SETS.map((set) => join(CRDS_DIR, set));
  for (const dir of [...dirs, join(CRDS_DIR, 'gatekeeper-match')]) {
    if (!existsSync(dir)) throw new Error(`CRDs missing at ${dir}; \`bash scripts/tools.sh crds\` extracts them`);
  }
  return dirs;
}

/**
 * Parses a multi-document YAML stream (kustomize build, helm template), dropping empty documents. YAML 1.1, as kubectl
 * and the API machinery read manifests (sigs.k8s.io/yaml over go-yaml v2): an unquoted `yes` or `on` is a boolean
 * there, so a label written that way must fail here too rather than pass as the string YAML 1.2 would read.
 */
export function parseManifests(text: string, origin: string): Obj[] {
  const objects: Obj[] = [];
  parseAllDocuments(text, { uniqueKeys: true, version: '1.1' }).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${origin}: document ${i} does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${origin}: document ${i} is not a mapping`);
    objects.push(value as Obj);
  });
  return objects;
}

/** The schema of a Constraint's spec.match, as Gatekeeper v3.20.1 embeds it (pkg/target/match_schema.go). */
export async function matchSchema(): Promise<Obj> {
  const file = join(CRDS_DIR, 'gatekeeper-match', 'match.gatekeeper.sh_matchcrd.yaml');
  const crd = parseYaml(await readFile(file, 'utf8')) as Obj;
  const schema = crd['spec']?.['versions']?.[0]?.['schema']?.['openAPIV3Schema']?.['properties']?.['embeddedMatch'];
  if (typeof schema !== 'object' || schema === null || !schema['properties']?.['kinds']) {
    throw new Error(`${file}: no embeddedMatch schema with a "kinds" field`);
  }
  return schema as Obj;
}

/**
 * The CRD Gatekeeper creates for a ConstraintTemplate: frameworks constraint/pkg/client/crds CreateSchema and CreateCRD
 * (the version Gatekeeper v3.20.1 pins): group constraints.gatekeeper.sh, cluster-scoped, versions v1beta1 (stored)
 * and v1alpha1, spec.{match, enforcementAction, scopedEnforcementActions, parameters}, parameters being the template's
 * openAPIV3Schema. A template with `legacySchema: true` gets x-kubernetes-preserve-unknown-fields on its parameters,
 * as Gatekeeper does for such templates (frameworks constraint/pkg/schema AddPreserveUnknownFields).
 * https://open-policy-agent.github.io/gatekeeper/website/docs/constrainttemplates
 */
export function constraintCrd(template: Obj, match: Obj): Obj {
  const names = template['spec']?.['crd']?.['spec']?.['names'];
  const kind = names?.['kind'];
  if (typeof kind !== 'string' || kind === '') {
    throw new Error(`ConstraintTemplate/${template['metadata']?.['name']}: spec.crd.spec.names.kind is missing`);
  }
  const validation = template['spec']['crd']['spec']['validation'] as Obj | undefined;
  const specProps: Obj = {
    match: structuredClone(match),
    enforcementAction: { type: 'string', default: 'deny' },
    scopedEnforcementActions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          action: { type: 'string' },
          enforcementPoints: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
        },
      },
    },
  };
  if (validation?.['openAPIV3Schema']) {
    const parameters = structuredClone(validation['openAPIV3Schema']) as Obj;
    if (validation['legacySchema'] === true) parameters['x-kubernetes-preserve-unknown-fields'] = true;
    specProps['parameters'] = parameters;
  }
  const schema = {
    type: 'object',
    properties: {
      metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } },
      spec: { type: 'object', properties: specProps },
      status: { 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
  const plural = kind.toLowerCase();
  const version = (name: string, storage: boolean): Obj => ({
    name,
    served: true,
    storage,
    schema: { openAPIV3Schema: structuredClone(schema) },
    subresources: { status: {} },
  });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${CONSTRAINTS_GROUP}`, labels: { 'gatekeeper.sh/constraint': 'yes' } },
    spec: {
      group: CONSTRAINTS_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: plural,
        ...(names['shortNames'] ? { shortNames: names['shortNames'] } : {}),
        categories: ['constraint', 'constraints'],
      },
      scope: 'Cluster',
      versions: [version('v1beta1', true), version('v1alpha1', false)],
    },
  };
}

function describe(o: Obj, origin: string): string {
  const meta = (o['metadata'] ?? {}) as Obj;
  const where = meta['namespace'] ? `${meta['namespace']}/${meta['name']}` : `${meta['name']}`;
  return `${origin}: ${o['kind']}/${where}`;
}

interface KubeStatus {
  status?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

function statusErrors(status: KubeStatus): string[] {
  if (status.status === 'Success') return [];
  const causes = status.details?.causes ?? [];
  if (causes.length === 0) return [status.message ?? JSON.stringify(status)];
  return causes.map((c) => (c.field ? `${c.field}: ${c.message ?? c.reason ?? ''}` : (c.message ?? c.reason ?? '')));
}

export interface ValidateOptions {
  /** Label of where the objects come from (e.g. `kustomize build deploy/`), prefixed to every result. */
  origin: string;
  /**
   * ConstraintTemplates whose Constraint kinds the objects may use, besides the ConstraintTemplates among the objects
   * themselves (a Constraint rendered without its template).
   */
  templates?: Obj[];
}

/**
 * Validates every object with kubectl-validate, one file per object so each result names its object. Returns one
 * result per object, in order. Throws when the tool cannot run or its answer cannot be read (never a silent pass).
 */
export async function validateObjects(objects: Obj[], opts: ValidateOptions): Promise<SchemaResult[]> {
  const bin = toolsBin('kubectl-validate');
  const dirs = crdDirs();
  const work = await mkdtemp(join(tmpdir(), 'vouch-schemas-'));
  try {
    const objectsDir = join(work, 'objects');
    const generated = join(work, 'constraint-crds');
    await mkdir(objectsDir);
    await mkdir(generated);
    const templates = [...(opts.templates ?? []), ...objects.filter((o) => o['kind'] === 'ConstraintTemplate')];
    if (templates.length > 0) {
      const match = await matchSchema();
      for (const template of templates) {
        const crd = constraintCrd(template, match);
        await writeFile(join(generated, `${crd['metadata']['name']}.json`), JSON.stringify(crd));
      }
    }
    // JSON, so that what is validated is exactly the parsed object (no second YAML round trip to disagree about).
    const files = objects.map((_, i) => join(objectsDir, `${String(i).padStart(4, '0')}.json`));
    await Promise.all(objects.map((o, i) => writeFile(files[i]!, JSON.stringify(o))));
    const args = ['--version', KUBERNETES_VERSION, '--output', 'json'];
    for (const dir of [...dirs, generated]) args.push('--local-crds', dir);
    args.push(objectsDir);
    const { stdout, stderr } = await runValidator(bin, args, work);
    let report: Record<string, KubeStatus[]>;
    try {
      report = JSON.parse(stdout) as Record<string, KubeStatus[]>;
    } catch {
      throw new Error(`kubectl-validate printed no JSON report (stderr: ${stderr.slice(0, 2000)})`);
    }
    return objects.map((o, i) => {
      const statuses = report[files[i]!];
      if (!Array.isArray(statuses) || statuses.length !== 1) {
        throw new Error(`kubectl-validate reported ${statuses?.length ?? 'nothing'} documents for ${describe(o, opts.origin)}`);
      }
      return { object: describe(o, opts.origin), errors: statusErrors(statuses[0]!) };
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs kubectl-validate with no cluster and no network; exit 1 (validation failed) still yields its report. */
function runValidator(bin: string, args: string[], work: string): Promise<{ stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // No kubeconfig: kubectl-validate would otherwise ask a cluster for schemas first.
    KUBECONFIG: join(work, 'no-kubeconfig'),
    // A schema missing from the built-ins would be looked up on GitHub: make that fail at once instead.
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    http_proxy: 'http://127.0.0.1:9',
    NO_PROXY: '',
    no_proxy: '',
    HOME: work,
  };
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, maxBuffer: MAX_OUTPUT_BYTES, timeout: TIMEOUT_MS }, (err, stdout, stderr) => {
      // execFile reports the exit status as a number in `code` (a string for spawn errors such as ENOENT).
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      if (err && code !== 1) {
        reject(new Error(`kubectl-validate failed (${String(code ?? err.message)}): ${stderr.slice(0, 2000)}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

// deploy/monitoring: the PrometheusRule's alerts and the Grafana dashboard. The pinned promtool
// (scripts/tools.sh) checks the rule groups and runs their unit tests (test/deploy/monitoring-rules.test.yaml);
// the dashboard's queries are checked by promtool as recording rules; every metric either names is looked
// up in the /metrics of a provider started here over a real registry (olareg) behind a throttling front
// and with a real Redis as shared cache, after requests that give the labelled series values; every
// runbook_url points at a section of docs/operations.md; the kustomize component builds.

import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { startProvider } from '../../src/app/index.js';
import { INTERNAL_CODES, UNDECIDED_CODES } from '../../src/core/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { RegistryClient } from '../../src/oci/index.js';
import { ProviderMetrics } from '../../src/server/index.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId } from '../e2e/support/fixtures.js';
import { firstRequests, startRateLimitedRegistry } from '../helpers/rate-limited-registry.js';
import { startRedis } from '../helpers/redis.js';
import { REPO_ROOT, startReferrersRegistry, toolPath } from '../helpers/registries.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const MONITORING = join(REPO_ROOT, 'deploy', 'monitoring');
const RULE_FILE = join(MONITORING, 'prometheusrule.yaml');
const DASHBOARD_FILE = join(MONITORING, 'grafana-dashboard.json');
const RULES_TEST_FILE = join(REPO_ROOT, 'test', 'deploy', 'monitoring-rules.test.yaml');
const OPERATIONS = join(REPO_ROOT, 'docs', 'operations.md');

async function ruleObject(): Promise<Obj> {
  const docs = parseAllDocuments(await readFile(RULE_FILE, 'utf8'), { uniqueKeys: true });
  if (docs.length !== 1) throw new Error(`${RULE_FILE}: expected one document, got ${docs.length}`);
  return docs[0]!.toJS() as Obj;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

async function alerts(): Promise<Rule[]> {
  return ((await ruleObject())['spec']['groups'] as Obj[]).flatMap((g) => g['rules'] as Rule[]);
}

/** A temporary directory with the PrometheusRule's spec as vouch-rules.yaml (a plain rule file) and rules.test.yaml. */
async function rulesDir(t: import('ava').ExecutionContext, spec?: Obj): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-rules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'vouch-rules.yaml'), stringify(spec ?? (await ruleObject())['spec']));
  await copyFile(RULES_TEST_FILE, join(dir, 'rules.test.yaml'));
  return dir;
}

/** Runs promtool; resolves with its exit code and output (it exits 1 on failed checks). */
async function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(toolPath('promtool'), args, { cwd, maxBuffer: 4 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// --- PromQL: the metric names an expression selects -------------------------------------------------

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

/**
 * Metric names selected by a PromQL expression (https://prometheus.io/docs/prometheus/latest/querying/basics/):
 * string literals, label matchers `{…}`, ranges `[…]` and grouping clauses `by (…)` etc. are dropped, then
 * every identifier not called as a function or aggregation and not a keyword is a metric name. Grafana's
 * variables ($__rate_interval, $namespace) only appear in ranges and strings.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

test('metricNames finds selectors and nothing else', (t) => {
  t.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (route, le) (rate(vouch_a_bucket{route=~"/v1/verify|x", job=~"$job"}[$__rate_interval]))) > 1.5 and on (namespace) sum without (pod) (vouch_b) / vouch_c offset 5m unless bool up',
    ).sort(),
    ['up', 'vouch_a_bucket', 'vouch_b', 'vouch_c'],
  );
  t.deepEqual(metricNames('max by (namespace, environment) (vouch_x) > 0'), ['vouch_x']);
});

// --- Dashboard ------------------------------------------------------------------------------------

interface Target {
  expr: string;
  refId: string;
}

async function dashboard(): Promise<Obj> {
  return JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as Obj;
}

function panelsOf(dash: Obj): Obj[] {
  return (dash['panels'] as Obj[]).flatMap((p) => [p, ...((p['panels'] as Obj[] | undefined) ?? [])]).filter((p) => p['type'] !== 'row');
}

function dashboardQueries(dash: Obj): Array<{ panel: string; target: Target }> {
  const queries = panelsOf(dash).flatMap((p) =>
    ((p['targets'] as Target[] | undefined) ?? []).map((target) => ({ panel: String(p['title']), target })),
  );
  for (const v of dash['templating']['list'] as Obj[]) {
    if (v['type'] !== 'query') continue;
    // label_values(selector, label): the selector is a query of its own
    const m = /^label_values\((.*),\s*\w+\)$/.exec(String(v['query']['query']));
    if (m) queries.push({ panel: `variable ${v['name']}`, target: { expr: m[1]!, refId: v['name'] } });
  }
  return queries;
}

test('dashboard: schema 39 or later, datasource/namespace/job variables, every query on ${datasource} and filtered by them', async (t) => {
  const dash = await dashboard();
  t.true(dash['schemaVersion'] >= 39, `schemaVersion ${dash['schemaVersion']}`);
  t.truthy(dash['uid']);
  const variables = new Map((dash['templating']['list'] as Obj[]).map((v) => [v['name'], v]));
  t.is(variables.get('datasource')?.['type'], 'datasource');
  t.is(variables.get('datasource')?.['query'], 'prometheus');
  for (const name of ['namespace', 'job']) t.is(variables.get(name)?.['type'], 'query', name);
  // The layout: 24 columns, no two panels (rows included) on the same cell.
  const cells = new Map<string, string>();
  for (const panel of dash['panels'] as Obj[]) {
    const { x, y, w, h } = panel['gridPos'] as Record<string, number>;
    t.true(x! >= 0 && w! > 0 && x! + w! <= 24, `${panel['title']}: within 24 columns`);
    for (let i = x!; i < x! + w!; i++) {
      for (let j = y!; j < y! + h!; j++) {
        if (cells.has(`${i},${j}`)) t.fail(`${panel['title']} overlaps ${cells.get(`${i},${j}`)}`);
        cells.set(`${i},${j}`, String(panel['title']));
      }
    }
  }
  const ids = new Set<number>();
  for (const panel of panelsOf(dash)) {
    t.false(ids.has(panel['id']), `panel id ${panel['id']} is unique`);
    ids.add(panel['id']);
    t.deepEqual(panel['datasource'], { type: 'prometheus', uid: '${datasource}' }, panel['title']);
    t.true((panel['targets'] as Target[]).length > 0, panel['title']);
    for (const target of panel['targets'] as Obj[]) {
      t.deepEqual(target['datasource'], { type: 'prometheus', uid: '${datasource}' }, panel['title']);
      // every selector of the query is filtered by the variables
      for (const selector of String(target['expr']).matchAll(/vouch_\w+(\{[^}]*\})?/g)) {
        t.regex(selector[1] ?? '', /namespace=~"\$namespace", job=~"\$job"/, `${panel['title']}: ${selector[0]}`);
      }
    }
  }
});

test('dashboard: promtool parses every query (as recording rules)', async (t) => {
  const dash = await dashboard();
  const rules = dashboardQueries(dash).map(({ target }, i) => ({
    record: `vouch:dashboard_query_${i}`,
    expr: target.expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', '.*').replaceAll('$job', '.*'),
  }));
  t.true(rules.length > 30);
  const dir = await mkdtemp(join(tmpdir(), 'vouch-dashboard-rules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
  const result = await promtool(['check', 'rules', 'dashboard.yaml'], dir);
  t.is(result.code, 0, result.output);
  // and a broken query would be refused
  await writeFile(
    join(dir, 'broken.yaml'),
    stringify({ groups: [{ name: 'broken', rules: [{ record: 'x', expr: 'sum by (a (vouch_x)' }] }] }),
  );
  t.is((await promtool(['check', 'rules', 'broken.yaml'], dir)).code, 1);
});

// --- Alerts ---------------------------------------------------------------------------------------

test('PrometheusRule: monitoring.coreos.com/v1, and promtool check rules accepts its groups', async (t) => {
  const rule = await ruleObject();
  t.is(rule['apiVersion'], 'monitoring.coreos.com/v1');
  t.is(rule['kind'], 'PrometheusRule');
  t.is(rule['metadata']['namespace'], 'vouch-system');
  const dir = await rulesDir(t);
  const result = await promtool(['check', 'rules', '--lint=all', '--lint-fatal', 'vouch-rules.yaml'], dir);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /SUCCESS: \d+ rules found/);
});

/** GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces to hyphens. */
async function headingAnchors(file: string): Promise<Set<string>> {
  const text = (await readFile(file, 'utf8')).replace(/^```[\s\S]*?^```/gm, '');
  return new Set(
    text
      .split('\n')
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) =>
        line
          .replace(/^#+ /, '')
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
  );
}

test('docs/operations.md: every relative link names an existing file, and an existing section of it', async (t) => {
  const text = await readFile(OPERATIONS, 'utf8');
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((href) => !/^[a-z]+:/.test(href));
  t.true(links.length > 10);
  for (const href of links) {
    const [path, anchor] = href.split('#', 2) as [string, string | undefined];
    const file = path === '' ? OPERATIONS : join(REPO_ROOT, 'docs', path);
    const exists = await readFile(file).then(
      () => true,
      () => false,
    );
    t.true(exists, `${href}: ${file} exists`);
    if (exists && anchor !== undefined) t.true((await headingAnchors(file)).has(anchor), `${href}: #${anchor} is a heading`);
  }
});

test('PrometheusRule: the alerts that matter, each with severity, summary, description and a runbook in docs/operations.md', async (t) => {
  const rules = await alerts();
  const names = rules.map((r) => r.alert);
  for (const name of [
    'VouchDown',
    'VouchTrustMaterialReloadFailing',
    'VouchTrustStoreWithdrawn',
    'VouchTrustPolicyWithdrawn',
    'VouchUndecidedAnswersRising',
    'VouchLatencyNearProviderTimeout',
    'VouchRegistryErrors',
    'VouchSharedCacheCircuitOpen',
    'VouchOverloaded',
  ]) {
    t.true(names.includes(name), name);
  }
  t.is(new Set(names).size, names.length, 'alert names are unique');
  const anchors = await headingAnchors(OPERATIONS);
  for (const rule of rules) {
    const at = rule.alert ?? rule.record;
    t.truthy(rule.alert, `${at}: only alerts here`);
    t.regex(rule.labels?.['severity'] ?? '', /^(critical|warning|info)$/, `${at}: severity`);
    t.truthy(rule.annotations?.['summary'], `${at}: summary`);
    t.truthy(rule.annotations?.['description'], `${at}: description`);
    const url = rule.annotations?.['runbook_url'] ?? '';
    const m = /\/docs\/operations\.md#([\w-]+)$/.exec(url);
    t.truthy(m, `${at}: runbook_url ${url} points into docs/operations.md`);
    t.true(anchors.has(m?.[1] ?? ''), `${at}: docs/operations.md has a section #${m?.[1]}`);
    t.is(m?.[1], rule.alert!.toLowerCase(), `${at}: the runbook section is named after the alert`);
  }
});

test('undecided codes: the alert and the dashboard count every one (src/core/errors.ts), so a new code is not missed', async (t) => {
  // The alert leaves out what the caller's input causes (docs/operations.md "VouchUndecidedAnswersRising").
  const callerInput = new Set(['INVALID_REFERENCE', 'UNKNOWN_ENVIRONMENT', 'REGISTRY_NOT_ALLOWED', 'INVALID_INPUT']);
  const outcomes = (expr: string): Set<string> => new Set([...expr.matchAll(/outcome=~"([^"]+)"/g)].flatMap((m) => m[1]!.split('|')));
  const undecided = [...UNDECIDED_CODES, ...INTERNAL_CODES.filter((code) => code !== 'INVALID_CONFIG')];
  const alert = (await alerts()).find((r) => r.alert === 'VouchUndecidedAnswersRising')!;
  const alerted = outcomes(alert.expr);
  t.deepEqual(
    undecided.filter((code) => !callerInput.has(code) && !alerted.has(code)),
    [],
    'codes the alert does not count',
  );
  for (const code of alerted) t.true(alert.annotations?.['description']?.includes(code), `the description names ${code}`);
  const panels = dashboardQueries(await dashboard()).filter(({ target }) => outcomes(target.expr).has('DEADLINE_EXCEEDED'));
  t.true(panels.length > 0);
  for (const { panel, target } of panels) {
    const shown = outcomes(target.expr);
    t.deepEqual(
      undecided.filter((code) => !shown.has(code)),
      [],
      `${panel} ${target.refId}: codes the panel does not count`,
    );
  }
});

test("PrometheusRule: the latency alert sits between vouch's budget and the Provider timeout of deploy/base/provider.yaml", async (t) => {
  const rule = (await alerts()).find((r) => r.alert === 'VouchLatencyNearProviderTimeout')!;
  const threshold = Number(/\)\s*>\s*([\d.]+)\s*$/.exec(rule.expr.trim())?.[1]);
  const providers = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'base', 'provider.yaml'), 'utf8')).map(
    (d) => d.toJS() as Obj,
  );
  const config = parseYaml(
    parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'base', 'configmap.yaml'), 'utf8'))
      .map((d) => d.toJS() as Obj)
      .find((d) => d['metadata']?.['name'] === 'vouch-config')!['data']['config.yaml'],
  ) as Obj;
  for (const provider of providers)
    t.true(threshold < provider['spec']['timeout'], `${threshold} s < ${provider['metadata']['name']}'s timeout`);
  t.true(threshold >= config['server']['requestTimeoutMs'] / 1000 - 0.5, 'not so low that a normal busy answer pages');
});

test('promtool test rules: the unit tests in test/deploy/monitoring-rules.test.yaml pass, and fail when an alert is broken', async (t) => {
  const tests = parseYaml(await readFile(RULES_TEST_FILE, 'utf8')) as Obj;
  const cases = (tests['tests'] as Obj[]).flatMap((c) => c['alert_rule_test'] as Obj[]);
  const firing = new Set(cases.filter((c) => (c['exp_alerts'] as Obj[]).length > 0).map((c) => c['alertname']));
  t.true(firing.size >= 2, `alerts shown firing: ${[...firing].join(', ')}`);
  for (const name of firing)
    t.true(
      cases.some((c) => c['alertname'] === name && (c['exp_alerts'] as Obj[]).length === 0),
      `${name} also shown quiet`,
    );

  const dir = await rulesDir(t);
  const result = await promtool(['test', 'rules', 'rules.test.yaml'], dir);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /SUCCESS/);

  // The same tests against rules whose trust-store alert never fires, and whose latency alert ignores the route:
  // promtool must fail, so the tests above are not vacuous.
  const spec = (await ruleObject())['spec'] as Obj;
  for (const group of spec['groups'] as Obj[]) {
    for (const rule of group['rules'] as Rule[]) {
      if (rule.alert === 'VouchTrustStoreWithdrawn') rule.expr = rule.expr.replace('> 0', '> 1');
      if (rule.alert === 'VouchLatencyNearProviderTimeout') rule.expr = rule.expr.replace('namespace, route, le', 'namespace, le');
    }
  }
  const broken = await rulesDir(t, spec);
  const failed = await promtool(['test', 'rules', 'rules.test.yaml'], broken);
  t.is(failed.code, 1, failed.output);
  t.regex(failed.output, /VouchTrustStoreWithdrawn/);
  t.regex(failed.output, /VouchLatencyNearProviderTimeout/);
});

// --- Live /metrics ----------------------------------------------------------------------------------

/** Metric families declared in a Prometheus text exposition: name → type. */
function families(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** The family a sample name belongs to (histogram and summary series carry _bucket/_sum/_count). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(types.get(m[1]!) ?? '')) {
    if (m[2] === 'bucket' && types.get(m[1]!) !== 'histogram') return undefined;
    return m[1];
  }
  return undefined;
}

/** Sample lines of a family (`name{…} value` or `name value`, suffixes included). */
function samples(text: string, family: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(family) && /^[a-z_:]+(?:\{|\s)/.test(line) && line.split(/[{\s]/)[0]!.startsWith(family));
}

async function post(url: string, keys: string[]): Promise<Obj> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
  });
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()) as Obj;
}

test('live /metrics: every metric of every dashboard query and alert is exported, and the dashboard shows every vouch metric', async (t) => {
  const [registry, redis, ws] = await Promise.all([startReferrersRegistry(), startRedis(), createWorkspace()]);
  t.teardown(async () => {
    await registry.stop();
    await redis.stop();
    await ws.remove();
  });
  const repoName = `monitoring-${uniqueId()}/app`;
  const pusher = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  const repo = pusher.repository(registry.host, repoName);
  const signed = await pushImage(repo, 'signed');
  await signAndPush(repo, signed, ws.identities.prod);
  const unsigned = await pushImage(repo, 'unsigned');
  await pusher.close();
  // The first requests through the front are answered 429 with Retry-After: 1, so vouch retries.
  const front = await startRateLimitedRegistry({ upstream: registry.host, policy: firstRequests(2, '1') });
  t.teardown(() => front.close());
  await ws.writePolicy('prod', [
    { name: 'all', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
  const keyFile = join(ws.dir, 'hmac.key');
  await writeFile(keyFile, 'k'.repeat(48), { mode: 0o600 });
  const file = await ws.writeConfig({
    server: { address: '127.0.0.1:0' },
    defaultEnvironment: 'prod',
    environments: { prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') } },
    registries: { [front.host]: { plainHttp: true } },
    revocation: { offline: true },
    limits: { registryRequests: { maxRetryAfterMs: 5_000, maxRetryWaitMs: 5_000 } },
    cache: { shared: { url: redis.url, keyFile } },
  });
  const provider = await startProvider(await loadConfig(file), { logger: createLogger({ level: 'silent' }), watch: false });
  t.teardown(() => provider.close());

  const key = (digest: string) => `${front.host}/${repoName}@${digest}`;
  // Uncached (through the throttling front, possibly past the budget), then until decided, then cached.
  for (let i = 0; i < 10; i++) {
    const answer = await post(`${provider.url}/v1/verify`, [key(signed.digest), key(unsigned.digest)]);
    if (answer['response']?.['systemError'] === undefined && (answer['response']?.['items'] as Obj[] | undefined)?.length === 2) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await post(`${provider.url}/v1/verify`, [key(signed.digest), `${front.host}/${repoName}:signed`]);
  await post(`${provider.url}/v1/mutate`, [`${front.host}/${repoName}:signed`]);
  await post(`${provider.url}/v1/verify`, ['not a reference']);
  await fetch(`${provider.url}/readyz`);

  const text = await (await fetch(`${provider.url}/metrics`)).text();
  const types = families(text);
  // Series with labels exist: what the dashboard splits by has values.
  for (const [family, pattern] of [
    ['vouch_key_outcomes_total', /outcome="verified"/],
    ['vouch_key_outcomes_total', /outcome="NO_SIGNATURE"/],
    ['vouch_request_duration_seconds', /_bucket\{(?=.*route="\/v1\/verify")(?=.*le="1")/],
    ['vouch_registry_requests_total', /status="429"/],
    ['vouch_registry_throttled_total', /outcome="retried"/],
    ['vouch_registry_concurrency_limit', new RegExp(`host="${front.host}"`)],
    ['vouch_cache_lookups_total', /result="hit"/],
    ['vouch_shared_cache_lookups_total', /result="\w+"/],
    ['vouch_shared_cache_writes_total', /result="\w+"/],
    ['vouch_shared_cache_circuit', /state="open"/],
    ['vouch_trust_store_withdrawn', /environment="prod",store="ca:prod"/],
    ['vouch_trust_material_reload_failing', /environment="prod"/],
  ] as const) {
    t.true(
      samples(text, family).some((line) => pattern.test(line)),
      `${family} has a series matching ${pattern}:\n${samples(text, family).join('\n')}`,
    );
  }

  const used = new Map<string, string>();
  const onDashboard = new Set<string>();
  for (const { panel, target } of dashboardQueries(await dashboard())) {
    for (const name of metricNames(target.expr)) {
      used.set(name, `dashboard "${panel}" ${target.refId}`);
      onDashboard.add(name);
    }
  }
  for (const rule of await alerts()) {
    for (const name of metricNames(rule.expr)) used.set(name, `alert ${rule.alert}`);
  }
  t.true(used.size > 20, `${used.size} metrics used`);
  for (const [name, where] of used) t.truthy(familyOf(name, types), `${where}: ${name} is not in the provider's /metrics`);
  const dashboardFamilies = new Set([...onDashboard].map((name) => familyOf(name, types)));
  // Every metric vouch itself defines (not prom-client's process metrics) is on the dashboard.
  const own = families((await new ProviderMetrics({ defaultMetrics: false }).render()).body);
  for (const family of own.keys()) t.true(dashboardFamilies.has(family), `${family} is on the dashboard`);
});

// --- Kustomize component -----------------------------------------------------------------------------

test('component deploy/components/monitoring: the PrometheusRule, the dashboard ConfigMap for the Grafana sidecar, a ServiceMonitor', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-kustomize-monitoring-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(join(REPO_ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true });
  await mkdir(join(dir, 'overlay'));
  await writeFile(
    join(dir, 'overlay', 'kustomization.yaml'),
    'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../deploy]\ncomponents: [../deploy/components/monitoring]\n',
  );
  const { stdout } = await run(toolPath('kustomize'), ['build', join(dir, 'overlay')], { maxBuffer: 16 * 1024 * 1024 });
  const objects = parseAllDocuments(stdout, { uniqueKeys: true }).map((d) => d.toJS() as Obj);
  const find = (kind: string, name: string) => objects.find((o) => o['kind'] === kind && o['metadata']['name'] === name);

  const rule = find('PrometheusRule', 'vouch')!;
  t.deepEqual(rule['spec'], (await ruleObject())['spec']);
  const configMap = find('ConfigMap', 'vouch-grafana-dashboard')!;
  t.is(configMap['metadata']['namespace'], 'vouch-system');
  t.is(configMap['metadata']['labels']['grafana_dashboard'], '1');
  t.deepEqual(JSON.parse(configMap['data']['vouch.json']), await dashboard());

  const monitor = find('ServiceMonitor', 'vouch')!;
  const service = find('Service', 'vouch')!;
  for (const [k, v] of Object.entries(monitor['spec']['selector']['matchLabels'] as Record<string, string>))
    t.is(service['metadata']['labels'][k], v, k);
  t.deepEqual(monitor['spec']['namespaceSelector']['matchNames'], [service['metadata']['namespace']]);
  const port = (service['spec']['ports'] as Obj[]).find((p) => p['name'] === monitor['spec']['endpoints'][0]['port'])!;
  t.truthy(port, 'the ServiceMonitor scrapes a named port of the Service');
  // the port the health listener (plain HTTP, /metrics) listens on
  const container = find('Deployment', 'vouch')!['spec']['template']['spec']['containers'][0];
  const target = (container['ports'] as Obj[]).find((p) => p['name'] === port['targetPort'])!;
  const config = parseYaml(find('ConfigMap', 'vouch-config')!['data']['config.yaml']) as Obj;
  t.true(String(config['server']['healthAddress']).endsWith(`:${target['containerPort']}`));
  t.is(monitor['spec']['endpoints'][0]['scheme'], 'http');
});

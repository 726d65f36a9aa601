// `vouch referrers REF`: lists what refers to an image (signatures, SBOMs, signatures on those),
// from a registry or an OCI layout, the way the verifier will find them.

import { parseArgs } from 'node:util';
import { createHostsRegistryClient, createRuntime, registryCredentialsFromEnv, type Runtime } from '../../app/index.js';
import { CONFIG_ENV_VAR, configPathFrom, loadConfig, type VouchConfig } from '../../config/index.js';
import { parseReference, formatReference, manifestReference, VouchError } from '../../core/index.js';
import { moduleLogger } from '../../log.js';
import { OciLayoutSource, walkReferrers, type ContentSource } from '../../oci/index.js';
import { referrersJson, renderReferrersTable, renderReferrersTree, type ReferrersReport } from '../render.js';
import { referrerVerdicts, type ReferrerVerdicts } from '../referrer-verdicts.js';
import { dockerHubNotes } from '../hints.js';
import { UsageError, type CommandIo } from '../io.js';

export const referrersUsage = `usage: vouch referrers [--tree] [--config FILE] [--env NAME]... [--layout DIR] [--plain-http]
                       [--depth N] [--max-artifacts N] [--output table|json] REF

Lists the referrers of an image: notation and cosign signatures, SBOMs and other artifacts, and
their own referrers (a signature on an SBOM) down to --depth levels (default 2).

  REF              image reference (host/repo:tag, host/repo@sha256:…); with --layout, a tag,
                   a digest or a reference whose tag is in the layout's index.json
  --tree           draw the graph as a tree; with a config, each signature gets its signer and
                   its verdict per environment, from the verification engine
  --config FILE    configuration file (or VOUCH_CONFIG): registries (credentials, plainHttp,
                   allowlist, ociLayout) and, with --tree, the environments to verify in
  --env NAME       with --tree and a config: an environment to show (repeatable; default all)
  --layout DIR     read an OCI image layout directory instead of a registry (no config)
  --plain-http     talk HTTP, not HTTPS, to the registry (loopback development registries; no config)
  --depth N        levels of referrers to walk (1 = direct referrers only)
  --max-artifacts N
                   artifacts in the graph at most (default and ceiling 256); a larger graph is
                   an error, not a partial listing
  --output FMT     table (default) or json

Without a config, registry credentials, if needed, come from VOUCH_REGISTRY_USERNAME and
VOUCH_REGISTRY_PASSWORD. With --layout or --plain-http, ${CONFIG_ENV_VAR} is not read.

Exit status: 0 the graph was listed (whatever the verdicts), 1 it could not be (registry, caps),
2 bad usage or bad configuration.`;

/** Artifacts in a listed graph at most: walkReferrers' default, a ceiling on memory and requests. */
const MAX_ARTIFACTS = 256;

export async function referrersCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tree: { type: 'boolean', default: false },
      config: { type: 'string' },
      env: { type: 'string', multiple: true },
      layout: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      depth: { type: 'string', default: '2' },
      'max-artifacts': { type: 'string', default: String(MAX_ARTIFACTS) },
      output: { type: 'string', default: 'table' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(referrersUsage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one image reference', referrersUsage);
  const depth = Number(values.depth);
  if (!Number.isInteger(depth) || depth < 1 || depth > 10)
    throw new UsageError(`--depth must be an integer from 1 to 10, got "${values.depth}"`, referrersUsage);
  const maxNodes = Number(values['max-artifacts']);
  if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > MAX_ARTIFACTS)
    throw new UsageError(`--max-artifacts must be an integer from 1 to ${MAX_ARTIFACTS}, got "${values['max-artifacts']}"`, referrersUsage);
  if (values.output !== 'table' && values.output !== 'json')
    throw new UsageError(`--output must be table or json, got "${values.output}"`, referrersUsage);
  const adHoc = values.layout !== undefined || values['plain-http'];
  if (adHoc && values.config !== undefined)
    throw new UsageError(
      '--layout and --plain-http are for use without a config: with --config, set registries.<host>.ociLayout or plainHttp in it',
      referrersUsage,
    );
  const envs = values.env ?? [];
  const configPath = adHoc ? undefined : configFile(values.config);
  if (envs.length > 0 && configPath === undefined)
    throw new UsageError(`--env needs a config (--config FILE or ${CONFIG_ENV_VAR})`, referrersUsage);
  if (envs.length > 0 && !values.tree) throw new UsageError('--env applies to --tree', referrersUsage);
  const input = positionals[0]!;

  const config = configPath === undefined ? undefined : await loadConfig(configPath);
  if (config !== undefined) {
    for (const env of envs) {
      if (!config.environments.has(env))
        throw new UsageError(
          `--env "${env}" is not a configured environment (${[...config.environments.keys()].join(', ')})`,
          referrersUsage,
        );
    }
  }

  let source: ContentSource;
  let reference: string;
  let display: string;
  let close: (() => Promise<void>) | undefined;
  let runtime: Runtime | undefined;
  const ref = values.layout !== undefined ? undefined : parseReference(input);
  if (ref === undefined) {
    source = await OciLayoutSource.open(values.layout!);
    reference = input;
    display = input;
  } else {
    for (const note of dockerHubNotes('referrers', [input])) io.err(note);
    if (config !== undefined) {
      // The same registries, layouts and allowlist the engine verifies against (docs/configuration.md).
      const built = await createRuntime(config, { logger: moduleLogger('cli'), watch: false });
      runtime = built;
      source = built.sourceOf(ref);
      close = () => built.close();
    } else {
      const client = createHostsRegistryClient([ref.registry], {
        plainHttp: values['plain-http'],
        credentials: registryCredentialsFromEnv(),
      });
      source = client.repositoryFor(ref);
      close = () => client.close();
    }
    reference = manifestReference(ref);
    display = formatReference(ref);
  }
  try {
    const subject = await source.resolve(reference);
    const tree = await walkReferrers(source, subject.digest, { maxDepth: depth, maxNodes });
    const report: ReferrersReport = { reference: display, source: source.location, subject, tree };
    let verdicts: ReferrerVerdicts | undefined;
    if (values.tree && runtime !== undefined && ref !== undefined) {
      const runtimeConfig = runtime.config;
      verdicts = await referrerVerdicts(tree, {
        engine: runtime.engine,
        reference: ref,
        environments: envs.length > 0 ? envs : [...runtimeConfig.environments.keys()],
        trusts: (name) => trustsOf(runtimeConfig, name),
        // As `vouch verify`: the server's budget, at least 30 s for a one-shot command.
        deadline: Date.now() + Math.max(runtimeConfig.server.requestTimeoutMs, 30_000),
      });
    }
    if (values.output === 'json') io.out(JSON.stringify(referrersJson(report, verdicts), null, 2));
    else io.out(values.tree ? renderReferrersTree(report, verdicts) : renderReferrersTable(report));
    return 0;
  } catch (error) {
    if (error instanceof VouchError) {
      io.err(`vouch referrers: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await close?.();
  }
}

/** --config, else VOUCH_CONFIG, else none (referrers works without a config). */
function configFile(flag: string | undefined): string | undefined {
  if (flag === undefined && !process.env[CONFIG_ENV_VAR]) return undefined;
  return configPathFrom(flag);
}

function trustsOf(config: VouchConfig, environment: string): { notation: boolean; cosign: boolean } {
  const env = config.environments.get(environment);
  return { notation: env?.trustPolicy !== undefined, cosign: env?.cosign !== undefined };
}

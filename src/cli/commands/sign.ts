// `vouch sign --key KEY --cert CHAIN [...] REF` (or `--plugin NAME --id KEY_ID`, a key held by a
// notation plugin): signs an image as `notation sign` does and
// attaches the signature as a referrer (OCI 1.1 artifact manifest; the referrers tag index is kept
// current on registries without the Referrers API). docs/api.md "vouch sign". Exit 0 signed,
// 1 the registry or the TSA failed, 2 bad usage or bad input (key, certificate, reference).

import { parseArgs } from 'node:util';
import { createHostsRegistryClient, createRegistryClient, registryCredentialsFromEnv } from '../../app/index.js';
import { CONFIG_ENV_VAR, loadConfig } from '../../config/index.js';
import { VouchError, formatReference, manifestReference, parseReference, withDigest } from '../../core/index.js';
import { moduleLogger } from '../../log.js';
import { signImage } from '../../notation/index.js';
import { referrersTag, type RegistryClient } from '../../oci/index.js';
import { UsageError, type CommandIo } from '../io.js';
import { checkSigningFlags, loadSigningChoice, SIGNING_FLAGS, SIGNING_FLAGS_HELP } from '../signing-options.js';

export const signUsage = `usage: vouch sign (--key KEY --cert CHAIN | --plugin NAME --id KEY_ID [--plugin-config k=v]...
                   [--plugin-dir DIR]) [--envelope jws|cose] [--expiry DURATION]
                  [--timestamp-url URL --timestamp-root PEM] [--annotation k=v]... [--user-metadata k=v]...
                  [--config FILE] [--plain-http] [--output text|json] REF

Signs an image with a Notary Project signature that \`notation verify\` accepts, and pushes it as a
referrer of the image (OCI 1.1 manifest with artifactType application/vnd.cncf.notary.signature).
On registries without the Referrers API the sha256-<hex> referrers tag index is updated.

  REF                  image by tag (resolved; the digest is signed) or by digest
${SIGNING_FLAGS_HELP}
  --config FILE        take registry credentials and plainHttp from the config's registries
                       section (or ${CONFIG_ENV_VAR})
  --plain-http         without a config: talk HTTP to the registry (loopback development registries)
  --output FMT         text (default) or json

Without a config, registry credentials come from VOUCH_REGISTRY_USERNAME and VOUCH_REGISTRY_PASSWORD.
Exit status: 0 signed, 1 the registry, the timestamp authority or the plugin failed, 2 bad usage or
bad input.`;

export async function signCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...SIGNING_FLAGS,
      config: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      output: { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(signUsage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one image reference', signUsage);
  checkSigningFlags(values, signUsage);
  if (values.output !== 'text' && values.output !== 'json')
    throw new UsageError(`--output must be text or json, got "${values.output}"`, signUsage);
  const configPath = values.config ?? (process.env[CONFIG_ENV_VAR] || undefined);
  if (configPath !== undefined && values['plain-http']) {
    throw new UsageError(`--plain-http is for use without a config; with one, set plainHttp in its registries section`, signUsage);
  }
  const input = positionals[0]!;
  const ref = parseReference(input);

  // Everything local first: a bad key, chain or root fails before any registry is contacted.
  const config = configPath !== undefined ? await loadConfig(configPath) : undefined;
  const { signer, options: signing, expiryMs } = await loadSigningChoice(values, signUsage, { config });
  const timestamp = signing.timestamp;

  let client: RegistryClient;
  if (config !== undefined) {
    client = createRegistryClient(config, { logger: moduleLogger('cli') });
  } else {
    client = createHostsRegistryClient([ref.registry], { plainHttp: values['plain-http'], credentials: registryCredentialsFromEnv() });
  }
  try {
    const repository = client.repositoryFor(ref);
    const subject = await repository.resolve(manifestReference(ref));
    const signed = await signImage(repository, subject, {
      signer,
      ...signing,
      ...(expiryMs !== undefined ? { expiry: new Date(Date.now() + expiryMs) } : {}),
    });
    const signedRef = formatReference(withDigest(ref, subject.digest));
    if (values.output === 'json') {
      io.out(
        JSON.stringify(
          {
            reference: signedRef,
            subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
            signature: { ...signed.descriptor, envelopeMediaType: signed.envelopeMediaType },
            via: signed.via,
            ...(signed.via === 'tag-schema' ? { referrersTag: referrersTag(subject.digest) } : {}),
            timestamped: timestamp !== undefined,
          },
          null,
          2,
        ),
      );
    } else {
      const via =
        signed.via === 'referrers-api'
          ? 'the registry indexed it (Referrers API)'
          : `the referrers tag index ${referrersTag(subject.digest)} was updated (no Referrers API)`;
      io.out(
        [
          `Signed ${signedRef}`,
          `  signature ${signed.descriptor.digest} (${signing.format}${timestamp ? ', timestamped' : ''})`,
          `  referrer: ${via}`,
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await client.close();
  }
}

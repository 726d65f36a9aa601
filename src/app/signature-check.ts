// Checks a signature that has not been pushed yet against an environment's trust, for the
// repository it is about to be pushed to: `vouch promote --sign-for ENV` refuses before writing
// anything when the key it was given would not satisfy ENV there (untrusted chain, identity not
// trusted, no trust policy for the destination repository, weak algorithm), with the reason
// admission would give. It runs the same engine as admission, over a MemorySource holding the
// subject manifest and the new signature, served under the destination's registry host, so the
// trust policy scope is matched against the destination repository exactly as the provider will.

import type { ImageReference } from '../core/index.js';
import type { VouchConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { MEDIA_TYPE, MemorySource, type FetchedManifest } from '../oci/index.js';
import type { SignatureManifest } from '../notation/index.js';
import type { KeyResult, SignatureResult } from '../verify/index.js';
import { createRuntime } from './runtime.js';

export interface SignatureCheckOptions {
  config: VouchConfig;
  environment: string;
  /** Where the signature will be pushed (registry and repository; tag and digest ignored). */
  destination: Pick<ImageReference, 'registry' | 'repository'>;
  /** The signed manifest, as it will exist at the destination (digests are preserved). */
  subject: FetchedManifest;
  signature: SignatureManifest;
  logger: Logger;
  now?: () => number;
  /** Budget for the check in ms (default 30 s). */
  timeoutMs?: number;
}

export interface SignatureCheck {
  /** The engine's answer for the subject with only this signature attached. */
  result: KeyResult;
  /** This signature's report in that answer (absent when the engine never got to it, e.g. NO_TRUST_POLICY). */
  signature: SignatureResult | undefined;
  /** True when this signature on its own satisfies the environment's trust policy. */
  trusted: boolean;
}

export async function checkSignatureForEnvironment(options: SignatureCheckOptions): Promise<SignatureCheck> {
  const { destination, subject, signature } = options;
  const memory = new MemorySource(`pre-flight check of ${destination.registry}/${destination.repository}`);
  memory.addManifest(subject.bytes, subject.descriptor.mediaType);
  memory.addManifest(signature.bytes, MEDIA_TYPE.ociManifest);
  for (const blob of signature.blobs) memory.addBlob(blob.bytes);
  // Never the shared result cache: this answer is about content that is not in the registry yet,
  // and another replica must not serve it if the push then fails.
  const config: VouchConfig = { ...options.config, cache: { ...options.config.cache, shared: undefined } };
  const now = options.now ?? Date.now;
  const runtime = await createRuntime(config, {
    logger: options.logger,
    watch: false,
    now,
    sourceFor: (host) => (host === destination.registry ? () => memory : undefined),
  });
  try {
    const key = `[${options.environment}]${destination.registry}/${destination.repository}@${subject.descriptor.digest}`;
    const [result] = await runtime.engine.verify([key], { deadline: now() + (options.timeoutMs ?? 30_000) });
    const report = result?.value?.signatures.find((s) => s.digest === signature.descriptor.digest);
    return { result: result!, signature: report, trusted: report?.verified === true };
  } finally {
    await runtime.close();
  }
}

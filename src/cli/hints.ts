// Notes the CLI prints on stderr beside its answer, for what a user did not write but vouch assumed.

import { DOCKER_HUB_HOST, parseReference, trustPolicyScope } from '../core/index.js';
import { splitKey } from '../verify/index.js';

/**
 * When `input` (an image reference, possibly with an [environment] prefix) names no registry, the
 * Docker Hub reference it stands for, as docker and notation read it ("nginx" is
 * docker.io/library/nginx: distribution/reference ParseNormalizedNamed); otherwise undefined.
 * Invalid input gives undefined: the command reports it with its own error.
 */
export function dockerHubAssumed(input: string): string | undefined {
  try {
    const { reference } = splitKey(input);
    const ref = parseReference(reference);
    if (ref.registry !== DOCKER_HUB_HOST) return undefined;
    const first = reference.split('/')[0]!;
    // Written with a Docker Hub host: nothing was assumed.
    if (reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return undefined;
    // docker.io/…, as users write it (and as trust policy registryScopes must name it).
    return `${trustPolicyScope(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
  } catch {
    return undefined;
  }
}

/** The stderr note for each input that names no registry. */
export function dockerHubNotes(command: string, inputs: readonly string[]): string[] {
  const notes: string[] = [];
  for (const input of inputs) {
    const full = dockerHubAssumed(input);
    if (full !== undefined) {
      notes.push(`vouch ${command}: "${input}" names no registry; Docker Hub was assumed (${full}). Write the registry to use another.`);
    }
  }
  return notes;
}

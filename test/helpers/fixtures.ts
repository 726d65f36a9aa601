// Where tests find data that lives in the repository (test/fixtures/), resolved from this file rather
// than from process.cwd(), so a test reads the same bytes whichever directory ava was started from.
// Provenance and licence of the conformance vectors: test/fixtures/vectors/*/PROVENANCE.md.

import { fileURLToPath } from 'node:url';

/** test/fixtures/: every fixture file the tests read. */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The real Notary Project and cosign conformance vectors, copied byte for byte from upstream. */
export const VECTORS = fileURLToPath(new URL('../fixtures/vectors/', import.meta.url));

/** The Notary Project vectors (notation CLI e2e, notation-go, notation-core-go, derived cases). */
export const NOTATION_VECTORS = fileURLToPath(new URL('../fixtures/vectors/notation/', import.meta.url));

/** The cosign / sigstore vectors (legacy simple signing, keyless, bundle v0.3). */
export const COSIGN_VECTORS = fileURLToPath(new URL('../fixtures/vectors/cosign/', import.meta.url));

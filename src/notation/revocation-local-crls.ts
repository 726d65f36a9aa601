// CRLs given by configuration rather than downloaded: DER/PEM bytes, or a directory of such files
// read once on first use (air-gapped sites, and offline checking). Matched to a certificate by
// issuer name and validated like downloaded ones (RFC 5280 §6.3.3,
// https://www.rfc-editor.org/rfc/rfc5280#section-6.3.3). Notary Project rules:
// https://github.com/notaryproject/specifications/blob/main/specs/trust-store-trust-policy.md#certificate-revocation-evaluation

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VouchError, errorMessage } from '../core/index.js';
import type { Logger } from '../log.js';
import type { Certificate } from '../trust/index.js';
import { parseCrl, splitCrls, validateCrl, type ParsedCrl } from './revocation-crl.js';

export class LocalCrls {
  readonly #source: Uint8Array[] | string | undefined;
  readonly #log: Logger;
  #crls: Promise<ParsedCrl[]> | undefined;

  /** Bytes handed in directly are configuration: a CRL that does not parse fails now (INVALID_CONFIG). */
  constructor(source: Uint8Array[] | string | undefined, log: Logger) {
    this.#source = source;
    this.#log = log;
    if (Array.isArray(source)) {
      const parsed = source.flatMap((bytes, i) => {
        try {
          return splitCrls(bytes).map((der) => parseCrl(der));
        } catch (error) {
          throw new VouchError('INVALID_CONFIG', `local CRL ${i}: ${errorMessage(error)}`, { reason: 'BAD_CONTENT', cause: error });
        }
      });
      this.#crls = Promise.resolve(parsed);
    }
  }

  /** The freshest current local CRL of `issuer` that verifies (base or delta as asked); problems are appended. */
  async freshest(issuer: Certificate, delta: boolean, now: Date, problems: string[]): Promise<ParsedCrl | undefined> {
    for (const candidate of await this.candidates(issuer, delta)) {
      try {
        validateCrl(candidate, issuer, now);
        return candidate;
      } catch (error) {
        problems.push(`local ${delta ? 'delta ' : ''}CRL: ${errorMessage(error)}`);
      }
    }
    return undefined;
  }

  /** Local CRLs of `issuer` (base or delta), newest first: by thisUpdate for base CRLs, by CRL number for deltas. */
  async candidates(issuer: Certificate, delta: boolean): Promise<ParsedCrl[]> {
    const name = Buffer.from(issuer.rawSubject);
    const mine = (await this.#all()).filter((c) => c.isDelta === delta && c.issuerName.equals(name));
    return delta
      ? mine.sort((a, b) => Number((b.crlNumber ?? 0n) - (a.crlNumber ?? 0n)))
      : mine.sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime());
  }

  #all(): Promise<ParsedCrl[]> {
    this.#crls ??= this.#loadDirectory();
    return this.#crls;
  }

  async #loadDirectory(): Promise<ParsedCrl[]> {
    const dir = this.#source;
    if (typeof dir !== 'string') return [];
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch (error) {
      this.#log.error({ dir, err: errorMessage(error) }, 'cannot read the local CRL directory');
      return [];
    }
    const out: ParsedCrl[] = [];
    for (const name of names.sort()) {
      try {
        out.push(...splitCrls(await readFile(join(dir, name))).map((der) => parseCrl(der)));
      } catch (error) {
        this.#log.warn({ file: join(dir, name), err: errorMessage(error) }, 'skipping a local CRL file that is not a CRL');
      }
    }
    return out;
  }
}

// Kubernetes manifests for `vouch check`: multi-document YAML (or JSON, which is YAML) from files,
// directories and stdin, as `kubectl apply -f` and `helm template` produce them. Every object is
// kept with where it came from, so a finding or an error can name the file and document.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { VouchError } from '../core/index.js';

/** All inputs together may hold at most this many bytes (a rendered chart is rarely above 1 MiB). */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

/** Files a directory contributes (kubectl's extensions: k8s.io/cli-runtime pkg/resource FileExtensions). */
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface ManifestObject {
  /** The file path, or "-" for stdin. */
  source: string;
  /** 1-based index of the YAML document in its source. */
  document: number;
  /** 0-based index in a List's items, when the object came from one. */
  item?: number;
  object: Record<string, unknown>;
}

export interface ReadManifestsOptions {
  /** Read for "-" (default: process.stdin). */
  stdin?: AsyncIterable<Uint8Array | string>;
  maxBytes?: number;
}

function invalid(message: string): VouchError {
  return new VouchError('INVALID_INPUT', message);
}

/**
 * The Kubernetes objects of every input in order: files as given, directories recursively (sorted
 * by name, *.yaml, *.yml and *.json only), "-" for stdin. Documents that are no Kubernetes object
 * (empty, or without a string apiVersion and kind) are skipped. Throws VouchError INVALID_INPUT
 * naming the file, and for YAML syntax errors the line and column.
 */
export async function readManifests(inputs: readonly string[], options: ReadManifestsOptions = {}): Promise<ManifestObject[]> {
  const budget = { left: options.maxBytes ?? MAX_MANIFEST_BYTES };
  const objects: ManifestObject[] = [];
  for (const input of inputs) {
    if (input === '-') {
      objects.push(...parseManifests(await readStream(options.stdin ?? process.stdin, budget), '-'));
      continue;
    }
    for (const file of await manifestFiles(input)) {
      const info = await stat(file);
      if (info.size > budget.left) throw tooLarge(file, options.maxBytes ?? MAX_MANIFEST_BYTES);
      budget.left -= info.size;
      objects.push(...parseManifests(await readFile(file, 'utf8'), file));
    }
  }
  return objects;
}

function tooLarge(source: string, max: number): VouchError {
  return new VouchError('INVALID_INPUT', `${source}: the manifests exceed the limit of ${max} bytes`, { reason: 'SIZE_LIMIT' });
}

async function readStream(stream: AsyncIterable<Uint8Array | string>, budget: { left: number }): Promise<string> {
  const limit = budget.left;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    if (buffer.length > budget.left) throw tooLarge('-', limit);
    budget.left -= buffer.length;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function manifestFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw invalid(
      `${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}`,
    );
  }
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await manifestFiles(child)));
    else if (entry.isFile() && MANIFEST_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) files.push(child);
  }
  return files;
}

/** The Kubernetes objects of one source's text (see readManifests). */
export function parseManifests(text: string, source: string): ManifestObject[] {
  const objects: ManifestObject[] = [];
  // yaml's default alias limit (maxAliasCount 100) bounds "billion laughs" documents.
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((doc, i) => {
    const document = i + 1;
    const error = doc.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0];
      const where = at ? `${source}:${at.line}:${at.col}` : source;
      throw invalid(`${where}: document ${document}: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw invalid(`${source}: document ${document}: ${(e as Error).message}`);
    }
    if (!isObject(value)) return;
    if (isList(value)) {
      (value['items'] as unknown[]).forEach((item, index) => {
        if (isObject(item)) objects.push({ source, document, item: index, object: item });
      });
    } else {
      objects.push({ source, document, object: value });
    }
  });
  return objects;
}

/** A Kubernetes object: a mapping with a string apiVersion and kind (anything else is skipped). */
function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return typeof record['apiVersion'] === 'string' && typeof record['kind'] === 'string';
}

/** `kind: List` (kubectl get -o yaml) and typed lists like DeploymentList carry their objects in items. */
function isList(value: Record<string, unknown>): boolean {
  return (value['kind'] as string).endsWith('List') && Array.isArray(value['items']);
}

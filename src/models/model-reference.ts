/**
 * Model references resolved, and descriptors read, in one place (the worker). A reference (see
 * reference-text.ts) leads to a descriptor: a catalog entry, from the catalog or from a
 * manifest.json served with the model's files (an old-format manifest is migrated).
 */
import { ManifestError, UnknownModelError } from '../errors.ts';
import { CATALOG, CATALOG_FORMAT, parseCatalogEntry, type CatalogEntry } from './catalog.ts';
import { huggingFaceBaseUrl, parseReference } from './reference-text.ts';
import { isLegacyManifest, migrateManifest } from './manifest.ts';

/** What a reference resolves to: a catalog entry at hand, or a descriptor to fetch. */
export type ResolvedReference = { readonly kind: 'entry'; readonly entry: CatalogEntry } | { readonly kind: 'descriptor'; readonly url: string };

/**
 * Resolves a reference. A bundled catalog model resolves to its manifest.json under `appBase`,
 * where the app publishes it; a repo id to the manifest.json at the repo's root; a folder URL to
 * the manifest.json in it.
 * @throws UnknownModelError for an id the catalog does not have (the message lists those it does)
 */
export function resolveReference(text: string, appBase?: string, catalog: readonly CatalogEntry[] = CATALOG): ResolvedReference {
  const parsed = parseReference(text, appBase);
  if (parsed.kind === 'id') {
    const entry = catalog.find((e) => e.id === parsed.id);
    if (entry === undefined) {
      const known = catalog.map((e) => e.id);
      throw new UnknownModelError(`Unknown model "${parsed.id}"; the catalog has ${known.join(', ')} (or give a Hugging Face repo id or a URL)`, { id: parsed.id, known });
    }
    if (entry.source.kind === 'bundled') return { kind: 'descriptor', url: new URL(entry.source.manifest, appBase).href };
    return { kind: 'entry', entry };
  }
  if (parsed.kind === 'hub') return { kind: 'descriptor', url: `${huggingFaceBaseUrl(parsed.repo, parsed.revision)}manifest.json` };
  const url = new URL(parsed.url);
  if (url.pathname.endsWith('.json')) return { kind: 'descriptor', url: url.href };
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { kind: 'descriptor', url: new URL('manifest.json', url).href };
}

/**
 * A model's manifest.json, fetched from `url`, as its catalog entry: the current format
 * ("webdiffusion-catalog/1", one entry, whose `source` defaults to the manifest's folder) or the
 * old one, migrated.
 * @throws ManifestError when it is neither, or malformed
 */
export function parseDescriptor(json: unknown, url: string): CatalogEntry {
  if (isLegacyManifest(json)) return migrateManifest(json, url);
  const format = typeof json === 'object' && json !== null ? (json as { format?: unknown }).format : undefined;
  if (format !== CATALOG_FORMAT && !(format === undefined && typeof json === 'object' && json !== null && 'variants' in json)) {
    throw new ManifestError(`${url}: "format" must be "${CATALOG_FORMAT}", got ${JSON.stringify(format) ?? 'nothing'}`, { source: url, field: 'format' });
  }
  return parseCatalogEntry(json, { where: url, baseUrl: url });
}

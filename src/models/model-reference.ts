/**
 * Model references and descriptors, read in one place. A reference is what `loadModel`, the
 * `<web-diffusion model>` attribute and the CLI take: a catalog id ("sd-turbo-fp16"), a Hugging
 * Face repo id ("owner/name", "owner/name@revision"), or a URL (of a model's folder or of its
 * manifest.json). A descriptor is what the reference leads to: a catalog entry, from the catalog
 * or from a manifest.json served with the model's files (an old-format manifest is migrated).
 */
import { ManifestError, UnknownModelError } from '../errors.ts';
import { CATALOG, CATALOG_FORMAT, huggingFaceBaseUrl, huggingFaceRepoOf, parseCatalogEntry, type CatalogEntry } from './catalog.ts';
import { isLegacyManifest, migrateManifest } from './manifest.ts';

/** A reference, sorted: its kind decides how it resolves. */
export type ParsedReference =
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'hub'; readonly repo: string; readonly revision: string }
  | { readonly kind: 'url'; readonly url: string };

/**
 * What kind of reference `text` is. A word with no "/" or ":" is an id; "owner/name" a Hugging
 * Face repo; anything else a URL, relative ones resolved against `base` (the page).
 * @throws UnknownModelError when the text is empty, or a URL that cannot be one
 */
export function parseReference(text: string, base?: string): ParsedReference {
  const trimmed = text.trim();
  if (trimmed === '') throw new UnknownModelError('No model given: name a catalog id, a Hugging Face repo id or a URL', { id: text, known: catalogIds() });
  if (!/[/:\\]/.test(trimmed) && !trimmed.endsWith('.json')) return { kind: 'id', id: trimmed };
  const hub = huggingFaceRepoOf(trimmed);
  if (hub !== undefined) return { kind: 'hub', ...hub };
  let url: URL;
  try {
    url = new URL(trimmed, base);
  } catch (cause) {
    throw new UnknownModelError(`"${text}" is neither a catalog id, a Hugging Face repo id ("owner/name") nor a URL`, { id: text, known: catalogIds() }, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UnknownModelError(`"${text}": a model URL must use http or https, not ${url.protocol}`, { id: text, known: catalogIds() });
  }
  return { kind: 'url', url: url.href };
}

/**
 * A reference in the form that keeps its meaning anywhere: ids and repo ids as they are, URLs
 * made absolute against `base`. The client sends this to its worker, whose own address would
 * resolve a relative URL elsewhere; the element keys its shared loads by it.
 */
export function absoluteReference(text: string, base?: string): string {
  const parsed = parseReference(text, base);
  return parsed.kind === 'url' ? parsed.url : text.trim();
}

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

function catalogIds(): string[] {
  return CATALOG.map((entry) => entry.id);
}

/**
 * What `ensureModel` stores for a source: a file list's record, or a descriptor's, fetched, the
 * variant chosen, and, when the descriptor cannot be fetched, the copy stored with it last time.
 */
import { CancelledError, NetworkError } from '../errors.ts';
import type { CatalogEntry, CatalogVariant } from '../models/catalog.ts';
import {
  absoluteUrl,
  descriptorRecord,
  fetchDescriptor,
  fileListRecord,
  manifestKey,
  recordDescriptor,
  recordKey,
  type ListedFile,
  type ModelRecord,
  type ModelSource,
} from './model-source.ts';
import { filesOf, type ModelEntry, type StoreIndex } from './store-index.ts';

/** Which of a descriptor's variants to store (device fitting); its first when not given. */
export type VariantChoice = (descriptor: CatalogEntry) => CatalogVariant | Promise<CatalogVariant>;

/**
 * The model `source` names. A descriptor that cannot be fetched falls back to the copy stored the
 * last time it was (the complete version's, if any), which is what makes an offline visit work.
 */
export async function resolveSource(
  index: StoreIndex,
  source: ModelSource,
  choose: VariantChoice | undefined,
  signal: AbortSignal | undefined,
  stallTimeoutMs: number,
): Promise<{ record: ModelRecord; offline: boolean }> {
  const pinnedIn = (entry: ModelEntry | undefined) => {
    const stored = entry === undefined ? [] : filesOf(entry);
    return (file: ListedFile) => stored.find((s) => s.path === file.path && (file.size === undefined || s.size === file.size));
  };
  if (typeof source !== 'string' && !(source instanceof URL)) {
    return { record: await fileListRecord(source, pinnedIn(await index.model(source.id)), signal), offline: false };
  }
  const url = absoluteUrl(source);
  let descriptor: CatalogEntry;
  let fetchError: unknown;
  try {
    descriptor = await fetchDescriptor(url, signal, stallTimeoutMs);
  } catch (error) {
    if (signal?.aborted === true) throw new CancelledError('Model download cancelled', {}, { cause: signal.reason });
    // Only a network failure falls back to the stored copy.
    if (!(error instanceof NetworkError)) throw error;
    const kept = await storedDescriptor(index, url);
    if (kept === null) throw error;
    descriptor = kept;
    fetchError = error;
  }
  const variant = choose !== undefined ? await choose(descriptor) : descriptor.variants[0]!;
  const entry = await index.model(manifestKey(url, descriptor, variant));
  if (fetchError === undefined) return { record: await descriptorRecord(url, descriptor, variant, pinnedIn(entry), signal), offline: false };
  const stored = entry?.complete ?? entry?.pending;
  if (stored === undefined || stored === null) throw fetchError;
  // Stored before records carried their key, or their descriptor.
  return { record: { ...stored, key: recordKey(stored), descriptor, variant: variant.id }, offline: true };
}

/** The descriptor stored with a model fetched from `url` (any of its variants), if one is. */
async function storedDescriptor(index: StoreIndex, url: URL): Promise<CatalogEntry | null> {
  const base = manifestKey(url);
  const entries = await index.models();
  const matching = entries.filter((entry) => entry.key === base || entry.key.startsWith(`${base}#`));
  for (const entry of matching.sort((a, b) => (b.lastUsed ?? 0) - (a.lastUsed ?? 0))) {
    const record = entry.complete ?? entry.pending;
    const descriptor = record === null ? null : recordDescriptor(record);
    if (descriptor !== null) return descriptor;
  }
  return null;
}

/**
 * A model folder on disk as the weight store the pipeline loads from: `open` gives a Blob read
 * lazily from the file (Node's `openAsBlob`), as OPFS files are in a browser. Only what
 * `loadDiffusionModel` calls is here; the bench has no downloads.
 */
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CatalogEntry, CatalogVariant } from '../../src/models/catalog.ts';
import { parseDescriptor } from '../../src/models/model-reference.ts';
import type { StoredModel, WeightStore } from '../../src/storage/weight-store.ts';

export interface FolderModel {
  /** The model's descriptor (either manifest format), and its first variant: the one in the folder. */
  readonly descriptor: CatalogEntry;
  readonly variant: CatalogVariant;
  readonly stored: StoredModel;
  readonly store: WeightStore;
}

/** The model whose manifest.json is in `folder`. */
export async function openModelFolder(folder: string): Promise<FolderModel> {
  const file = join(folder, 'manifest.json');
  const descriptor = parseDescriptor(JSON.parse(await readFile(file, 'utf8')), pathToFileURL(file).href);
  const variant = descriptor.variants[0]!;
  const files = variant.files.map(({ path, size, sha256 }) => ({ path, size: size ?? 0, sha256: sha256 ?? '' }));
  const stored: StoredModel = { id: descriptor.id, key: folder, descriptor, variant, files, downloadedBytes: 0, offline: false };
  const store = {
    open: (_key: string, path: string) => openAsBlob(join(folder, path)),
    bytes: async (_key: string, path: string) => new Uint8Array(await readFile(join(folder, path))),
  } as Partial<WeightStore> as WeightStore;
  return { descriptor, variant, stored, store };
}

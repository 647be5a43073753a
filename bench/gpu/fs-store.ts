/**
 * A model folder on disk as the weight store the pipeline loads from: `open` gives a Blob read
 * lazily from the file (Node's `openAsBlob`), as OPFS files are in a browser. Only what
 * `loadDiffusionModel` calls is here; the bench has no downloads.
 */
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest, type Manifest } from '../../src/models/manifest.ts';
import type { StoredModel, WeightStore } from '../../src/storage/weight-store.ts';

export interface FolderModel {
  readonly manifest: Manifest;
  readonly stored: StoredModel;
  readonly store: WeightStore;
}

/** The model whose manifest.json is in `folder`. */
export async function openModelFolder(folder: string): Promise<FolderModel> {
  const manifest = parseManifest(JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')), join(folder, 'manifest.json'));
  const stored: StoredModel = { id: manifest.id, key: folder, manifest, files: manifest.files, downloadedBytes: 0, offline: false };
  const store = {
    open: (_key: string, path: string) => openAsBlob(join(folder, path)),
    bytes: async (_key: string, path: string) => new Uint8Array(await readFile(join(folder, path))),
  } as Partial<WeightStore> as WeightStore;
  return { manifest, stored, store };
}

/**
 * Content-addressed file storage: each file is kept once, under its SHA-256, whatever models and
 * paths refer to it. Its bytes are parts in a backend (parts.ts: OPFS, or the Cache API); the
 * index (store-index.ts) records how many parts are committed and the hash state after them.
 */
import { IntegrityError, ModelLoadError } from '../errors.ts';
import type { PartSink, PartStore } from './parts.ts';
import type { BlobRecord, StoreIndex } from './store-index.ts';

export type { BlobRecord } from './store-index.ts';

/** A file a model lists: the store looks its bytes up by `sha256`. */
export interface StoredFileEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export class BlobStore {
  constructor(
    private readonly parts: PartStore,
    private readonly index: StoreIndex,
  ) {}

  /** Where the bytes live: 'opfs', or 'cache' where the browser has no usable OPFS. */
  get backend(): PartStore['kind'] {
    return this.parts.kind;
  }

  /** What is stored of the file with this digest; undefined when nothing is. */
  progress(sha256: string): Promise<BlobRecord | undefined> {
    return this.index.blob(sha256);
  }

  /** Bytes of the file stored: all of it when complete, else the committed parts. */
  static storedBytes(record: BlobRecord | undefined): number {
    if (record === undefined) return 0;
    return record.complete ? record.size : record.parts * record.partSize;
  }

  /** Records what is committed; called after the part it counts is closed. */
  saveProgress(sha256: string, record: BlobRecord): Promise<void> {
    return this.index.setBlob(sha256, record);
  }

  /** A sink for part `index`, replacing whatever an interrupted download left there. */
  createPart(sha256: string, index: number): Promise<PartSink> {
    return this.parts.createPart(sha256, index);
  }

  /**
   * The stored bytes of `entry`, as a Blob read lazily from disk.
   * @throws ModelLoadError when the file is not (completely) stored, or stored at another size
   *   than `entry` lists (nothing is removed: the stored file is another model's)
   * @throws IntegrityError when its parts do not add up to its size (the store was damaged); the
   *   file is removed so that the next `ensureModel` downloads it again
   */
  async read(entry: StoredFileEntry): Promise<Blob> {
    const record = await this.index.blob(entry.sha256);
    if (record?.complete !== true || record.size !== entry.size) {
      throw new ModelLoadError(`${entry.path} is not stored (yet): ensureModel downloads it`, {
        path: entry.path,
        sha256: entry.sha256,
        storedBytes: BlobStore.storedBytes(record),
        size: entry.size,
      });
    }
    const parts = await this.parts.readParts(entry.sha256, record.parts);
    const storedSize = parts.reduce((sum, part) => sum + part.size, 0);
    // Checked against the file's own record, which only a verified download writes; `entry`
    // (what a model lists) was already found to agree with it.
    if (parts.length !== record.parts || storedSize !== record.size) {
      await this.remove(entry.sha256);
      throw new IntegrityError(
        `${entry.path}: the stored copy is damaged (${storedSize} of ${entry.size} bytes); it was removed, ensureModel downloads it again`,
        {
          path: entry.path,
          sha256: entry.sha256,
          storedBytes: storedSize,
          size: entry.size,
        },
      );
    }
    return new Blob(parts, { type: 'application/octet-stream' });
  }

  /** Removes the file with this digest, whatever of it is stored. */
  async remove(sha256: string): Promise<void> {
    // The record first: removal cut short leaves bytes without a record, which `list` still finds.
    await this.index.deleteBlob(sha256);
    await this.parts.remove(sha256);
  }

  /** Digests of every file stored, completely or in part, or recorded with nothing stored yet. */
  async list(): Promise<string[]> {
    return [...new Set([...(await this.parts.list()), ...(await this.index.blobs())])];
  }
}

/**
 * Runs `task` holding the Web Lock for the file with this digest, so that two tabs (or two calls)
 * never write the same file at once: the second waits, then finds it stored.
 */
export async function withFileLock<T>(sha256: string, task: () => Promise<T>): Promise<T> {
  // Web Locks are in every browser with OPFS writables; the fallback only serves odd embeddings.
  const locks = globalThis.navigator?.locks;
  return locks === undefined ? task() : await locks.request(`webdiffusion-weights/${sha256}`, task);
}

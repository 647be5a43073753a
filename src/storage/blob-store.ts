/**
 * Content-addressed file storage in the Origin Private File System: each file is kept once,
 * under its SHA-256, whatever models and paths refer to it.
 *
 * Layout under the store's root directory:
 *
 *   blobs/<sha256>/progress.json   what is stored: part size, parts committed, hash state
 *   blobs/<sha256>/0, 1, 2, …      the file's bytes, `partSize` bytes a part (the last one shorter)
 *   models/<id>.json               which files make up a model (see weight-store.ts)
 *
 * Why parts: Chromium's `createWritable()` writes into a swap file that replaces the real one
 * only on `close()`, and a reload throws the swap file away; reopening with
 * `keepExistingData: true` copies the whole file first (measured here: 1.2-1.9 s for 256 MB).
 * Committing one big file every few megabytes would copy gigabytes; committing parts costs
 * nothing, and a reload loses at most the part being written. A stored file is read back as one
 * `Blob` made of the parts' `File`s, which Chromium reads lazily from disk.
 * (`createSyncAccessHandle` writes in place, but only in workers; this store also runs in pages.)
 */
import { IntegrityError, ModelLoadError } from '../errors.ts';

/** What is stored of one file; progress.json holds it. */
export interface BlobProgress {
  readonly size: number;
  readonly partSize: number;
  /** Parts committed: `parts * partSize` bytes are on disk (all of them when complete). */
  readonly parts: number;
  /** The SHA-256 hasher's state after the committed parts (hash-wasm `save()`), base64. */
  readonly hashState?: string;
  /** True once the whole file is on disk and its digest matched. */
  readonly complete: boolean;
}

/** A file a model lists: the store looks its bytes up by `sha256`. */
export interface StoredFileEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

const PROGRESS = 'progress.json';

export class BlobStore {
  private constructor(private readonly blobs: FileSystemDirectoryHandle) {}

  static async open(root: FileSystemDirectoryHandle): Promise<BlobStore> {
    return new BlobStore(await root.getDirectoryHandle('blobs', { create: true }));
  }

  /** What is stored of the file with this digest; undefined when nothing is. */
  async progress(sha256: string): Promise<BlobProgress | undefined> {
    const directory = await this.directory(sha256);
    return directory === undefined ? undefined : readJson<BlobProgress>(directory, PROGRESS);
  }

  /** Bytes of the file on disk: all of it when complete, else the committed parts. */
  static storedBytes(progress: BlobProgress | undefined): number {
    if (progress === undefined) return 0;
    return progress.complete ? progress.size : progress.parts * progress.partSize;
  }

  async saveProgress(sha256: string, progress: BlobProgress): Promise<void> {
    await writeJson(await this.directoryOrCreate(sha256), PROGRESS, progress);
  }

  /** A writable for part `index`, replacing whatever an interrupted download left there. */
  async createPart(sha256: string, index: number): Promise<FileSystemWritableFileStream> {
    const directory = await this.directoryOrCreate(sha256);
    const handle = await directory.getFileHandle(String(index), { create: true });
    return handle.createWritable({ keepExistingData: false });
  }

  /**
   * The stored bytes of `entry`, as a Blob read lazily from disk.
   * @throws ModelLoadError when the file is not (completely) stored
   * @throws IntegrityError when its parts on disk do not add up to its size (the store was
   *   damaged); the file is removed so that the next `ensureModel` downloads it again
   */
  async read(entry: StoredFileEntry): Promise<Blob> {
    const directory = await this.directory(entry.sha256);
    const progress = directory === undefined ? undefined : await readJson<BlobProgress>(directory, PROGRESS);
    if (directory === undefined || progress?.complete !== true) {
      throw new ModelLoadError(`${entry.path} is not stored (yet): ensureModel downloads it`, {
        path: entry.path,
        sha256: entry.sha256,
        storedBytes: BlobStore.storedBytes(progress),
        size: entry.size,
      });
    }
    const parts: File[] = [];
    try {
      for (let index = 0; index < progress.parts; index++) {
        parts.push(await (await directory.getFileHandle(String(index))).getFile());
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const storedSize = parts.reduce((sum, part) => sum + part.size, 0);
    if (parts.length !== progress.parts || storedSize !== entry.size) {
      await this.remove(entry.sha256);
      throw new IntegrityError(`${entry.path}: the stored copy is damaged (${storedSize} of ${entry.size} bytes); it was removed, ensureModel downloads it again`, {
        path: entry.path,
        sha256: entry.sha256,
        storedBytes: storedSize,
        size: entry.size,
      });
    }
    return new Blob(parts, { type: 'application/octet-stream' });
  }

  /** Removes the file with this digest, whatever of it is stored. */
  async remove(sha256: string): Promise<void> {
    await this.blobs.removeEntry(sha256, { recursive: true }).catch(ignoreNotFound);
  }

  /** Digests of every file stored, completely or in part. */
  list(): Promise<string[]> {
    return entryNames(this.blobs);
  }

  private async directory(sha256: string): Promise<FileSystemDirectoryHandle | undefined> {
    try {
      return await this.blobs.getDirectoryHandle(sha256);
    } catch (error) {
      return ignoreNotFound(error);
    }
  }

  private async directoryOrCreate(sha256: string): Promise<FileSystemDirectoryHandle> {
    return this.blobs.getDirectoryHandle(sha256, { create: true });
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

/** The names in `directory`. */
export async function entryNames(directory: FileSystemDirectoryHandle): Promise<string[]> {
  // TypeScript types directory iteration only in the "DOM.AsyncIterable" lib, which we do not load.
  const iterable = directory as unknown as { keys(): AsyncIterable<string> };
  const names: string[] = [];
  for await (const name of iterable.keys()) names.push(name);
  return names;
}

/** The parsed JSON file `name` in `directory`, or undefined when there is none (or it is empty). */
export async function readJson<T>(directory: FileSystemDirectoryHandle, name: string): Promise<T | undefined> {
  let file: File;
  try {
    file = await (await directory.getFileHandle(name)).getFile();
  } catch (error) {
    return ignoreNotFound(error);
  }
  // `writeJson` creates the file empty before its writable swaps the contents in: a reader in
  // between, or a reload at that moment, finds it empty. That is the file not written yet.
  if (file.size === 0) return undefined;
  return JSON.parse(await file.text()) as T;
}

/** Writes `value` as JSON; `close()` swaps the new contents in whole, so a reader never sees half. */
export async function writeJson(directory: FileSystemDirectoryHandle, name: string, value: unknown): Promise<void> {
  const writable = await (await directory.getFileHandle(name, { create: true })).createWritable();
  await writable.write(JSON.stringify(value));
  await writable.close();
}

function isNotFound(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'NotFoundError';
}

/** For `.catch`: a missing entry is what the caller asked for (absence); anything else is rethrown. */
export function ignoreNotFound(error: unknown): undefined {
  if (isNotFound(error)) return undefined;
  throw error;
}

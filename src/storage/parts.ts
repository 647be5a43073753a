/**
 * Where a stored file's bytes live: as numbered parts of `partSize` bytes each, in the Origin
 * Private File System or, where a browser has no usable OPFS, in the Cache API. Both backends
 * keep a file under its SHA-256; the index (store-index.ts) says how many parts are committed.
 *
 * Why parts: Chromium's `createWritable()` writes into a swap file that replaces the real one
 * only on `close()`, and a reload throws the swap file away; reopening with
 * `keepExistingData: true` copies the whole file first (measured here: 1.2-1.9 s for 256 MB).
 * Committing one big file every few megabytes would copy gigabytes; committing parts costs
 * nothing, and a reload loses at most the part being written. The Cache API has the same shape:
 * an entry is stored whole when its body ends. A stored file is read back as one `Blob` made of
 * its parts, which Chromium reads lazily from disk.
 * (`createSyncAccessHandle` writes in place, but only in workers; this store also runs in pages.)
 */

/** One part being written: committed by `close()`, dropped by `abort()`. */
export interface PartSink {
  /** Resolves once `bytes` may be reused by the caller. */
  write(bytes: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export interface PartStore {
  readonly kind: 'opfs' | 'cache';
  /** Starts part `index` of a file, replacing whatever an interrupted download left there. */
  createPart(sha256: string, index: number): Promise<PartSink>;
  /** Parts 0 … count-1 of a file, as far as they exist (a damaged store has fewer). */
  readParts(sha256: string, count: number): Promise<Blob[]>;
  /** Removes a file's parts, whatever of them exist. */
  remove(sha256: string): Promise<void>;
  /** Digests of the files with at least one part stored. */
  list(): Promise<string[]>;
}

/** Parts as files: blobs/<sha256>/0, 1, 2, … under the store's OPFS directory. */
export class OpfsParts implements PartStore {
  readonly kind = 'opfs';

  private constructor(private readonly blobs: FileSystemDirectoryHandle) {}

  /**
   * The store's parts in the OPFS directory `name`.
   * @returns undefined when this browser has no OPFS with writable files (Safari before 18.2,
   *   Firefox's private windows refuse `getDirectory()`)
   */
  static async open(name: string): Promise<OpfsParts | undefined> {
    if (globalThis.navigator?.storage?.getDirectory === undefined) return undefined;
    if (typeof FileSystemFileHandle === 'undefined' || !('createWritable' in FileSystemFileHandle.prototype)) return undefined;
    let root: FileSystemDirectoryHandle;
    try {
      root = await navigator.storage.getDirectory();
    } catch (error) {
      if (error instanceof DOMException && (error.name === 'SecurityError' || error.name === 'NotAllowedError')) return undefined;
      throw error;
    }
    const store = await root.getDirectoryHandle(name, { create: true });
    return new OpfsParts(await store.getDirectoryHandle('blobs', { create: true }));
  }

  async createPart(sha256: string, index: number): Promise<PartSink> {
    const directory = await this.blobs.getDirectoryHandle(sha256, { create: true });
    const handle = await directory.getFileHandle(String(index), { create: true });
    return handle.createWritable({ keepExistingData: false });
  }

  async readParts(sha256: string, count: number): Promise<Blob[]> {
    const parts: File[] = [];
    try {
      const directory = await this.blobs.getDirectoryHandle(sha256);
      for (let index = 0; index < count; index++) parts.push(await (await directory.getFileHandle(String(index))).getFile());
    } catch (error) {
      ignoreNotFound(error);
    }
    return parts;
  }

  async remove(sha256: string): Promise<void> {
    await this.blobs.removeEntry(sha256, { recursive: true }).catch(ignoreNotFound);
  }

  async list(): Promise<string[]> {
    // TypeScript types directory iteration only in the "DOM.AsyncIterable" lib, which we do not load.
    const iterable = this.blobs as unknown as { keys(): AsyncIterable<string> };
    const names: string[] = [];
    for await (const name of iterable.keys()) names.push(name);
    return names;
  }
}

/**
 * Parts as Cache API entries, for browsers without a usable OPFS. The keys are made-up URLs (the
 * Cache API takes only http(s) ones) on a reserved domain, so they cannot clash with real ones.
 */
export class CacheParts implements PartStore {
  readonly kind = 'cache';
  private static readonly PREFIX = 'https://webdiffusion-weights.invalid/';

  private constructor(private readonly cache: Cache) {}

  /** @returns undefined when this browser has no Cache API here (insecure contexts). */
  static async open(name: string): Promise<CacheParts | undefined> {
    if (typeof caches === 'undefined') return undefined;
    return new CacheParts(await caches.open(name));
  }

  async createPart(sha256: string, index: number): Promise<PartSink> {
    const stream = new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>();
    // `put` reads the body as it arrives and stores the entry once it ends; a body that is
    // aborted stores nothing, as an OPFS writable aborted keeps nothing.
    const stored = this.cache.put(CacheParts.key(sha256, index), new Response(stream.readable));
    // Observed by write and close; marked handled so a failure in between is not reported twice.
    stored.catch(() => undefined);
    const writer = stream.writable.getWriter();
    // A failed `put` (quota) errors the stream; its own rejection says why, the writer's does not.
    const why = async (error: unknown): Promise<never> => {
      await stored;
      throw error;
    };
    return {
      // A copy: the stream holds a chunk until the cache reads it, and the caller reuses its buffer.
      write: (bytes) => writer.write(bytes.slice()).catch(why),
      close: () => writer.close().then(() => stored, why),
      abort: async () => {
        await writer.abort().catch(() => undefined);
        await stored.catch(() => undefined);
      },
    };
  }

  async readParts(sha256: string, count: number): Promise<Blob[]> {
    const parts: Blob[] = [];
    for (let index = 0; index < count; index++) {
      const response = await this.cache.match(CacheParts.key(sha256, index));
      if (response === undefined) break;
      parts.push(await response.blob());
    }
    return parts;
  }

  async remove(sha256: string): Promise<void> {
    for (const request of await this.cache.keys()) {
      if (CacheParts.digestOf(request.url) === sha256) await this.cache.delete(request);
    }
  }

  async list(): Promise<string[]> {
    return [...new Set((await this.cache.keys()).map((request) => CacheParts.digestOf(request.url)))];
  }

  private static key(sha256: string, index: number): string {
    return `${CacheParts.PREFIX}${sha256}/${index}`;
  }

  private static digestOf(url: string): string {
    return url.slice(CacheParts.PREFIX.length).split('/')[0]!;
  }
}

/** For `.catch`: a missing entry is what the caller asked for (absence); anything else is rethrown. */
export function ignoreNotFound(error: unknown): undefined {
  if (error instanceof DOMException && error.name === 'NotFoundError') return undefined;
  throw error;
}

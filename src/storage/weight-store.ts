/**
 * The weight store: downloads a model's files once, checks each against its SHA-256, keeps them
 * in the Origin Private File System (the Cache API where a browser has no usable OPFS), and hands
 * them back as Blobs read lazily from disk — offline too.
 *
 *   const store = createWeightStore();
 *   const model = await store.ensureModel('/models/tiny-shapes/manifest.json', { onProgress, signal });
 *   const unet = await store.open(model.key, model.variant!.models.unet!.file);
 *
 * Works in pages and in workers (OPFS, the Cache API, IndexedDB, fetch and Web Locks are in both).
 */
import type { CachedModel } from '../api.ts';
import { CancelledError, ModelLoadError, NetworkError, QuotaError } from '../errors.ts';
import type { CatalogEntry, CatalogVariant } from '../models/catalog.ts';
import { BlobStore, withFileLock } from './blob-store.ts';
import { fileUrl, recordDescriptor, type ModelRecord, type ModelSource, type StoredFile } from './model-source.ts';
import { CacheParts, OpfsParts, type PartStore } from './parts.ts';
import { ProgressReporter, type DownloadProgress } from './progress.ts';
import { downloadFile } from './resumable-download.ts';
import type { TransferOptions } from './transfer.ts';
import { StoreIndex, filesOf, type ModelEntry } from './store-index.ts';
import { resolveSource, type VariantChoice } from './source-record.ts';

// The whole public surface of the store comes from this file.
export type { DownloadProgress } from './progress.ts';
export type { FileListSource, ListedFile, ModelSource, StoredFile } from './model-source.ts';

export interface WeightStoreOptions {
  /**
   * The store's name: its OPFS directory, its IndexedDB database and (in the fallback) its
   * cache are called so. Default "webdiffusion-weights".
   */
  readonly name?: string;
  /** Where the bytes go; default 'opfs' where the browser has a usable OPFS, else 'cache'. */
  readonly backend?: 'opfs' | 'cache';
  /** Bytes per committed part, what a reload mid-download loses at most; default 32 MiB. */
  readonly partSize?: number;
  /** Files downloaded at the same time; default 3. */
  readonly concurrency?: number;
  /** Further attempts after a transfer that fails without receiving a byte; default 4. */
  readonly retries?: number;
  /** Wait before the first retry, doubled for each further one; default 1000 ms. */
  readonly retryDelayMs?: number;
  /** A transfer that receives nothing for this long is cut and resumed; default 30 000 ms. */
  readonly stallTimeoutMs?: number;
  /** How much the origin may still store; default `navigator.storage.estimate()`. */
  readonly estimate?: () => Promise<StorageEstimate>;
}

export interface EnsureOptions {
  readonly onProgress?: (progress: DownloadProgress) => void;
  /**
   * Which of a descriptor's variants to store, once the descriptor is fetched (or, offline, read
   * from the store) and before any file is; default its first. Device fitting goes here: what it
   * throws is what `ensureModel` throws. Not asked for a file list.
   */
  readonly variant?: VariantChoice;
  /** Aborting stops the download; what is committed stays for the next call. */
  readonly signal?: AbortSignal;
}

/** A model whose files are all stored and verified. */
export interface StoredModel {
  /** The id its descriptor or file list gives it. */
  readonly id: string;
  /** What the store knows it by (its descriptor's URL, or the file list's id): `open` takes it. */
  readonly key: string;
  /** The descriptor, and the variant of it whose files were stored; null for a file list. */
  readonly descriptor: CatalogEntry | null;
  readonly variant: CatalogVariant | null;
  readonly files: readonly StoredFile[];
  /** Bytes this call received from the network; 0 when everything was stored already. */
  readonly downloadedBytes: number;
  /** True when the manifest could not be fetched and the stored copy of it was used. */
  readonly offline: boolean;
}

export interface WeightStore {
  /**
   * Makes sure every file of a model is stored and verified, downloading what is missing (a few
   * files at a time) and resuming what an earlier call left half done. Offline, a model stored
   * earlier from the same manifest URL is served from the store. A changed manifest's new files
   * are downloaded beside the old version's, which stays until the new one is complete.
   * @param source the manifest's URL, or `{ id, baseUrl, files: [{ path, size, sha256 }] }`; a
   *   file list may leave a sha256 out where the host reports the file's digest (it is pinned)
   * @throws UnknownModelError when the server has no manifest at that URL (HTTP 404 or 410)
   * @throws ManifestError when the manifest or file list is malformed, or a listed file has no
   *   digest, given, pinned or reported by its host
   * @throws NetworkError when a file (or the manifest, with no stored copy) cannot be fetched
   * @throws IntegrityError when a file fails its size or SHA-256 check twice (it is fetched once
   *   more after the first failure)
   * @throws QuotaError when the browser will not store what is missing: before any byte is
   *   written, and again before each part (what the browser allows is asked anew, so a download
   *   that no longer fits stops before writing a part that cannot); `details` has `needed`,
   *   `available`, `missing` (bytes) and `files`
   * @throws CancelledError when `signal` aborts, or the model is deleted meanwhile (in this tab
   *   or another: tabs hold a Web Lock per model, which a delete takes)
   */
  ensureModel(source: ModelSource, options?: EnsureOptions): Promise<StoredModel>;
  /**
   * A stored file as a Blob read lazily from disk (keeps memory free for big files).
   * @param key the model's `StoredModel.key` (or `CachedModel.key`)
   * @throws ModelLoadError when the model or file is not stored
   * @throws IntegrityError when the stored copy is damaged (it is removed)
   */
  open(key: string, path: string): Promise<Blob>;
  /**
   * A stored file's bytes, for small files (configurations, tokenizer); big ones go by `open`.
   * @throws as `open`
   */
  bytes(key: string, path: string): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * The models stored, completely or in part: for each, the version a load would use (the last
   * complete one, else the one being downloaded).
   */
  list(): Promise<CachedModel[]>;
  /**
   * Removes a model, and its files that no other stored model uses; stops its download first.
   * @param model a `CachedModel.key`; or an id, which removes every model stored under that id
   */
  delete(model: string): Promise<void>;
  /** Removes every model and file of the store; stops its downloads first. */
  purge(): Promise<void>;
  /** Where the bytes are kept: 'opfs', or 'cache' where the browser has no usable OPFS. */
  backend(): Promise<'opfs' | 'cache'>;
}

const DEFAULTS = { name: 'webdiffusion-weights', partSize: 32 * 1024 * 1024, concurrency: 3, retries: 4, retryDelayMs: 1_000, stallTimeoutMs: 30_000 };

/** An `ensureModel` under way, so that `delete` and `purge` can stop it and wait for it. */
interface Running {
  readonly key: string;
  readonly controller: AbortController;
  readonly settled: Promise<unknown>;
}

/**
 * Creates a weight store. Nothing is touched until the first call.
 * @throws ModelLoadError (from the first call) when the browser has neither a usable Origin
 *   Private File System nor the Cache API
 */
export function createWeightStore(options: WeightStoreOptions = {}): WeightStore {
  const name = options.name ?? DEFAULTS.name;
  const concurrency = options.concurrency ?? DEFAULTS.concurrency;
  const estimate = options.estimate ?? (() => navigator.storage.estimate());
  const transfer: TransferOptions = {
    partSize: options.partSize ?? DEFAULTS.partSize,
    retries: options.retries ?? DEFAULTS.retries,
    retryDelayMs: options.retryDelayMs ?? DEFAULTS.retryDelayMs,
    stallTimeoutMs: options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
    available: () => availableBytes(estimate),
  };
  const running = new Set<Running>();
  let opened: Promise<{ blobs: BlobStore; index: StoreIndex }> | undefined;
  const storage = (): Promise<{ blobs: BlobStore; index: StoreIndex }> =>
    (opened ??= (async () => {
      const index = StoreIndex.open(name);
      await index.migrate();
      return { blobs: new BlobStore(await openParts(name, options.backend), index), index };
    })());
  let persistence: Promise<unknown> | undefined;
  const context = async (): Promise<StoreContext> => ({
    ...(await storage()),
    transfer,
    concurrency,
    estimate,
    askPersistence: () => {
      // Asked once, on the first download: a model kept is worth keeping under storage pressure.
      // Pages only: workers have no `persist()`; the engine's client asks on the main thread.
      persistence ??= globalThis.navigator?.storage?.persist?.().catch(() => false) ?? Promise.resolve(false);
    },
  });

  async function ensureModel(source: ModelSource, { onProgress, signal, variant }: EnsureOptions = {}): Promise<StoredModel> {
    throwIfCancelled(signal);
    const stores = await context();
    const { record, offline } = await resolveSource(stores.index, source, variant, signal, transfer.stallTimeoutMs);
    const controller = new AbortController();
    const abort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', abort);
    const work = holdingModelLock(modelLock(name, record.key), controller, () => storeModel(stores, record, offline, onProgress, controller.signal));
    const entry: Running = { key: record.key, controller, settled: work.catch(() => undefined) };
    running.add(entry);
    try {
      return await work;
    } finally {
      running.delete(entry);
      signal?.removeEventListener('abort', abort);
    }
  }

  async function open(key: string, path: string): Promise<Blob> {
    const { blobs, index } = await storage();
    const record = (await index.model(key))?.complete;
    if (record === undefined || record === null) {
      throw new ModelLoadError(`No complete model "${key}" in the weight store: ensureModel stores it`, { modelId: key });
    }
    const file = record.files.find((entry) => entry.path === path);
    if (file === undefined) {
      throw new ModelLoadError(`Model "${key}" has no file ${path}`, { modelId: key, path, files: record.files.map((entry) => entry.path) });
    }
    return blobs.read(file);
  }

  async function list(): Promise<CachedModel[]> {
    const { blobs, index } = await storage();
    const infos: CachedModel[] = [];
    for (const entry of await index.models()) {
      const record = entry.complete ?? entry.pending;
      if (record === null) continue;
      const files = distinctFiles(record.files);
      const totalBytes = sum(files.map((file) => file.size));
      const stored = sum(await storedBytes(blobs, files));
      const complete = (await completeFiles(blobs, files)).every(Boolean);
      infos.push({ id: record.id, key: entry.key, manifestUrl: record.manifestUrl, totalBytes, storedBytes: stored, complete, lastUsed: entry.lastUsed });
    }
    return infos;
  }

  /** Stops this store's downloads of `key` (of every model when undefined) and waits for them to end. */
  async function stop(key: string | undefined, why: string): Promise<void> {
    const stopped = [...running].filter((entry) => key === undefined || entry.key === key);
    for (const entry of stopped) entry.controller.abort(new CancelledError(why, { modelId: entry.key }));
    await Promise.all(stopped.map((entry) => entry.settled));
  }

  async function remove(model: string): Promise<void> {
    const { blobs, index } = await storage();
    const entries = await index.models();
    const byKey = entries.filter((entry) => entry.key === model);
    const named = byKey.length > 0 ? byKey : entries.filter((entry) => (entry.complete ?? entry.pending)?.id === model);
    for (const { key } of named) {
      await stop(key, `${model} was deleted`);
      // Taken from any tab downloading it, which stops there (see holdingModelLock).
      await withLock(modelLock(name, key), { steal: true }, () => index.deleteModel(key));
    }
    await removeUnused(blobs, index);
  }

  async function purge(): Promise<void> {
    await stop(undefined, 'The weight store was purged');
    const { blobs, index } = await storage();
    for (const entry of await index.models()) await index.deleteModel(entry.key);
    for (const sha256 of await blobs.list()) await withFileLock(sha256, () => blobs.remove(sha256));
  }

  return {
    ensureModel,
    open,
    bytes: async (key, path) => new Uint8Array(await (await open(key, path)).arrayBuffer()),
    list,
    delete: remove,
    purge,
    backend: async () => (await storage()).blobs.backend,
  };
}

/** What storing a model needs: the open store, how to transfer, and the quota. */
interface StoreContext {
  readonly blobs: BlobStore;
  readonly index: StoreIndex;
  readonly transfer: TransferOptions;
  /** Files downloaded at once. */
  readonly concurrency: number;
  readonly estimate: () => Promise<StorageEstimate>;
  /** Asks the browser, once per store, to keep what is stored under storage pressure. */
  askPersistence(): void;
}

/**
 * Stores `record`'s files that are missing (after checking the quota) and marks the model complete.
 * @throws NetworkError offline with files missing; QuotaError before the download, or when the
 *   browser refuses a write; whatever `downloadFile` throws
 */
async function storeModel(
  context: StoreContext,
  record: ModelRecord,
  offline: boolean,
  onProgress: EnsureOptions['onProgress'],
  signal: AbortSignal,
): Promise<StoredModel> {
  const { blobs, index, estimate } = context;
  // Listed before any byte is fetched, so that no other call removes its files as unused.
  if (!offline) await index.updateModel(record.key, (entry) => withVersion(entry, record));
  const files = distinctFiles(record.files);
  const stored = await storedBytes(blobs, files);
  // Completeness, not byte counts: an empty file has all its 0 bytes before it is stored.
  const done = await completeFiles(blobs, files);
  const missing = files.filter((_, i) => !done[i]);
  if (missing.length > 0 && offline) {
    throw new NetworkError(`${record.id}: ${missing.length} file(s) are not stored and the manifest cannot be fetched (offline?)`, {
      url: record.manifestUrl,
      files: missing.map((file) => file.path),
    });
  }
  const needed = sum(files.map((file, i) => file.size - stored[i]!));
  if (needed > 0) {
    const available = await availableBytes(estimate);
    if (needed > available) throw quotaError(record.id, needed, available, missing);
    // Asked once, on the first download: a model kept is worth keeping under storage pressure.
    // Pages only: workers have no `persist()`; the engine's client asks on the main thread.
    context.askPersistence();
  }

  const reporter = new ProgressReporter(
    onProgress,
    files.map((file, i) => ({ path: file.path, size: file.size, stored: stored[i]! })),
  );
  let downloadedBytes: number;
  try {
    downloadedBytes = await downloadAll(context, record, missing, reporter, signal);
  } catch (error) {
    if (!(error instanceof QuotaError)) throw error;
    // The browser refused a write although its estimate allowed it (Chromium's estimate
    // over-reports, in incognito windows for one): the refusal gives the better bound.
    const storedNow = await storedBytes(blobs, missing);
    const refusedAt = Number(error.details?.available ?? 0);
    throw quotaError(
      record.id,
      sum(missing.map((entry, i) => entry.size - storedNow[i]!)),
      Math.min(refusedAt, await availableBytes(estimate)),
      missing.filter((entry, i) => storedNow[i] !== entry.size),
      error,
    );
  }
  // Deleted meanwhile (in another tab): not written back.
  throwIfCancelled(signal);
  await index.updateModel(record.key, (entry) => ({
    ...entry,
    complete: record,
    // Another tab may have started a newer version meanwhile: that one stays pending.
    pending: entry.pending !== null && !sameFiles(entry.pending, record) ? entry.pending : null,
    lastUsed: Date.now(),
  }));
  await removeUnused(blobs, index);
  const descriptor = recordDescriptor(record);
  const variant = descriptor?.variants.find((v) => v.id === record.variant) ?? null;
  return { id: record.id, key: record.key, descriptor, variant, files: record.files, downloadedBytes, offline };
}

/**
 * Downloads `missing`, `concurrency` files at a time. The first failure stops the others (their
 * committed parts stay) and is what the call throws.
 */
async function downloadAll(
  { blobs, transfer, concurrency }: StoreContext,
  record: ModelRecord,
  missing: readonly StoredFile[],
  reporter: ProgressReporter,
  signal: AbortSignal,
): Promise<number> {
  const controller = new AbortController();
  const abort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', abort);
  const queue = [...missing];
  let failure: { error: unknown } | undefined;
  let received = 0;
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined && failure === undefined; file = queue.shift()) {
      const path = file.path;
      try {
        const got = await downloadFile(blobs, { ...file, url: fileUrl(record, file) }, transfer, (loaded) => reporter.stored(path, loaded), controller.signal);
        // Added after the await: `received += await …` would add to the value read before it.
        received += got;
        reporter.verified(path);
      } catch (error) {
        failure ??= { error };
        controller.abort();
      }
    }
  };
  try {
    throwIfCancelled(signal);
    await Promise.all(Array.from({ length: Math.min(concurrency, missing.length) }, worker));
  } finally {
    signal.removeEventListener('abort', abort);
  }
  if (failure !== undefined) throw failure.error;
  return received;
}

/** The Web Lock of the model stored under `key` in the store called `name`. */
function modelLock(name: string, key: string): string {
  return `${name}/model/${key}`;
}

/**
 * Runs a download holding its model's Web Lock in shared mode, so that tabs storing the same
 * model go on side by side; a delete in any tab steals the lock, and that aborts `controller`:
 * the download stops with CancelledError instead of writing into an entry that is gone.
 */
async function holdingModelLock<T>(lock: string, controller: AbortController, task: () => Promise<T>): Promise<T> {
  let work: Promise<T> | undefined;
  try {
    return await withLock(lock, { mode: 'shared' }, () => (work = task()));
  } catch (error) {
    if (work === undefined || !(error instanceof DOMException && error.name === 'AbortError')) throw error;
    controller.abort(new CancelledError('The model was deleted (in another tab?) while it was downloading', {}));
    return await work;
  }
}

/** `task` under the Web Lock `name`; just `task` where the browser has no Web Locks. */
async function withLock<T>(name: string, options: LockOptions, task: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks;
  return locks === undefined ? task() : await locks.request(name, options, task);
}

/** OPFS where it works, else the Cache API; `backend` forces one. */
async function openParts(name: string, backend: WeightStoreOptions['backend']): Promise<PartStore> {
  const parts = (backend !== 'cache' ? await OpfsParts.open(name) : undefined) ?? (backend !== 'opfs' ? await CacheParts.open(name) : undefined);
  if (parts === undefined) {
    throw new ModelLoadError(
      backend === 'opfs'
        ? 'This browser has no usable Origin Private File System to keep model files in'
        : 'This browser has neither an Origin Private File System nor the Cache API to keep model files in (is the page served over HTTPS?)',
      { backend: backend ?? 'auto' },
    );
  }
  return parts;
}

/** The entry with `record` as its version: the complete one when its files are the same, else the pending one. */
function withVersion(entry: ModelEntry, record: ModelRecord): ModelEntry {
  return entry.complete !== null && sameFiles(entry.complete, record) ? { ...entry, complete: record, pending: null } : { ...entry, pending: record };
}

function sameFiles(a: ModelRecord, b: ModelRecord): boolean {
  const digests = (record: ModelRecord): string => [...new Set(record.files.map((file) => file.sha256))].sort().join();
  return digests(a) === digests(b);
}

/** Removes stored files no model version lists (an older version's, an abandoned download's). */
async function removeUnused(blobs: BlobStore, index: StoreIndex): Promise<void> {
  const used = async (): Promise<Set<string>> => new Set((await index.models()).flatMap((entry) => filesOf(entry).map((file) => file.sha256)));
  const usedBefore = await used();
  for (const sha256 of await blobs.list()) {
    if (usedBefore.has(sha256)) continue;
    // Asked again under the file's lock: another tab may have listed it in a new version and
    // started downloading it since (it lists the version before it takes the lock).
    await withFileLock(sha256, async () => {
      if (!(await used()).has(sha256)) await blobs.remove(sha256);
    });
  }
}

/** Bytes stored of each file. */
async function storedBytes(blobs: BlobStore, files: readonly StoredFile[]): Promise<number[]> {
  return Promise.all(files.map(async (file) => BlobStore.storedBytes(await blobs.progress(file.sha256))));
}

/**
 * Whether each file is completely stored and verified, at the size listed: a manifest that lists
 * a stored digest with another size lists a file that cannot exist, and must not count as stored.
 */
async function completeFiles(blobs: BlobStore, files: readonly StoredFile[]): Promise<boolean[]> {
  return Promise.all(
    files.map(async (file) => {
      const record = await blobs.progress(file.sha256);
      return record?.complete === true && record.size === file.size;
    }),
  );
}

/** What the browser says this origin may still store. */
async function availableBytes(estimate: () => Promise<StorageEstimate>): Promise<number> {
  const { quota, usage } = await estimate();
  return quota === undefined ? Infinity : quota - (usage ?? 0);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Files with the same digest (two identical configs, say) are stored and counted once. */
function distinctFiles(files: readonly StoredFile[]): StoredFile[] {
  const bySha = new Map<string, StoredFile>();
  for (const file of files) if (!bySha.has(file.sha256)) bySha.set(file.sha256, file);
  return [...bySha.values()];
}

function quotaError(id: string, needed: number, available: number, files: readonly StoredFile[], cause?: unknown): QuotaError {
  const free = Math.max(0, available);
  return new QuotaError(
    `${id} needs ${megabytes(needed)} more, but the browser lets this site store only ${megabytes(free)}: free ${megabytes(needed - free)} (delete another model, or clear site data) and try again`,
    { needed, available: free, missing: needed - free, files: files.map((file) => file.path) },
    cause !== undefined ? { cause } : undefined,
  );
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new CancelledError('Model download cancelled', {}, { cause: signal.reason });
}

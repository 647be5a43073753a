/**
 * The weight store: downloads a model's files once, checks each against its SHA-256, keeps them
 * in the Origin Private File System, and hands back their bytes — offline too.
 *
 *   const store = createWeightStore();
 *   const model = await store.ensureModel('/models/tiny-shapes/manifest.json', { onProgress, signal });
 *   const unet = await store.bytes(model.id, model.manifest!.models.unet.file);
 *
 * Works in pages and in workers (OPFS, fetch and Web Locks are in both).
 */
import { CancelledError, ModelLoadError, NetworkError, QuotaError } from '../errors.ts';
import type { Manifest, ManifestFile } from '../models/manifest.ts';
import { BlobStore, entryNames, ignoreNotFound, readJson, withFileLock, writeJson } from './blob-store.ts';
import { absoluteUrl, fetchManifest, fileListRecord, fileUrl, type ModelRecord, type ModelSource } from './model-source.ts';
import { ProgressReporter, type DownloadProgress } from './progress.ts';
import { downloadFile, type TransferOptions } from './resumable-download.ts';

// The whole public surface of the store comes from this file.
export type { DownloadProgress } from './progress.ts';
export type { FileListSource, ModelSource } from './model-source.ts';

export interface WeightStoreOptions {
  /** Directory to keep everything in; default: "webdiffusion-weights" in the origin's OPFS. */
  readonly root?: FileSystemDirectoryHandle;
  /** Bytes per committed part, what a reload mid-download loses at most; default 32 MiB. */
  readonly partSize?: number;
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
  /** Aborting stops the download; what is committed stays for the next call. */
  readonly signal?: AbortSignal;
}

/** A model whose files are all stored and verified. */
export interface StoredModel {
  readonly id: string;
  /** The parsed manifest; null when the model was given as a file list. */
  readonly manifest: Manifest | null;
  readonly files: readonly ManifestFile[];
  /** Bytes this call received from the network; 0 when everything was stored already. */
  readonly downloadedBytes: number;
  /** True when the manifest could not be fetched and the stored copy of it was used. */
  readonly offline: boolean;
}

/** A model the store knows, complete or not. */
export interface StoredModelInfo {
  readonly id: string;
  readonly manifestUrl: string | null;
  /** Bytes of the model's distinct files, and how many of them are stored. */
  readonly totalBytes: number;
  readonly storedBytes: number;
  readonly complete: boolean;
}

export interface WeightStore {
  /**
   * Makes sure every file of a model is stored and verified, downloading what is missing and
   * resuming what an earlier call left half done. Offline, a model stored earlier from the same
   * manifest URL is served from the store.
   * @param source the manifest's URL, or `{ id, baseUrl, files: [{ path, size, sha256 }] }`
   * @throws ManifestError when the manifest or file list is malformed
   * @throws NetworkError when a file (or the manifest, with no stored copy) cannot be fetched
   * @throws IntegrityError when a downloaded file is not the one the manifest lists
   * @throws QuotaError when the browser will not store what is missing; `details` has `needed`,
   *   `available`, `missing` (bytes) and `files`
   * @throws CancelledError when `signal` aborts
   */
  ensureModel(source: ModelSource, options?: EnsureOptions): Promise<StoredModel>;
  /**
   * A stored file as a Blob read lazily from disk (keeps memory free for big files).
   * @throws ModelLoadError when the model or file is not stored
   * @throws IntegrityError when the stored copy is damaged (it is removed)
   */
  open(modelId: string, path: string): Promise<Blob>;
  /**
   * A stored file's bytes, e.g. for `InferenceSession.create(bytes)` or ORT's `externalData`.
   * @throws as `open`
   */
  bytes(modelId: string, path: string): Promise<Uint8Array<ArrayBuffer>>;
  /** The models stored, completely or in part. */
  list(): Promise<StoredModelInfo[]>;
  /** Removes a model, and its files that no other stored model uses. */
  delete(modelId: string): Promise<void>;
  /** Asks the browser not to evict the store under storage pressure; true if granted. */
  persist(): Promise<boolean>;
}

const DEFAULTS = { partSize: 32 * 1024 * 1024, retries: 4, retryDelayMs: 1_000, stallTimeoutMs: 30_000 };

/**
 * Creates a weight store. Nothing is touched until the first call.
 * @throws ModelLoadError (from the first call) when the browser has no Origin Private File System
 */
export function createWeightStore(options: WeightStoreOptions = {}): WeightStore {
  const transfer: TransferOptions = {
    partSize: options.partSize ?? DEFAULTS.partSize,
    retries: options.retries ?? DEFAULTS.retries,
    retryDelayMs: options.retryDelayMs ?? DEFAULTS.retryDelayMs,
    stallTimeoutMs: options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
  };
  let opened: Promise<{ blobs: BlobStore; models: FileSystemDirectoryHandle }> | undefined;
  const storage = (): Promise<{ blobs: BlobStore; models: FileSystemDirectoryHandle }> =>
    (opened ??= (async () => {
      const root = options.root ?? (await defaultRoot());
      return { blobs: await BlobStore.open(root), models: await root.getDirectoryHandle('models', { create: true }) };
    })());
  const estimate = options.estimate ?? (() => navigator.storage.estimate());

  async function ensureModel(source: ModelSource, { onProgress, signal }: EnsureOptions = {}): Promise<StoredModel> {
    throwIfCancelled(signal);
    const { blobs, models } = await storage();
    const { record, offline } = await resolve(models, source, signal);
    if (!offline) await writeJson(models, recordName(record.id), record);

    const files = distinctFiles(record.files);
    const stored = await storedBytes(blobs, files);
    const modelTotal = sum(files.map((file) => file.size));
    const missing = files.filter((file, index) => stored[index] !== file.size);
    if (missing.length > 0 && offline) {
      throw new NetworkError(`${record.id}: ${missing.length} file(s) are not stored and the manifest cannot be fetched (offline?)`, {
        url: record.manifestUrl,
        files: missing.map((file) => file.path),
      });
    }
    const needed = modelTotal - sum(stored);
    if (needed > 0) {
      const available = await availableBytes(estimate);
      if (needed > available) throw quotaError(record.id, needed, available, missing);
    }

    const reporter = new ProgressReporter(onProgress, modelTotal, sum(stored));
    let downloadedBytes = 0;
    for (const file of missing) {
      throwIfCancelled(signal);
      try {
        downloadedBytes += await downloadFile(
          blobs,
          { ...file, url: fileUrl(record, file) },
          transfer,
          (loaded, added) => reporter.stored(file.path, loaded, file.size, added),
          signal,
        );
      } catch (error) {
        if (!(error instanceof QuotaError)) throw error;
        // The browser refused a write although its estimate allowed it (Chromium's estimate
        // over-reports, in incognito windows for one): the refusal gives the better bound.
        const storedNow = await storedBytes(blobs, missing);
        const refusedAt = Number(error.details?.available ?? 0);
        throw quotaError(
          record.id,
          sum(missing.map((entry, index) => entry.size - storedNow[index]!)),
          Math.min(refusedAt, await availableBytes(estimate)),
          missing.filter((entry, index) => storedNow[index] !== entry.size),
          error,
        );
      }
    }
    await removeUnused(blobs, models);
    return { id: record.id, manifest: record.manifest, files: record.files, downloadedBytes, offline };
  }

  async function open(modelId: string, path: string): Promise<Blob> {
    const { blobs, models } = await storage();
    const record = await readJson<ModelRecord>(models, recordName(modelId));
    if (record === undefined) {
      throw new ModelLoadError(`No model "${modelId}" in the weight store: ensureModel stores it`, { modelId });
    }
    const file = record.files.find((entry) => entry.path === path);
    if (file === undefined) {
      throw new ModelLoadError(`Model "${modelId}" has no file ${path}`, { modelId, path, files: record.files.map((entry) => entry.path) });
    }
    return blobs.read(file);
  }

  async function list(): Promise<StoredModelInfo[]> {
    const { blobs, models } = await storage();
    const infos: StoredModelInfo[] = [];
    for (const record of await readRecords(models)) {
      const files = distinctFiles(record.files);
      const totalBytes = sum(files.map((file) => file.size));
      const stored = sum(await storedBytes(blobs, files));
      infos.push({ id: record.id, manifestUrl: record.manifestUrl, totalBytes, storedBytes: stored, complete: stored === totalBytes });
    }
    return infos;
  }

  async function remove(modelId: string): Promise<void> {
    const { blobs, models } = await storage();
    await models.removeEntry(recordName(modelId)).catch(ignoreNotFound);
    await removeUnused(blobs, models);
  }

  return {
    ensureModel,
    open,
    bytes: async (modelId, path) => new Uint8Array(await (await open(modelId, path)).arrayBuffer()),
    list,
    delete: remove,
    persist: () => navigator.storage.persist(),
  };
}

async function defaultRoot(): Promise<FileSystemDirectoryHandle> {
  if (typeof navigator === 'undefined' || navigator.storage?.getDirectory === undefined) {
    throw new ModelLoadError('This browser has no Origin Private File System (navigator.storage.getDirectory) to keep model files in', {});
  }
  return (await navigator.storage.getDirectory()).getDirectoryHandle('webdiffusion-weights', { create: true });
}

/**
 * The model `source` names. A manifest that cannot be fetched falls back to the copy stored the
 * last time it was, which is what makes an offline visit work.
 */
async function resolve(
  models: FileSystemDirectoryHandle,
  source: ModelSource,
  signal: AbortSignal | undefined,
): Promise<{ record: ModelRecord; offline: boolean }> {
  if (typeof source !== 'string' && !(source instanceof URL)) return { record: fileListRecord(source), offline: false };
  const url = absoluteUrl(source);
  try {
    return { record: await fetchManifest(url, signal), offline: false };
  } catch (error) {
    throwIfCancelled(signal);
    if (!(error instanceof NetworkError)) throw error;
    const stored = (await readRecords(models)).find((record) => record.manifestUrl === url.href);
    if (stored === undefined) throw error;
    return { record: stored, offline: true };
  }
}

/** Removes stored files no model lists (an older version's, an abandoned download's). */
async function removeUnused(blobs: BlobStore, models: FileSystemDirectoryHandle): Promise<void> {
  const used = async (): Promise<Set<string>> => new Set((await readRecords(models)).flatMap((record) => record.files.map((file) => file.sha256)));
  const usedBefore = await used();
  for (const sha256 of await blobs.list()) {
    if (usedBefore.has(sha256)) continue;
    // Asked again under the file's lock: another tab may have listed it in a new record and
    // started downloading it since (it writes the record before it takes the lock).
    await withFileLock(sha256, async () => {
      if (!(await used()).has(sha256)) await blobs.remove(sha256);
    });
  }
}

async function readRecords(models: FileSystemDirectoryHandle): Promise<ModelRecord[]> {
  const records: ModelRecord[] = [];
  for (const name of await entryNames(models)) {
    const record = await readJson<ModelRecord>(models, name);
    if (record !== undefined) records.push(record);
  }
  return records;
}

function recordName(modelId: string): string {
  // Ids may hold characters a file name may not ('/', say).
  return `${encodeURIComponent(modelId)}.json`;
}

/** Bytes stored of each file. */
async function storedBytes(blobs: BlobStore, files: readonly ManifestFile[]): Promise<number[]> {
  return Promise.all(files.map(async (file) => BlobStore.storedBytes(await blobs.progress(file.sha256))));
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
function distinctFiles(files: readonly ManifestFile[]): ManifestFile[] {
  const bySha = new Map<string, ManifestFile>();
  for (const file of files) if (!bySha.has(file.sha256)) bySha.set(file.sha256, file);
  return [...bySha.values()];
}

function quotaError(id: string, needed: number, available: number, files: readonly ManifestFile[], cause?: unknown): QuotaError {
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

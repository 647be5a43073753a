/**
 * Drives the weight store (src/storage) in a real page for test/storage/*.test.ts and the storage
 * benchmark. Each call works in its own store (`root`: its OPFS directory, IndexedDB database
 * and cache), so tests do not see each other's files; results and errors come back as plain
 * data, progress events included.
 */
import { createSHA256 } from 'hash-wasm';
import { clear, createStore, get } from 'idb-keyval';
import type { CachedModel } from '../../src/api.ts';
import {
  CancelledError,
  IntegrityError,
  ManifestError,
  ModelLoadError,
  NetworkError,
  QuotaError,
  UnknownModelError,
  WebDiffusionError,
} from '../../src/errors.ts';
import { requestGpuDevice } from '../../src/gpu/device.ts';
import { cpuTensor, float32DataOf, OrtSession, type OrtRuntime, type Tensor } from '../../src/ort/ort.ts';
import type { DownloadProgress } from '../../src/storage/progress.ts';
import type { ModelSource } from '../../src/storage/model-source.ts';
import type { BlobRecord } from '../../src/storage/store-index.ts';
import { createWeightStore, type WeightStore, type WeightStoreOptions } from '../../src/storage/weight-store.ts';
import type { WorkerReply, WorkerRequest } from './storage-worker.ts';

export interface StoreSettings extends Omit<WeightStoreOptions, 'name' | 'estimate'> {
  /** The store's name: the OPFS directory (under the origin's root), IndexedDB database and cache. */
  readonly root: string;
  /**
   * Pretend the browser lets the origin store only this many more bytes; a list gives the
   * answers to successive estimates (the last one repeats).
   */
  readonly fakeAvailable?: number | readonly number[];
}

export interface EnsureOutcome {
  readonly ok: boolean;
  readonly id?: string;
  readonly key?: string;
  readonly downloadedBytes?: number;
  readonly offline?: boolean;
  readonly error?: { name: string; code: string; message: string; details: Record<string, unknown>; classes: string[] };
  readonly progress: DownloadProgress[];
  readonly ms: number;
}

export interface StoragePage {
  /** Runs `ensureModel`; `cancelAtBytes` aborts once the model's stored bytes pass that many. */
  ensure(source: ModelSource, settings: StoreSettings, cancelAtBytes?: number): Promise<EnsureOutcome>;
  /** SHA-256 (hex) and size of a stored file, read through `bytes()`, and how long reading took. */
  digest(settings: StoreSettings, modelId: string, path: string): Promise<{ sha256: string; size: number; readMs: number }>;
  /**
   * Milliseconds to read a stored file through `open(…).stream()`, dropping the bytes: a plain
   * read, of any size (Chromium refuses `arrayBuffer()` of a Blob over 2 GiB).
   */
  readOnly(settings: StoreSettings, modelId: string, path: string): Promise<{ ms: number; size: number }>;
  /** What `open()` throws for a file, as `ensure` reports errors; null when it opens. */
  openError(settings: StoreSettings, modelId: string, path: string): Promise<EnsureOutcome['error'] | null>;
  list(settings: StoreSettings): Promise<CachedModel[]>;
  remove(settings: StoreSettings, modelId: string): Promise<void>;
  purge(settings: StoreSettings): Promise<void>;
  backend(settings: StoreSettings): Promise<string>;
  /** Parts committed so far of the file with this digest (read from the store's index). */
  committedParts(root: string, sha256: string): Promise<number>;
  /** Digests of the files with bytes in the store (OPFS directories, or Cache API entries). */
  storedDigests(settings: StoreSettings): Promise<string[]>;
  /** Names in the OPFS directory `root`/`path`. */
  listDirectory(root: string, path: string[]): Promise<string[]>;
  /** Runs the store in a dedicated worker (test/pages/storage-worker.ts). */
  inWorker(request: WorkerRequest): Promise<WorkerReply>;
  /** Empties the origin's OPFS, caches and store indexes. */
  clear(): Promise<void>;
  estimate(): Promise<{ quota: number; usage: number }>;
  /** Milliseconds to fetch `url` and drop the bytes: the network alone, for the benchmark. */
  fetchOnly(url: string): Promise<{ bytes: number; ms: number }>;
  /** Milliseconds for hash-wasm to hash `megabytes` MiB: the hashing alone, for the benchmark. */
  hashOnly(megabytes: number): Promise<{ bytes: number; ms: number }>;
  /**
   * Milliseconds to create an ONNX Runtime session from a stored model and (optionally) its
   * stored external data, as the engine does; then runs it (row `row` of each initializer of
   * `chunkRows` rows) and says whether the rows' bytes are the stored file's. For the benchmark
   * (bench/synthetic-onnx.ts).
   */
  sessionLoad(
    settings: StoreSettings,
    load: { modelId: string; model: string; externalData?: { path: string; file: string }; backend: 'wasm' | 'webgpu'; row: number; chunkRows: number },
  ): Promise<{ ms: number; rowMatches: boolean }>;
  /**
   * Creates a WebGPU session of a stored UNet (its .onnx and external-data files as the store's
   * Blobs, as the engine gives them) on ONNX Runtime's `runtime` build, and keeps it for
   * `unetStep`. For the load benchmark (bench/load.ts).
   */
  unetCreate(
    settings: StoreSettings,
    load: { modelId: string; model: string; externalData: { path: string; file: string }[]; runtime: OrtRuntime },
  ): Promise<{ ms: number; runtime: OrtRuntime }>;
  /** Starts ONNX Runtime's `runtime` build with a session of `model` (bytes), so that a measured load does not count the start. */
  startRuntime(model: number[], runtime: OrtRuntime): Promise<void>;
  /** Runs the kept UNet once on a [1, 4, latent, latent] sample: milliseconds, and whether every output value is finite. */
  unetStep(latent: number): Promise<{ ms: number; finite: boolean }>;
}

declare global {
  interface Window {
    storagePage?: StoragePage;
  }
}

const CLASSES = { WebDiffusionError, IntegrityError, QuotaError, NetworkError, CancelledError, UnknownModelError, ManifestError, ModelLoadError };

async function directory(path: string[]): Promise<FileSystemDirectoryHandle> {
  let handle = await navigator.storage.getDirectory();
  for (const name of path) handle = await handle.getDirectoryHandle(name, { create: true });
  return handle;
}

/** One store per settings: each holds an IndexedDB connection open. */
const stores = new Map<string, WeightStore>();

async function store(settings: StoreSettings): Promise<WeightStore> {
  const key = JSON.stringify(settings);
  const { root, fakeAvailable, ...options } = settings;
  let opened = stores.get(key);
  if (opened === undefined) {
    opened = createWeightStore({
      ...options,
      name: root,
      ...(fakeAvailable !== undefined ? { estimate: fakeEstimate(fakeAvailable) } : {}),
    });
    stores.set(key, opened);
  }
  return opened;
}

function fakeEstimate(available: number | readonly number[]): () => Promise<StorageEstimate> {
  const answers = typeof available === 'number' ? [available] : available;
  let calls = 0;
  return async () => ({ quota: answers[Math.min(calls++, answers.length - 1)]!, usage: 0 });
}

function describeError(error: unknown): NonNullable<EnsureOutcome['error']> {
  const e = error as WebDiffusionError;
  return {
    name: e.name,
    code: e.code,
    message: e.message,
    details: { ...e.details },
    classes: Object.entries(CLASSES)
      .filter(([, ErrorClass]) => error instanceof ErrorClass)
      .map(([name]) => name),
  };
}

function sha256Hex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

let device: Promise<GPUDevice> | undefined;
let unet: OrtSession | undefined;

/** A tensor for a UNet input, from its declared type and shape: symbolic dimensions are the batch (1) and the text length (77). */
function unetInput(name: string, dtype: string, shape: readonly (number | string)[] | undefined, latent: number): Tensor {
  const dims =
    name === 'sample' ? [1, 4, latent, latent] : name === 'timestep' ? [1] : (shape ?? []).map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 77));
  const count = dims.reduce((a, b) => a * b, 1);
  if (dtype === 'int64') return cpuTensor('int64', new BigInt64Array(count).fill(999n), dims);
  if (dtype !== 'float32') throw new Error(`UNet input ${name} is ${dtype}: the benchmark feeds float32 and int64 only`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = name === 'timestep' ? 999 : Math.sin(i * 0.37);
  return cpuTensor('float32', data, dims);
}

window.storagePage = {
  async ensure(source, settings, cancelAtBytes) {
    const progress: DownloadProgress[] = [];
    const controller = new AbortController();
    const started = performance.now();
    try {
      const model = await (
        await store(settings)
      ).ensureModel(source, {
        signal: controller.signal,
        onProgress: (event) => {
          progress.push(event);
          if (cancelAtBytes !== undefined && event.modelLoaded >= cancelAtBytes) controller.abort();
        },
      });
      return {
        ok: true,
        id: model.id,
        key: model.key,
        downloadedBytes: model.downloadedBytes,
        offline: model.offline,
        progress,
        ms: performance.now() - started,
      };
    } catch (error) {
      return { ok: false, error: describeError(error), progress, ms: performance.now() - started };
    }
  },
  async digest(settings, modelId, path) {
    const started = performance.now();
    const bytes = await (await store(settings)).bytes(modelId, path);
    const readMs = performance.now() - started;
    return { sha256: sha256Hex(await crypto.subtle.digest('SHA-256', bytes)), size: bytes.byteLength, readMs };
  },
  async readOnly(settings, modelId, path) {
    const opened = await store(settings);
    const started = performance.now();
    const reader = (await opened.open(modelId, path)).stream().getReader();
    let size = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) size += read.value.byteLength;
    return { ms: performance.now() - started, size };
  },
  async openError(settings, modelId, path) {
    try {
      await (await store(settings)).open(modelId, path);
      return null;
    } catch (error) {
      return describeError(error);
    }
  },
  list: async (settings) => (await store(settings)).list(),
  remove: async (settings, modelId) => (await store(settings)).delete(modelId),
  purge: async (settings) => (await store(settings)).purge(),
  backend: async (settings) => (await store(settings)).backend(),
  async committedParts(root, sha256) {
    const record = await get<BlobRecord>(['blob', sha256], createStore(root, 'index'));
    return record?.parts ?? 0;
  },
  async storedDigests(settings) {
    if ((await (await store(settings)).backend()) === 'opfs') return window.storagePage!.listDirectory(settings.root, ['blobs']);
    const keys = await (await caches.open(settings.root)).keys();
    return [...new Set(keys.map((request) => new URL(request.url).pathname.split('/')[1]!))].sort();
  },
  async listDirectory(root, path) {
    const names: string[] = [];
    const handle = (await directory([root, ...path])) as unknown as { keys(): AsyncIterable<string> };
    for await (const name of handle.keys()) names.push(name);
    return names.sort();
  },
  inWorker(request) {
    const worker = new Worker(new URL('./storage-worker.ts', import.meta.url), { type: 'module' });
    return new Promise<WorkerReply>((resolve, reject) => {
      worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => resolve(data);
      worker.onerror = (event) => reject(new Error(`storage worker: ${event.message}`));
      worker.postMessage(request);
    }).finally(() => worker.terminate());
  },
  async clear() {
    const root = await navigator.storage.getDirectory();
    for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) {
      await root.removeEntry(name, { recursive: true });
    }
    for (const name of await caches.keys()) await caches.delete(name);
    // Emptied, not deleted: the stores of this page hold their connections open, which would
    // block a deletion.
    for (const { name } of await indexedDB.databases()) if (name !== undefined) await clear(createStore(name, 'index'));
  },
  async estimate() {
    const { quota = 0, usage = 0 } = await navigator.storage.estimate();
    return { quota, usage };
  },
  async fetchOnly(url) {
    const started = performance.now();
    const reader = (await fetch(url, { cache: 'no-store' })).body!.getReader();
    let bytes = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) bytes += read.value.byteLength;
    return { bytes, ms: performance.now() - started };
  },
  async sessionLoad(settings, { modelId, model, externalData, backend, row, chunkRows }) {
    const opened = await store(settings);
    const gpu = backend === 'webgpu' ? await (device ??= requestGpuDevice()) : undefined;
    const started = performance.now();
    const data = externalData !== undefined ? await opened.open(modelId, externalData.file) : undefined;
    const session = await OrtSession.create(await opened.open(modelId, model), {
      backend,
      ...(gpu !== undefined ? { device: gpu } : {}),
      ...(externalData !== undefined ? { externalData: [{ path: externalData.path, data: data! }] } : {}),
    });
    const ms = performance.now() - started;
    try {
      const outputs = await session.run({ idx: cpuTensor('int64', BigInt64Array.of(BigInt(row)), [1]) });
      let rowMatches = data !== undefined;
      for (const [name, tensor] of Object.entries(outputs)) {
        const got = new Uint8Array(float32DataOf(tensor).slice().buffer);
        tensor.dispose();
        const start = (Number(name.slice(1)) * chunkRows + row) * got.byteLength;
        const expected = data === undefined ? undefined : new Uint8Array(await data.slice(start, start + got.byteLength).arrayBuffer());
        rowMatches &&= expected !== undefined && expected.every((byte, i) => byte === got[i]);
      }
      return { ms, rowMatches };
    } finally {
      await session.release();
    }
  },
  async unetCreate(settings, { modelId, model, externalData, runtime }) {
    const opened = await store(settings);
    const gpu = await (device ??= requestGpuDevice());
    await unet?.release();
    const started = performance.now();
    const files = await Promise.all(externalData.map(async ({ path, file }) => ({ path, data: await opened.open(modelId, file) })));
    unet = await OrtSession.create(await opened.open(modelId, model), { backend: 'webgpu', device: gpu, externalData: files, runtime });
    return { ms: performance.now() - started, runtime: unet.runtime };
  },
  async startRuntime(model, runtime) {
    const gpu = await (device ??= requestGpuDevice());
    await (await OrtSession.create(new Blob([Uint8Array.from(model)]), { backend: 'webgpu', device: gpu, runtime })).release();
  },
  async unetStep(latent) {
    if (unet === undefined) throw new Error('unetCreate first');
    const feeds = Object.fromEntries(unet.inputs.map(({ name, dtype, shape }) => [name, unetInput(name, dtype, shape, latent)]));
    const started = performance.now();
    const outputs = await unet.run(feeds);
    const values = Object.values(outputs).map((tensor) => float32DataOf(tensor).slice());
    const ms = performance.now() - started;
    for (const tensor of [...Object.values(outputs), ...Object.values(feeds)]) tensor.dispose();
    return { ms, finite: values.every((v) => v.length > 0 && v.every(Number.isFinite)) };
  },
  async hashOnly(megabytes) {
    const batch = new Uint8Array(4 * 1024 * 1024);
    // getRandomValues fills at most 64 KiB a call.
    for (let offset = 0; offset < batch.byteLength; offset += 65_536) crypto.getRandomValues(batch.subarray(offset, offset + 65_536));
    const hasher = await createSHA256();
    const started = performance.now();
    hasher.init();
    for (let done = 0; done < megabytes; done += 4) hasher.update(batch);
    hasher.digest('hex');
    return { bytes: megabytes * 1024 * 1024, ms: performance.now() - started };
  },
};

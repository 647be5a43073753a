/**
 * The main thread's engine: forwards to the engine in a worker over Comlink.
 */
import * as Comlink from 'comlink';
import type { CachedModel, CatalogModelStatus, GeneratedImage, GenerateRequest, ImageInput, ModelInfo, Progress } from '../api.ts';
import type { DownloadOptions, Engine, GenerateOptions, LoadModelOptions, ModelReference } from '../engine.ts';
import { CATALOG, huggingFaceRepoOf } from '../models/catalog.ts';
import { CancelledError, UnknownModelError, WebDiffusionError } from '../errors.ts';
import { checkRequestObject } from '../pipeline/request.ts';
import { installErrorTransfer, type WorkerApi } from '../worker/protocol.ts';
import { startWorker } from './start-worker.ts';

export interface CreateEngineOptions {
  /**
   * A worker running src/worker/worker.ts, for bundlers that need to create it themselves. By
   * default the engine starts (and on dispose terminates) its own.
   */
  readonly worker?: Worker;
}

/**
 * Starts an engine in a Web Worker.
 * @throws WebDiffusionError (code 'worker-failed') when the worker does not start
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  installErrorTransfer();
  const worker = options.worker ?? startWorker();
  const engine = new WorkerEngine(worker, options.worker === undefined);
  await engine.ready();
  return engine;
}

let persistenceRequested = false;

/**
 * Asks the browser, once per page, not to evict the model cache under storage pressure: on the
 * first model download, when there is something worth keeping. The worker cannot ask
 * (`persist()` is exposed to windows only). The answer changes nothing here: a refusal only
 * means the browser may evict the cache, and the next load downloads again.
 */
function requestPersistence(): void {
  if (persistenceRequested) return;
  persistenceRequested = true;
  void globalThis.navigator?.storage?.persist?.().catch(() => false);
}

class WorkerEngine implements Engine {
  private readonly worker: Worker;
  private readonly ownsWorker: boolean;
  private readonly remote: Comlink.Remote<WorkerApi>;
  /** Rejects when the worker fails (a script that does not load, an uncaught error): calls would otherwise wait forever. */
  private readonly failed: Promise<never>;
  private nextRequestId = 1;
  private disposed = false;

  constructor(worker: Worker, ownsWorker: boolean) {
    this.worker = worker;
    this.ownsWorker = ownsWorker;
    this.remote = Comlink.wrap<WorkerApi>(worker);
    this.failed = new Promise<never>((_, reject) => {
      worker.addEventListener('error', (event) => {
        reject(new WebDiffusionError('worker-failed', `The engine's worker failed: ${event.message || 'it did not load'}`));
      });
    });
    // Nobody may be waiting on `failed` when the worker fails; the next call reports it.
    this.failed.catch(() => undefined);
  }

  async ready(): Promise<void> {
    await this.call(() => this.remote.ready());
  }

  async loadModel(model: ModelReference, options: LoadModelOptions = {}): Promise<ModelInfo> {
    const reference = this.reference(model);
    const info = await this.cancellable(options, (requestId, progress) => this.remote.loadModel(requestId, reference, options.backend ?? 'auto', progress));
    for (const warning of info.warnings) console.warn(`webdiffusion: ${warning}`);
    return info;
  }

  async prefetchModel(model: ModelReference, options: DownloadOptions = {}): Promise<CachedModel> {
    const reference = this.reference(model);
    return this.cancellable(options, (requestId, progress) => this.remote.prefetchModel(requestId, reference, progress));
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    checkRequestObject(request);
    if (options.signal?.aborted === true) throw new CancelledError('Generation cancelled before it started');
    const sendable = await postableRequest(request);
    return this.cancellable(options, (requestId, progress) => this.remote.generate(requestId, sendable, progress, options.previews === true));
  }

  async generateBatch(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage[]> {
    checkRequestObject(request);
    if (options.signal?.aborted === true) throw new CancelledError('Generation cancelled before it started');
    const sendable = await postableRequest(request);
    return this.cancellable(options, (requestId, progress) => this.remote.generateBatch(requestId, sendable, progress, options.previews === true));
  }

  listCatalogModels(): Promise<CatalogModelStatus[]> {
    return this.call(() => this.remote.listCatalogModels());
  }

  listCachedModels(): Promise<CachedModel[]> {
    return this.call(() => this.remote.listCachedModels());
  }

  deleteCachedModel(modelId: string): Promise<void> {
    return this.call(() => this.remote.deleteCachedModel(modelId));
  }

  purgeCachedModels(): Promise<void> {
    return this.call(() => this.remote.purgeCachedModels());
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.call(() => this.remote.dispose(), true);
    } finally {
      this.remote[Comlink.releaseProxy]();
      if (this.ownsWorker) this.worker.terminate();
    }
  }

  /**
   * A catalog id or Hugging Face repo id as given, anything else as a URL made absolute: the
   * worker would resolve a relative one against its own script's address.
   */
  private reference(model: ModelReference): ModelReference {
    if (typeof model !== 'string') return model;
    const base = globalThis.document?.baseURI ?? globalThis.location.href;
    const known = CATALOG.find((entry) => entry.id === model);
    // A bundled model is published under the app's base (Vite's BASE_URL: '/' in dev, the path
    // a build was made for), so the app works served from any path.
    if (known?.source.kind === 'bundled') return new URL(known.source.manifest, new URL(import.meta.env?.BASE_URL ?? '/', base)).href;
    if (known !== undefined || huggingFaceRepoOf(model) !== undefined) return model;
    try {
      return new URL(model, base).href;
    } catch (error) {
      throw new UnknownModelError(`"${model}" is neither a catalog id, a Hugging Face repo id nor a URL`, { url: model }, { cause: error });
    }
  }

  /**
   * Runs a worker call that an AbortSignal may stop (as a `cancel(requestId)` call: signals cannot
   * be posted) and that reports progress (as a Comlink proxy the worker releases when done).
   */
  private async cancellable<T>(
    { onProgress, signal }: { onProgress?: (progress: Progress) => void; signal?: AbortSignal },
    call: (requestId: number, progress?: (progress: Progress) => void) => Promise<T>,
  ): Promise<T> {
    const requestId = this.nextRequestId++;
    const cancel = (): void => {
      // If the worker is gone, the call itself reports that; nothing to add here.
      this.remote.cancel(requestId).catch(() => undefined);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    if (signal?.aborted === true) cancel();
    // A fresh function, so Comlink's proxy marker does not land on the caller's own.
    const progress = Comlink.proxy((p: Progress) => {
      if (p.download !== undefined) requestPersistence();
      onProgress?.(p);
    });
    try {
      return await this.call(() => call(requestId, progress));
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  private call<T>(work: () => Promise<T>, disposing = false): Promise<T> {
    if (this.disposed && !disposing) {
      return Promise.reject(new WebDiffusionError('disposed', 'This engine has been disposed; create a new one'));
    }
    return Promise.race([work(), this.failed]);
  }
}

/** The request with a canvas or an <img> turned into an ImageBitmap: those cannot be posted to the worker. */
async function postableRequest(request: GenerateRequest): Promise<GenerateRequest> {
  const convert = async (input: ImageInput | undefined): Promise<ImageInput | undefined> => {
    const page = globalThis as unknown as Record<string, (abstract new (...args: never[]) => unknown) | undefined>;
    const isElement = [page.HTMLCanvasElement, page.HTMLImageElement, page.OffscreenCanvas].some((type) => type !== undefined && input instanceof type);
    return isElement ? createImageBitmap(input as ImageBitmapSource) : input;
  };
  if (request.image === undefined && request.mask === undefined) return request;
  const [image, mask] = await Promise.all([convert(request.image), convert(request.mask)]);
  return { ...request, ...(image !== undefined ? { image } : {}), ...(mask !== undefined ? { mask } : {}) };
}

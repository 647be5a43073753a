/**
 * The main thread's engine: forwards to the engine in a worker over Comlink.
 */
import * as Comlink from 'comlink';
import type {
  CachedModel,
  CatalogModelStatus,
  GeneratedImage,
  GenerateRequest,
  ImageInput,
  LoraInfo,
  LoraReference,
  ModelInfo,
  Progress,
  TokenCount,
} from '../api.ts';
import type { DownloadOptions, Engine, GenerateOptions, LoadModelOptions, ModelReference } from '../engine.ts';
import { absoluteReference } from '../models/reference-text.ts';
import { CancelledError, WebDiffusionError } from '../errors.ts';
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

/** One worker and the Comlink proxy to it; `failed` rejects when the worker fails or is gone. */
interface Connection {
  readonly worker: Worker;
  readonly remote: Comlink.Remote<WorkerApi>;
  readonly failed: Promise<never>;
  /** Resolves once the worker's modules have loaded and it holds its life lock. */
  readonly alive: Promise<void>;
  /** Stops watching the worker (on dispose). */
  readonly unwatch: AbortController;
}

class WorkerEngine implements Engine {
  private readonly givenWorker: Worker | undefined;
  private readonly ownsWorker: boolean;
  /** The worker in use; undefined after it failed, until the next call starts a fresh one. */
  private connection: Connection | undefined;
  private nextRequestId = 1;
  private disposed = false;

  constructor(worker: Worker, ownsWorker: boolean) {
    this.givenWorker = ownsWorker ? undefined : worker;
    this.ownsWorker = ownsWorker;
    this.connection = this.watch(worker);
  }

  /**
   * Wraps `worker`, and notices when it fails or is gone: an uncaught error ('error' event:
   * 'worker-failed'), or the worker ending (terminated, or killed by the browser: 'worker-lost'),
   * which no event reports; the worker holds a Web Lock for its lifetime, and the page's request
   * for the same lock is granted when it ends. Either way every pending call rejects, the worker
   * is terminated (a failed one must not run on), and the next call starts a fresh worker.
   */
  private watch(worker: Worker): Connection {
    const remote = Comlink.wrap<WorkerApi>(worker);
    const unwatch = new AbortController();
    let fail!: (error: WebDiffusionError) => void;
    const failed = new Promise<never>((_, reject) => {
      fail = (error) => {
        if (this.connection?.worker === worker) this.connection = undefined;
        unwatch.abort();
        worker.terminate();
        reject(error);
      };
    });
    // Nobody may be waiting on `failed` when the worker fails; the next call reports it.
    failed.catch(() => undefined);
    worker.addEventListener(
      'error',
      (event) =>
        fail(
          new WebDiffusionError(
            'worker-failed',
            `The engine's worker failed: ${event.message || 'it did not load'}; the next call starts a fresh one (load the model again)`,
          ),
        ),
      { signal: unwatch.signal },
    );
    const lifeLock = `webdiffusion-worker/${crypto.randomUUID()}`;
    const alive = Promise.race([remote.ready(lifeLock, appBase()), failed]).then(() => undefined);
    alive
      .then(() =>
        globalThis.navigator?.locks?.request(lifeLock, { signal: unwatch.signal }, () =>
          fail(
            new WebDiffusionError(
              'worker-lost',
              "The engine's worker ended (terminated, or stopped by the browser); the next call starts a fresh one (load the model again)",
            ),
          ),
        ),
      )
      // Refused lock requests (unwatched on dispose) and a failed start are reported by `failed`.
      .catch(() => undefined);
    return { worker, remote, failed, alive, unwatch };
  }

  /** Resolves once the worker's modules have loaded. */
  async ready(): Promise<void> {
    const { alive, failed } = this.connected();
    await Promise.race([alive, failed]);
  }

  /** The worker in use, or a fresh one after a failure (when the engine started its own). */
  private connected(): Connection {
    if (this.connection !== undefined) return this.connection;
    if (this.givenWorker !== undefined) {
      throw new WebDiffusionError(
        'worker-lost',
        "The engine's worker failed or ended, and it was given to createEngine: create the engine again with a new worker",
      );
    }
    this.connection = this.watch(startWorker());
    return this.connection;
  }

  async loadModel(model: ModelReference, options: LoadModelOptions = {}): Promise<ModelInfo> {
    const reference = this.reference(model);
    const info = await this.cancellable(options, (remote, requestId, progress) => remote.loadModel(requestId, reference, options.backend ?? 'auto', progress));
    for (const warning of info.warnings) console.warn(`webdiffusion: ${warning}`);
    return info;
  }

  async prefetchModel(model: ModelReference, options: DownloadOptions = {}): Promise<CachedModel> {
    const reference = this.reference(model);
    return this.cancellable(options, (remote, requestId, progress) => remote.prefetchModel(requestId, reference, progress));
  }

  async loadLora(lora: LoraReference, options: DownloadOptions = {}): Promise<LoraInfo> {
    const reference = pageRelativeLora(lora);
    return this.cancellable(options, (remote, requestId, progress) => remote.loadLora(requestId, reference, progress));
  }

  registerLora(name: string, lora: LoraReference): Promise<void> {
    const reference = pageRelativeLora(lora);
    return this.call((remote) => remote.registerLora(name, reference));
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    checkRequestObject(request);
    if (options.signal?.aborted === true) throw new CancelledError('Generation cancelled before it started');
    const sendable = await postableRequest(request);
    return this.cancellable(options, (remote, requestId, progress) => remote.generate(requestId, sendable, progress, options.previews === true));
  }

  async generateBatch(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage[]> {
    checkRequestObject(request);
    if (options.signal?.aborted === true) throw new CancelledError('Generation cancelled before it started');
    const sendable = await postableRequest(request);
    return this.cancellable(options, (remote, requestId, progress) => remote.generateBatch(requestId, sendable, progress, options.previews === true));
  }

  idle(): Promise<void> {
    return this.call((remote) => remote.idle());
  }

  countTokens(text: string): Promise<TokenCount> {
    return this.call((remote) => remote.countTokens(text));
  }

  listCatalogModels(): Promise<CatalogModelStatus[]> {
    return this.call((remote) => remote.listCatalogModels());
  }

  listCachedModels(): Promise<CachedModel[]> {
    return this.call((remote) => remote.listCachedModels());
  }

  deleteCachedModel(modelId: string): Promise<void> {
    return this.call((remote) => remote.deleteCachedModel(modelId));
  }

  purgeCachedModels(): Promise<void> {
    return this.call((remote) => remote.purgeCachedModels());
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      if (this.connection !== undefined) await this.call((remote) => remote.dispose(), true);
    } finally {
      const connection = this.connection;
      this.connection = undefined;
      connection?.unwatch.abort();
      connection?.remote[Comlink.releaseProxy]();
      if (this.ownsWorker) connection?.worker.terminate();
    }
  }

  /**
   * The reference with relative URLs made absolute against the page: the worker, which resolves
   * every reference, would resolve them against its own script's address.
   */
  private reference(model: ModelReference): ModelReference {
    return typeof model === 'string' ? absoluteReference(model, pageBase()) : model;
  }

  /**
   * Runs a worker call that an AbortSignal may stop (as a `cancel(requestId)` call: signals cannot
   * be posted) and that reports progress (as a Comlink proxy the worker releases when done).
   */
  private async cancellable<T>(
    { onProgress, signal }: { onProgress?: (progress: Progress) => void; signal?: AbortSignal },
    call: (remote: Comlink.Remote<WorkerApi>, requestId: number, progress?: (progress: Progress) => void) => Promise<T>,
  ): Promise<T> {
    const requestId = this.nextRequestId++;
    let remote: Comlink.Remote<WorkerApi> | undefined;
    const cancel = (): void => {
      // If the worker is gone, the call itself reports that; nothing to add here.
      remote?.cancel(requestId).catch(() => undefined);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    // A fresh function, so Comlink's proxy marker does not land on the caller's own.
    const progress = Comlink.proxy((p: Progress) => {
      if (p.download !== undefined) requestPersistence();
      onProgress?.(p);
    });
    try {
      return await this.call((connected) => {
        remote = connected;
        if (signal?.aborted === true) cancel();
        return call(connected, requestId, progress);
      });
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** Runs `work` on the worker, rejecting as soon as the worker fails or ends. */
  private async call<T>(work: (remote: Comlink.Remote<WorkerApi>) => Promise<T>, disposing = false): Promise<T> {
    if (this.disposed && !disposing) throw new WebDiffusionError('disposed', 'This engine has been disposed; create a new one');
    const { remote, failed } = this.connected();
    return Promise.race([work(remote), failed]);
  }
}

/** The request with a canvas or an <img> turned into an ImageBitmap: those cannot be posted to the worker. */
/**
 * A LoRA URL relative to the page made absolute here: the worker would resolve it against its
 * own script. Names and Hugging Face files ("owner/repo/file.safetensors") go as they are.
 */
function pageRelativeLora(lora: LoraReference): LoraReference {
  const base = globalThis.document?.baseURI ?? globalThis.location.href;
  const relative = (text: string): boolean => /^(\.{1,2})?\//.test(text);
  if (typeof lora === 'string') return relative(lora) ? new URL(lora, base).href : lora;
  if (typeof lora === 'object' && lora !== null && typeof lora.url === 'string') return { ...lora, url: new URL(lora.url, base).href };
  return lora;
}

async function postableRequest(request: GenerateRequest): Promise<GenerateRequest> {
  const convert = async (input: ImageInput | undefined): Promise<ImageInput | undefined> => {
    const page = globalThis as unknown as Record<string, (abstract new (...args: never[]) => unknown) | undefined>;
    const isElement = [page.HTMLCanvasElement, page.HTMLImageElement, page.OffscreenCanvas].some((type) => type !== undefined && input instanceof type);
    return isElement ? createImageBitmap(input as ImageBitmapSource) : input;
  };
  if (Array.isArray(request.loras)) {
    request = { ...request, loras: request.loras.map((l) => (typeof l === 'object' && l !== null ? { ...l, model: pageRelativeLora(l.model) } : l)) };
  }
  if (request.image === undefined && request.mask === undefined) return request;
  const [image, mask] = await Promise.all([convert(request.image), convert(request.mask)]);
  return { ...request, ...(image !== undefined ? { image } : {}), ...(mask !== undefined ? { mask } : {}) };
}

function pageBase(): string {
  return globalThis.document?.baseURI ?? globalThis.location.href;
}

/**
 * Where the app is published, which is where its bundled models are (Vite's BASE_URL: '/' in
 * dev, the path a build was made for), so that the app works served from any path.
 */
function appBase(): string {
  return new URL(import.meta.env?.BASE_URL ?? './', pageBase()).href;
}

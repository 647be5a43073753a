/**
 * The main thread's engine: forwards to the engine in a worker over Comlink.
 */
import * as Comlink from 'comlink';
import type { GeneratedImage, GenerateRequest, ModelInfo, Progress } from '../api.ts';
import type { Engine, GenerateOptions, LoadModelOptions } from '../engine.ts';
import { CancelledError, UnknownModelError, WebDiffusionError } from '../errors.ts';
import { installErrorTransfer, type WorkerApi } from '../worker/protocol.ts';

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
  const worker =
    options.worker ?? new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'webdiffusion' });
  const engine = new WorkerEngine(worker, options.worker === undefined);
  await engine.ready();
  return engine;
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

  async loadModel(manifestUrl: string, options: LoadModelOptions = {}): Promise<ModelInfo> {
    let url: string;
    try {
      // The worker resolves URLs against its own script's address, not the page's.
      url = new URL(manifestUrl, globalThis.document?.baseURI ?? globalThis.location.href).href;
    } catch (error) {
      throw new UnknownModelError(`"${manifestUrl}" is not a URL of a model manifest`, { url: manifestUrl }, { cause: error });
    }
    return this.withProgress(options.onProgress, (progress) => this.remote.loadModel(url, options.backend ?? 'auto', progress));
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const { signal } = options;
    if (signal?.aborted === true) throw new CancelledError('Generation cancelled before it started');
    const requestId = this.nextRequestId++;
    const cancel = () => {
      // If the worker is gone, the generate call below reports that; nothing to add here.
      this.remote.cancel(requestId).catch(() => undefined);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await this.withProgress(options.onProgress, (progress) => this.remote.generate(requestId, request, progress));
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
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

  /** Passes a progress callback as a Comlink proxy; the worker releases it when the call ends. */
  private withProgress<T>(onProgress: ((progress: Progress) => void) | undefined, call: (progress?: (progress: Progress) => void) => Promise<T>): Promise<T> {
    // A fresh function, so Comlink's proxy marker does not land on the caller's own.
    const progress = onProgress !== undefined ? Comlink.proxy((p: Progress) => onProgress(p)) : undefined;
    return this.call(() => call(progress));
  }

  private call<T>(work: () => Promise<T>, disposing = false): Promise<T> {
    if (this.disposed && !disposing) {
      return Promise.reject(new WebDiffusionError('disposed', 'This engine has been disposed; create a new one'));
    }
    return Promise.race([work(), this.failed]);
  }
}

/**
 * The engine itself, as it runs inside the worker: one model, one GPU device, one job at a time,
 * and one weight store that every model file comes from.
 */
import type { CachedModel, GeneratedImage, GenerateRequest, ModelInfo } from '../api.ts';
import type { BackendPreference, DownloadOptions, Engine, GenerateOptions, LoadModelOptions } from '../engine.ts';
import { CancelledError, GpuDeviceLostError, GpuUnavailableError, InvalidRequestError, WebDiffusionError } from '../errors.ts';
import { requestGpuDevice } from '../gpu/device.ts';
import type { Backend } from '../ort/ort.ts';
import { loadDiffusionModel, releaseDiffusionModel, type DiffusionModel } from '../pipeline/model.ts';
import { resolveRequest } from '../pipeline/request.ts';
import { txt2img } from '../pipeline/txt2img.ts';
import { createWeightStore, type StoredModel, type WeightStore } from '../storage/weight-store.ts';
import { SerialQueue } from '../util/serial-queue.ts';

export interface LocalEngineOptions {
  /** Where model files are kept; default `createWeightStore()` (OPFS, else the Cache API). */
  readonly store?: WeightStore;
}

export class LocalEngine implements Engine {
  /** Loads and generations run one after another: a load never swaps sessions under a running loop. */
  private readonly jobs = new SerialQueue();
  private model: DiffusionModel | undefined;
  private device: GPUDevice | undefined;
  /** Set when the device is lost; the model on it is unusable from then on. */
  private lost: GPUDeviceLostInfo | undefined;
  private disposed = false;
  private readonly store: WeightStore;

  constructor(options: LocalEngineOptions = {}) {
    this.store = options.store ?? createWeightStore();
  }

  loadModel(manifestUrl: string, options: LoadModelOptions = {}): Promise<ModelInfo> {
    return this.jobs.run(async () => {
      this.checkUsable();
      const started = performance.now();
      // Before downloading: no GPU for a 'webgpu' load is better said before gigabytes arrive.
      const { backend, device } = await this.pickBackend(options.backend ?? 'auto');
      const stored = await this.download(manifestUrl, options, started);
      const model = await loadDiffusionModel(stored, this.store, { backend, ...(device !== undefined ? { device } : {}) });
      const previous = this.model;
      this.model = model;
      if (previous !== undefined) await releaseDiffusionModel(previous);
      return model.info;
    });
  }

  generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    return this.jobs.run(async () => {
      this.checkUsable();
      const model = this.model;
      if (model === undefined) throw new InvalidRequestError('No model is loaded: call loadModel(manifestUrl) first');
      if (this.lost !== undefined && model.backend === 'webgpu') throw this.lostError();
      const resolved = resolveRequest(request, model.info);
      try {
        return await txt2img(model, resolved, options);
      } catch (error) {
        // Whatever ONNX Runtime or WebGPU threw after a device loss, the loss is the story.
        if (this.lost !== undefined && model.backend === 'webgpu') throw this.lostError(error);
        throw error;
      }
    });
  }

  /** Not queued behind generations: a download goes on while pictures are made. */
  async prefetchModel(manifestUrl: string, options: DownloadOptions = {}): Promise<CachedModel> {
    this.checkUsable();
    const stored = await this.download(manifestUrl, options, performance.now());
    const cached = (await this.store.list()).find((model) => model.id === stored.id);
    if (cached === undefined) throw new CancelledError(`${stored.id} was deleted from the cache while it was prefetched`, { modelId: stored.id });
    return cached;
  }

  listCachedModels(): Promise<CachedModel[]> {
    this.checkUsable();
    return this.store.list();
  }

  deleteCachedModel(modelId: string): Promise<void> {
    this.checkUsable();
    return this.store.delete(modelId);
  }

  purgeCachedModels(): Promise<void> {
    this.checkUsable();
    return this.store.purge();
  }

  dispose(): Promise<void> {
    return this.jobs.run(async () => {
      if (this.disposed) return;
      this.disposed = true;
      if (this.model !== undefined) await releaseDiffusionModel(this.model);
      this.model = undefined;
      this.device?.destroy();
      this.device = undefined;
    });
  }

  /** Stores the model's files (downloading what is missing), reporting as 'loading' progress. */
  private async download(manifestUrl: string, { onProgress, signal }: DownloadOptions, started: number): Promise<StoredModel> {
    const elapsedMs = (): number => performance.now() - started;
    const stored = await this.store.ensureModel(manifestUrl, {
      ...(signal !== undefined ? { signal } : {}),
      ...(onProgress !== undefined
        ? {
            onProgress: ({ filesDone, fileCount, file, loaded, total, modelLoaded, modelTotal, bytesPerSecond, etaSeconds }) =>
              onProgress({
                phase: 'loading',
                step: filesDone,
                steps: fileCount,
                elapsedMs: elapsedMs(),
                download: { file, loaded, total, modelLoaded, modelTotal, bytesPerSecond, etaSeconds },
              }),
          }
        : {}),
    });
    const files = new Set(stored.files.map((file) => file.sha256)).size;
    onProgress?.({ phase: 'loading', step: files, steps: files, elapsedMs: elapsedMs() });
    return stored;
  }

  private checkUsable(): void {
    if (this.disposed) throw new WebDiffusionError('disposed', 'This engine has been disposed; create a new one');
  }

  /** 'auto' is WebGPU when a device can be had, else the CPU. */
  private async pickBackend(preference: BackendPreference): Promise<{ backend: Backend; device?: GPUDevice }> {
    if (preference === 'wasm') return { backend: 'wasm' };
    try {
      return { backend: 'webgpu', device: await this.gpuDevice() };
    } catch (error) {
      if (preference === 'auto' && error instanceof GpuUnavailableError) return { backend: 'wasm' };
      throw error;
    }
  }

  /** The engine's device; a fresh one after a loss (the model must then be loaded again). */
  private async gpuDevice(): Promise<GPUDevice> {
    if (this.device !== undefined && this.lost === undefined) return this.device;
    if (this.lost !== undefined && this.model?.backend === 'webgpu') this.model = undefined;
    const device = await requestGpuDevice();
    this.device = device;
    this.lost = undefined;
    void device.lost.then((info) => {
      // A device we destroyed ourselves (dispose) is not a loss.
      if (this.device === device && info.reason !== 'destroyed') this.lost = info;
    });
    return device;
  }

  private lostError(cause?: unknown): GpuDeviceLostError {
    return new GpuDeviceLostError(
      `The GPU device was lost (${this.lost?.message || 'no reason given'}); load the model again to go on`,
      { reason: this.lost?.reason },
      cause !== undefined ? { cause } : undefined,
    );
  }
}

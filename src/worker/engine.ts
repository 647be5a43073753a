/**
 * The engine itself, as it runs inside the worker: one model, one GPU device, one job at a time.
 */
import type { GeneratedImage, GenerateRequest, ModelInfo } from '../api.ts';
import type { BackendPreference, Engine, GenerateOptions, LoadModelOptions } from '../engine.ts';
import { GpuDeviceLostError, GpuUnavailableError, InvalidRequestError, WebDiffusionError } from '../errors.ts';
import { requestGpuDevice } from '../gpu/device.ts';
import type { Backend } from '../ort/ort.ts';
import { loadDiffusionModel, releaseDiffusionModel, type DiffusionModel } from '../pipeline/model.ts';
import { resolveRequest } from '../pipeline/request.ts';
import { txt2img } from '../pipeline/txt2img.ts';
import { SerialQueue } from '../util/serial-queue.ts';

export class LocalEngine implements Engine {
  /** Loads and generations run one after another: a load never swaps sessions under a running loop. */
  private readonly jobs = new SerialQueue();
  private model: DiffusionModel | undefined;
  private device: GPUDevice | undefined;
  /** Set when the device is lost; the model on it is unusable from then on. */
  private lost: GPUDeviceLostInfo | undefined;
  private disposed = false;

  loadModel(manifestUrl: string, options: LoadModelOptions = {}): Promise<ModelInfo> {
    return this.jobs.run(async () => {
      this.checkUsable();
      const started = performance.now();
      const { backend, device } = await this.pickBackend(options.backend ?? 'auto');
      const model = await loadDiffusionModel(manifestUrl, {
        backend,
        ...(device !== undefined ? { device } : {}),
        onFile: (done, total) =>
          options.onProgress?.({ phase: 'loading', step: done, steps: total, elapsedMs: performance.now() - started }),
      });
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

/**
 * The one engine interface: implemented in the worker by `LocalEngine` (src/worker/engine.ts),
 * and on the main thread by the client (src/client/engine.ts), which forwards to the worker.
 */
import type { GeneratedImage, GenerateRequest, ModelInfo, Progress } from './api.ts';

/** Where models run: WebGPU, the CPU ('wasm', slow), or WebGPU when the browser has it ('auto'). */
export type BackendPreference = 'auto' | 'webgpu' | 'wasm';

export interface LoadModelOptions {
  /** Called as the model's files arrive: phase 'loading', step = files done, steps = files in all. */
  readonly onProgress?: (progress: Progress) => void;
  /** Default 'auto'. */
  readonly backend?: BackendPreference;
}

export interface GenerateOptions {
  /** Called once per phase and after every denoising step. */
  readonly onProgress?: (progress: Progress) => void;
  /** Aborting it stops the generation at the next step boundary with CancelledError. */
  readonly signal?: AbortSignal;
}

export interface Engine {
  /**
   * Loads the model a manifest describes, replacing the loaded one once it has loaded (a failed
   * load keeps the previous model).
   * @param manifestUrl URL of the model's manifest.json, absolute or relative to the page
   * @throws UnknownModelError when there is no manifest at the URL
   * @throws ManifestError when the manifest or a configuration file it names is malformed
   * @throws ModelLoadError when a file cannot be fetched, fails its size or SHA-256 check, or is not a usable model
   * @throws GpuUnavailableError when the backend is 'webgpu' and WebGPU cannot be had
   */
  loadModel(manifestUrl: string, options?: LoadModelOptions): Promise<ModelInfo>;
  /**
   * Generates one picture. Requests run one at a time, in the order made.
   * @throws InvalidRequestError when a field is out of range (before any GPU work), or no model is loaded
   * @throws UnknownSchedulerError when the request names a scheduler we do not have
   * @throws CancelledError when the signal is aborted before the picture is done
   * @throws GpuDeviceLostError when the GPU device is lost; load the model again to go on
   */
  generate(request: GenerateRequest, options?: GenerateOptions): Promise<GeneratedImage>;
  /** Releases the model and the GPU device; the engine cannot be used afterwards. */
  dispose(): Promise<void>;
}

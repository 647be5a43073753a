/**
 * The one engine interface: implemented in the worker by `LocalEngine` (src/worker/engine.ts),
 * and on the main thread by the client (src/client/engine.ts), which forwards to the worker.
 */
import type { CachedModel, GeneratedImage, GenerateRequest, ModelInfo, Progress } from './api.ts';

/** Where models run: WebGPU, the CPU ('wasm', slow), or WebGPU when the browser has it ('auto'). */
export type BackendPreference = 'auto' | 'webgpu' | 'wasm';

export interface DownloadOptions {
  /**
   * Called while the model's files are downloaded and verified: phase 'loading', `step` = files
   * stored, `steps` = files in all, `download` = bytes, rate and time left; then once when every
   * file is stored (also when all were cached already).
   */
  readonly onProgress?: (progress: Progress) => void;
  /** Aborting stops the download with CancelledError; what is stored stays for the next call. */
  readonly signal?: AbortSignal;
}

export interface LoadModelOptions extends DownloadOptions {
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
   * load keeps the previous model). Files not in the browser's model cache are downloaded (a few
   * at a time, resuming an interrupted download) and checked against the manifest's SHA-256
   * first; offline, a model cached earlier from the same URL loads from the cache.
   * @param manifestUrl URL of the model's manifest.json, absolute or relative to the page
   * @throws UnknownModelError when there is no manifest at the URL
   * @throws ManifestError when the manifest or a configuration file it names is malformed
   * @throws NetworkError when a file cannot be fetched (offline with the model not cached, a
   *   server that keeps failing); what was downloaded stays cached
   * @throws IntegrityError when a file fails its size or SHA-256 check twice (nothing of it is kept)
   * @throws QuotaError when the browser will not store the model; `details.missing` says how many
   *   bytes to free, before anything is downloaded
   * @throws ModelLoadError when a file is not a usable model on this backend
   * @throws GpuUnavailableError when the backend is 'webgpu' and WebGPU cannot be had
   * @throws CancelledError when `signal` aborts, or the model is deleted from the cache meanwhile
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
  /**
   * Downloads and verifies a model's files into the browser's model cache without loading it,
   * for offline use later. Runs beside generations (it does not wait for them).
   * @param manifestUrl URL of the model's manifest.json, absolute or relative to the page
   * @returns the model as now cached (complete)
   * @throws UnknownModelError, ManifestError, NetworkError, IntegrityError, QuotaError and
   *   CancelledError as `loadModel`
   */
  prefetchModel(manifestUrl: string, options?: DownloadOptions): Promise<CachedModel>;
  /**
   * The models in the browser's model cache: size, complete or not, last used.
   * @throws ModelLoadError when the browser has no storage for models (no OPFS, no Cache API)
   */
  listCachedModels(): Promise<CachedModel[]>;
  /**
   * Removes a model from the cache (files other cached models share stay), stopping its download
   * first (that call ends with CancelledError). A loaded model stays loaded. An unknown id is no error.
   * @throws ModelLoadError as `listCachedModels`
   */
  deleteCachedModel(modelId: string): Promise<void>;
  /**
   * Removes every model from the cache, stopping downloads first. A loaded model stays loaded.
   * @throws ModelLoadError as `listCachedModels`
   */
  purgeCachedModels(): Promise<void>;
  /** Releases the model and the GPU device; the engine cannot be used afterwards. */
  dispose(): Promise<void>;
}

/**
 * The one engine interface: implemented in the worker by `LocalEngine` (src/worker/local-engine.ts),
 * and on the main thread by the client (src/client/client-engine.ts), which forwards to the worker.
 */
import type { CachedModel, CatalogModelStatus, GeneratedImage, GenerateRequest, LoraInfo, LoraReference, ModelInfo, Progress, TokenCount } from './api.ts';
import type { CatalogEntry } from './models/catalog.ts';

/**
 * A model to load: a catalog id ('sd-turbo-fp16', 'tiny-shapes'), a catalog entry (the stand-in
 * tests' way, or an app's own model list), a Hugging Face repo id ('owner/name' or
 * 'owner/name@revision') or a URL whose manifest.json is ours or a catalog entry.
 */
export type ModelReference = string | CatalogEntry;

/**
 * Where models run: WebGPU, the CPU ('wasm'), or the faster of the two here ('auto': WebGPU on a
 * hardware GPU; the CPU without WebGPU, or when the adapter is a software rasteriser such as
 * SwiftShader, for models the CPU can hold).
 */
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
  /**
   * Adds a cheap preview to each denoising step's progress (`progress.preview`, the first
   * picture's current estimate at the latent's resolution, transferred from the worker) for
   * models with a latent-to-RGB map. Costs one small readback a step.
   */
  readonly previews?: boolean;
  /**
   * Aborting it rejects the generation with CancelledError at once; the engine queues no further
   * step, and is idle (`idle()`) once the steps already queued on the GPU are done (at most two).
   */
  readonly signal?: AbortSignal;
}

export interface Engine {
  /**
   * Loads a model, replacing the loaded one: the loaded model is released once the new one's
   * files are stored, before its sessions are created (two models need not fit at once), so a
   * load that fails after its download leaves no model loaded. The load resolves after a warm-up
   * (one small run of each network), so the first picture costs what the next ones do. A
   * catalog model is first fitted to the device: the first variant it can run, on WebGPU or
   * (small models, `backend: 'wasm'`, or a software GPU, on which the CPU is faster) the CPU,
   * decided before anything is downloaded; `ModelInfo.warnings` says what the user should know
   * (a CPU fallback). Files not in the
   * browser's model cache are downloaded (a few at a time, resuming an interrupted download) and
   * checked against their SHA-256 first (a manifest's, or for a catalog model the one its host
   * reports, pinned on first download); offline, a model cached earlier loads from the cache.
   * @param model a catalog id or entry, a Hugging Face repo id, or a manifest's URL (absolute
   *   or relative to the page)
   * @throws CapabilityError when a catalog model cannot run on this device: `details.missing`
   *   says what is missing, `details.runnable` which catalog models would run
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
  loadModel(model: ModelReference, options?: LoadModelOptions): Promise<ModelInfo>;
  /**
   * Generates one picture. Requests run one at a time, in the order made.
   * @throws InvalidRequestError when a field is out of range (before any GPU work), or no model is loaded
   * @throws UnknownSchedulerError when the request names a scheduler we do not have
   * @throws LoraError when a LoRA of `request.loras` is not one we read or does not fit the
   *   model (before any GPU work); the store's errors while it is first downloaded
   * @throws CancelledError when the signal is aborted before the picture is done
   * @throws GpuDeviceLostError when the GPU device is lost; load the model again to go on
   */
  generate(request: GenerateRequest, options?: GenerateOptions): Promise<GeneratedImage>;
  /**
   * Generates `request.n` pictures (1 to 8) with seeds seed, seed + 1, …, denoised together as
   * one batch on the device where the model takes any batch size (one after another where its
   * UNet is fixed to one); progress reports the shared steps once, then each picture's decoding
   * with its `index`.
   * @throws as `generate`
   */
  generateBatch(request: GenerateRequest, options?: GenerateOptions): Promise<GeneratedImage[]>;
  /**
   * How many tokens `text` is to the loaded model's tokenizer, and how many its text encoder
   * takes: what a prompt's token counter shows. The same count `generate` cuts by (its
   * `droppedTokens` is `tokens - limit` when that is positive). Answers at once, beside a
   * running generation.
   * @throws InvalidRequestError when no model is loaded, or `text` is not a string
   */
  countTokens(text: string): Promise<TokenCount>;
  /**
   * Downloads and verifies a model's files into the browser's model cache without loading it,
   * for offline use later. Runs beside generations (it does not wait for them). A catalog model's
   * variant is the one device fitting would load.
   * @param model as `loadModel`
   * @returns the model as now cached (complete)
   * @throws UnknownModelError, ManifestError, NetworkError, IntegrityError, QuotaError and
   *   CancelledError as `loadModel`
   */
  prefetchModel(model: ModelReference, options?: DownloadOptions): Promise<CachedModel>;
  /**
   * Stores a LoRA file in the browser's model cache (downloaded once, verified, then offline)
   * and reads it, without generating: a prefetch. With a model loaded, also matches it to the
   * model's layers, so a LoRA that does not fit fails here rather than at a request.
   * @param lora a URL (absolute, or starting with / ./ ../ for one relative to the page) of a
   *   .safetensors file or of a "webdiffusion-lora/1" manifest; a Hugging Face file
   *   ("owner/repo/file.safetensors", "owner/repo@revision/file.safetensors"); a name given to
   *   `registerLora`; or `{ url, sha256?, size?, name? }`
   * @throws LoraError when the file is not a LoRA we read (not safetensors, cut short, header
   *   too large, a dtype other than F32/F16/BF16, no LoRA keys), or does not fit the loaded model
   *   (no key names a layer of it, or a shape differs): `details.reason`, `details.keys`
   * @throws ManifestError when the reference is not a URL, or a LoRA manifest is malformed
   * @throws NetworkError, IntegrityError, QuotaError, CancelledError as `prefetchModel`
   */
  loadLora(lora: LoraReference, options?: DownloadOptions): Promise<LoraInfo>;
  /**
   * Gives a LoRA a name that requests and `loadLora` take (`loras: [{ model: 'pink' }]`), for
   * this engine's life.
   * @throws LoraError when the name is empty
   */
  registerLora(name: string, lora: LoraReference): Promise<void>;
  /**
   * The catalog's models as this device sees them — what each would download, whether it is
   * cached, whether it runs here and on which backend, and if not, why — before anything is
   * downloaded: what a model picker shows.
   */
  listCatalogModels(): Promise<CatalogModelStatus[]>;
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
  /**
   * Resolves once the work asked for so far (loads and generations) has finished, the GPU's
   * included: after a cancel, when the steps already queued are done and the next request can
   * start (a UI's "Stopping…" lasts until then).
   */
  idle(): Promise<void>;
  /** Releases the model and the GPU device; the engine cannot be used afterwards. */
  dispose(): Promise<void>;
}

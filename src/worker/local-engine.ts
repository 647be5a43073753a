/**
 * The engine itself, as it runs inside the worker: one model, one GPU device, one job at a time,
 * and one weight store that every model file comes from.
 */
import type {
  CachedModel,
  CatalogModelStatus,
  GeneratedImage,
  GenerateRequest,
  LoadStage,
  LoraAsRun,
  LoraInfo,
  LoraReference,
  ModelInfo,
  TokenCount,
} from '../api.ts';
import type { BackendPreference, DownloadOptions, Engine, GenerateOptions, LoadModelOptions, ModelReference } from '../engine.ts';
import { CancelledError, CapabilityError, GpuDeviceLostError, GpuUnavailableError, InvalidRequestError, ManifestError, WebDiffusionError } from '../errors.ts';
import { requestGpuDevice } from '../gpu/device.ts';
import { CATALOG, computesInFloat32, parseCatalogEntry, resolveModelSource, type CatalogEntry } from '../models/catalog.ts';
import { fitModel, probeAdapter, shortfallSummary, softwareGpuReason, type AdapterProfile, type Shortfall } from '../models/device-fit.ts';
import { catalogFileList, catalogStoreId, layoutFromCatalog, layoutFromManifest, type ModelLayout } from '../models/layout.ts';
import type { Backend } from '../ort/ort.ts';
import { matchLora, type GraphTargets } from '../lora/lora-feeds.ts';
import type { LoraComponent } from '../lora/lora-file.ts';
import type { LoraGraph } from '../lora/lora-graph.ts';
import { LoraLibrary, loraInfo, type LoadedLora } from '../lora/lora-library.ts';
import { applyLoras, type ScaledLora } from '../pipeline/loras.ts';
import { loadDiffusionModel, loraGraphs, releaseDiffusionModel, type DiffusionModel, type LoadOptions } from '../pipeline/model.ts';
import { checkLoras, checkRequestObject, resolveRequest, shown } from '../pipeline/request.ts';
import { txt2img } from '../pipeline/txt2img.ts';
import { warmUp } from '../pipeline/warm-up.ts';
import { createWeightStore, type ModelSource, type StoredModel, type WeightStore } from '../storage/weight-store.ts';
import { SerialQueue } from '../util/serial-queue.ts';

/** What a model reference turned out to be. */
type Target = { readonly kind: 'manifest'; readonly url: string } | { readonly kind: 'catalog'; readonly entry: CatalogEntry };

/** What loading or prefetching a model fetches, and how it then loads. */
interface Plan {
  readonly source: ModelSource;
  readonly backend: Backend;
  readonly warnings: readonly string[];
  /** A manifest's model put on the CPU because the GPU is a software one: back on it if the model is not fp32. */
  readonly softwareGpu?: boolean;
  /** The catalog variant's layout; for a manifest, read from the stored manifest. */
  readonly layout?: ModelLayout;
}

export interface LocalEngineOptions {
  /** Where model files are kept; default `createWeightStore()` (OPFS, else the Cache API). */
  readonly store?: WeightStore;
  /**
   * Denoising steps queued on the GPU at once (default 2). `Infinity` queues every step without
   * waiting, as before pacing: progress then runs ahead of the GPU. For measurements only.
   */
  readonly stepsInFlight?: number;
}

export class LocalEngine implements Engine {
  /** Loads and generations run one after another: a load never swaps sessions under a running loop. */
  private readonly jobs = new SerialQueue();
  private readonly loads = new SerialQueue();
  private model: DiffusionModel | undefined;
  private device: GPUDevice | undefined;
  /** Set when the device is lost; the model on it is unusable from then on. */
  private lost: GPUDeviceLostInfo | undefined;
  private disposed = false;
  private readonly store: WeightStore;
  private readonly stepsInFlight: number | undefined;
  private readonly loras: LoraLibrary;
  /**
   * How the loaded model was loaded, for loading it again with LoRA support; and its graphs
   * with LoRA branches once a LoRA was asked for (their targets match LoRA keys).
   */
  private loadedFrom: { stored: StoredModel; layout: ModelLayout; options: LoadOptions; graphs?: Promise<Map<LoraComponent, LoraGraph>> } | undefined;

  constructor(options: LocalEngineOptions = {}) {
    this.store = options.store ?? createWeightStore();
    this.stepsInFlight = options.stepsInFlight;
    this.loras = new LoraLibrary(this.store);
  }

  loadModel(model: ModelReference, options: LoadModelOptions = {}): Promise<ModelInfo> {
    // Loads run one after another, so the last one asked for is the one loaded; their downloads
    // stay out of `jobs`, so that generations with the loaded model go on while one is fetched
    // (or while a server that never answers is waited on).
    return this.loads.run(async () => {
      this.checkUsable();
      const started = performance.now();
      // Before downloading: what cannot run here, or has no GPU, is better said before gigabytes arrive.
      const preference = options.backend ?? 'auto';
      let plan = await this.plan(model, preference);
      let device = plan.backend === 'webgpu' ? await this.gpuDevice() : undefined;
      let stored: StoredModel;
      try {
        stored = await this.download(plan.source, options, started);
      } catch (error) {
        // A manifest.json that is a catalog entry (a user's model): fitted, then fetched as one.
        const entry = await catalogEntryInstead(plan.source, error, options.signal);
        plan = await this.plan(entry, preference);
        device = plan.backend === 'webgpu' ? await this.gpuDevice() : undefined;
        stored = await this.download(plan.source, options, started);
      }
      const layout = plan.layout ?? manifestLayout(stored);
      return this.jobs.run(async () => {
        this.checkUsable();
        if (plan.softwareGpu === true && !computesInFloat32(layout.precision)) {
          // The CPU backend runs models that compute in float32 only (fp32, q8, q4): a half-precision one stays on the (software) GPU.
          plan = { ...plan, backend: 'webgpu', warnings: [] };
          device = await this.gpuDevice();
        }
        // The old model goes first: the new one's sessions need not fit beside it.
        if (this.model !== undefined) await releaseDiffusionModel(this.model);
        this.model = undefined;
        const stage = (name: LoadStage): void => {
          const files = new Set(stored.files.map((file) => file.sha256)).size;
          options.onProgress?.({ phase: 'loading', stage: name, step: files, steps: files, elapsedMs: performance.now() - started });
        };
        this.loadedFrom = undefined;
        stage('sessions');
        const loadOptions: LoadOptions = { backend: plan.backend, ...(device !== undefined ? { device } : {}), warnings: plan.warnings };
        const loaded = await this.createModel(stored, layout, loadOptions, () => stage('warm-up'), options.signal);
        this.model = loaded;
        this.loadedFrom = { stored, layout, options: loadOptions };
        return loaded.info;
      });
    });
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    checkRequestObject(request);
    if (request.n !== undefined && request.n !== 1) {
      throw new InvalidRequestError(`n must be 1 for generate(); got ${shown(request.n)}: use generateBatch() for several pictures`, {
        field: 'n',
        got: request.n,
      });
    }
    const [image] = await this.generateBatch(request, options);
    return image!;
  }

  generateBatch(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage[]> {
    const job = this.jobs.run(async () => {
      this.checkUsable();
      let model = this.model;
      if (model === undefined) throw new InvalidRequestError('No model is loaded: call loadModel(manifestUrl) first');
      if (this.lost !== undefined && model.backend === 'webgpu') throw this.lostError();
      const resolved = resolveRequest(request, model.info);
      // LoRAs: stored and read (small files: in the job, so requests keep their order), matched
      // to the model's layers before any GPU work; a model's first LoRA loads it again with
      // LoRA branches in its graphs, after which switching is only new branch inputs.
      const wanted = checkLoras(request.loras).filter((l) => l.scale !== 0);
      const loaded = await Promise.all(wanted.map((l) => this.loras.load(l.model, options.signal !== undefined ? { signal: options.signal } : {})));
      if (loaded.length > 0 || model.lora !== undefined) {
        const targets = await this.loraTargets();
        const scaled: ScaledLora[] = loaded.map((lora, i) => ({ lora: matchLora(lora.weights, targets, lora.source), scale: wanted[i]!.scale }));
        if (model.lora === undefined) model = await this.withLoraSupport(options.signal);
        applyLoras(model, scaled);
      }
      const asRun: LoraAsRun[] = loaded.map((lora, i) => ({ model: wanted[i]!.model, scale: wanted[i]!.scale, name: lora.name, sha256: lora.sha256 }));
      try {
        const images = await txt2img(model, resolved, { ...options, ...(this.stepsInFlight !== undefined ? { stepsInFlight: this.stepsInFlight } : {}) });
        return asRun.length > 0 ? images.map((image) => ({ ...image, request: { ...image.request, loras: asRun } })) : images;
      } catch (error) {
        // Whatever ONNX Runtime or WebGPU threw after a device loss, the loss is the story.
        if (this.lost !== undefined && model.backend === 'webgpu') throw this.lostError(error);
        throw error;
      }
    });
    return rejectedOnAbort(job, options.signal);
  }

  /** Not queued: the tokenizer is plain CPU work, and a counter must not wait for a picture. */
  async countTokens(text: string): Promise<TokenCount> {
    this.checkUsable();
    if (typeof text !== 'string') throw new InvalidRequestError(`countTokens takes a string; got ${shown(text)}`, { field: 'text', got: typeof text });
    const model = this.model;
    if (model === undefined) throw new InvalidRequestError('No model is loaded: call loadModel(manifestUrl) first');
    return { tokens: model.tokenizer.count(text), limit: model.tokenizer.maxLength };
  }

  /**
   * Stores and reads a LoRA without generating; with a model loaded, also matches it to the
   * model's layers (a LoRA that does not fit fails here).
   * @throws LoraError when the file is not a LoRA we read, or does not fit the loaded model
   * @throws ManifestError, NetworkError, IntegrityError, QuotaError, CancelledError as `prefetchModel`
   */
  async loadLora(reference: LoraReference, options: DownloadOptions = {}): Promise<LoraInfo> {
    this.checkUsable();
    // Its download reports as a model's does ('loading' progress, stage 'download').
    const started = performance.now();
    const lora: LoadedLora = await this.loras.load(reference, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      fetch: (source) => this.download(source, options, started),
    });
    const unmatched = this.loadedFrom !== undefined ? matchLora(lora.weights, await this.loraTargets(), lora.source).unmatched : [];
    return loraInfo(lora, unmatched);
  }

  /** Gives a LoRA a name that requests (`loras: [{ model: name }]`) and `loadLora` take. */
  async registerLora(name: string, source: LoraReference): Promise<void> {
    this.checkUsable();
    this.loras.register(name, source);
  }

  /** The next job queued: it runs once every load and generation asked for before has finished. */
  idle(): Promise<void> {
    return this.jobs.run(async () => undefined);
  }

  /** Not queued behind generations: a download goes on while pictures are made. */
  async prefetchModel(model: ModelReference, options: DownloadOptions = {}): Promise<CachedModel> {
    this.checkUsable();
    const started = performance.now();
    let plan = await this.plan(model, 'auto', false);
    let stored: StoredModel;
    try {
      stored = await this.download(plan.source, options, started);
    } catch (error) {
      plan = await this.plan(await catalogEntryInstead(plan.source, error, options.signal), 'auto', false);
      stored = await this.download(plan.source, options, started);
    }
    const cached = (await this.store.list()).find((m) => m.key === stored.key);
    if (cached === undefined) throw new CancelledError(`${stored.id} was deleted from the cache while it was prefetched`, { modelId: stored.id });
    return cached;
  }

  async listCatalogModels(): Promise<CatalogModelStatus[]> {
    this.checkUsable();
    const [profile, cached] = await Promise.all([probeGpu(), this.store.list().catch(() => [] as CachedModel[])]);
    return CATALOG.map((entry): CatalogModelStatus => {
      let variant = entry.variants[0]!;
      let backend: CatalogModelStatus['backend'] = null;
      let notes: string[];
      let reason: string | null = null;
      try {
        const fit = fitModel(profile, entry);
        ({ variant, backend } = fit);
        notes = [...fit.warnings];
      } catch (error) {
        if (!(error instanceof CapabilityError)) throw error;
        const missing = (error.details?.missing as Shortfall[] | undefined) ?? [];
        notes = [...new Set(missing.map((m) => m.message))];
        reason = missing[0] !== undefined ? shortfallSummary(missing[0]) : 'not on this device';
      }
      // A bundled model is stored under its manifest's URL on this origin (a manifest elsewhere may declare the same id).
      const isStored = (model: CachedModel): boolean =>
        entry.source.kind === 'bundled'
          ? model.manifestUrl !== null && new URL(model.manifestUrl).origin === globalThis.location?.origin && model.id === entry.id
          : model.key === catalogStoreId(entry, variant);
      const sizes = variant.files.map((file) => file.size ?? file.approxBytes);
      return {
        id: entry.id,
        name: entry.name,
        description: entry.description,
        variant: variant.id,
        precision: variant.precision,
        downloadBytes: sizes.reduce<number>((sum, size) => sum + (size ?? 0), 0),
        downloadBytesExact: variant.files.every((file) => file.size !== undefined),
        cached: cached.some((model) => isStored(model) && model.complete),
        backend,
        notes,
        reason,
      };
    });
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

  /** Sessions created and warmed up; released again if the warm-up fails. */
  private async createModel(
    stored: StoredModel,
    layout: ModelLayout,
    options: LoadOptions,
    warming: () => void,
    signal?: AbortSignal,
  ): Promise<DiffusionModel> {
    const loaded = await loadDiffusionModel(stored, this.store, layout, options);
    try {
      warming();
      await warmUp(loaded, signal);
    } catch (error) {
      await releaseDiffusionModel(loaded);
      throw error;
    }
    return loaded;
  }

  /** The LoRA targets of the loaded model's graphs (rewritten once, on the first LoRA). */
  private async loraTargets(): Promise<GraphTargets> {
    const from = this.loadedFrom;
    if (from === undefined) throw new InvalidRequestError('No model is loaded: load one before its LoRAs', { field: 'loras' });
    from.graphs ??= loraGraphs(from.stored, this.store, from.layout);
    from.graphs.catch(() => (from.graphs = undefined));
    const graphs = await from.graphs;
    return new Map([...graphs].map(([component, graph]) => [component, graph.targets]));
  }

  /**
   * The loaded model again, its UNet and text encoders on graphs with LoRA branches: the one
   * session re-creation LoRAs cost (in a job: nothing runs meanwhile).
   */
  private async withLoraSupport(signal: AbortSignal | undefined): Promise<DiffusionModel> {
    const from = this.loadedFrom!;
    const graphs = await from.graphs!;
    if (this.model !== undefined) await releaseDiffusionModel(this.model);
    this.model = undefined;
    const model = await this.createModel(from.stored, from.layout, { ...from.options, lora: graphs }, () => undefined, signal);
    this.model = model;
    return model;
  }

  /**
   * What `model` is and where it will run: a catalog model fitted to this device (its variant,
   * backend and warnings), or a manifest's model on the preferred backend.
   * @throws CapabilityError when a catalog model cannot run on this device
   * @throws GpuUnavailableError when 'webgpu' is asked for a manifest's model and there is no WebGPU
   */
  private async plan(model: ModelReference, preference: BackendPreference, forLoad = true): Promise<Plan> {
    const target = resolveTarget(model);
    if (target.kind === 'catalog') {
      const profile = preference === 'wasm' ? null : await probeGpu();
      const fit = fitModel(profile, target.entry, CATALOG, preference);
      return {
        source: catalogFileList(target.entry, fit.variant),
        backend: fit.backend,
        warnings: fit.warnings,
        layout: layoutFromCatalog(target.entry, fit.variant),
      };
    }
    // A prefetch only stores files: no device is needed to know which.
    if (!forLoad) return { source: target.url, backend: 'wasm', warnings: [] };
    const software = preference === 'auto' ? softwareGpuReason(await probeGpu()) : undefined;
    if (software !== undefined) {
      return { source: target.url, backend: 'wasm', warnings: [`${software}, so the model runs on the CPU (WebAssembly).`], softwareGpu: true };
    }
    const backend = await this.pickBackend(preference);
    const warnings =
      backend === 'wasm' && preference === 'auto'
        ? ['WebGPU is not available in this browser, so the model runs on the CPU (WebAssembly), which is much slower.']
        : [];
    return { source: target.url, backend, warnings };
  }

  /** Stores the model's files (downloading what is missing), reporting as 'loading' progress. */
  private async download(source: ModelSource, { onProgress, signal }: DownloadOptions, started: number): Promise<StoredModel> {
    const elapsedMs = (): number => performance.now() - started;
    const stored = await this.store.ensureModel(source, {
      ...(signal !== undefined ? { signal } : {}),
      ...(onProgress !== undefined
        ? {
            onProgress: ({ filesDone, fileCount, file, loaded, total, modelLoaded, modelTotal, bytesPerSecond, etaSeconds }) =>
              onProgress({
                phase: 'loading',
                stage: 'download',
                step: filesDone,
                steps: fileCount,
                elapsedMs: elapsedMs(),
                download: { file, loaded, total, modelLoaded, modelTotal, bytesPerSecond, etaSeconds },
              }),
          }
        : {}),
    });
    const files = new Set(stored.files.map((file) => file.sha256)).size;
    onProgress?.({ phase: 'loading', stage: 'download', step: files, steps: files, elapsedMs: elapsedMs() });
    return stored;
  }

  private checkUsable(): void {
    if (this.disposed) throw new WebDiffusionError('disposed', 'This engine has been disposed; create a new one');
  }

  /** 'auto' is WebGPU when a device can be had, else the CPU. */
  private async pickBackend(preference: BackendPreference): Promise<Backend> {
    if (preference === 'wasm') return 'wasm';
    try {
      await this.gpuDevice();
      return 'webgpu';
    } catch (error) {
      if (preference === 'auto' && error instanceof GpuUnavailableError) return 'wasm';
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

/**
 * A model reference resolved: a catalog id or entry, or a manifest's URL (a Hugging Face repo
 * id or base URL resolved to its manifest.json). Whether that manifest is ours or a catalog
 * entry shows when the store reads it (`catalogEntryInstead`).
 * @throws ManifestError when a given entry is malformed, or the text is neither an id nor a URL
 */
function resolveTarget(model: ModelReference): Target {
  if (typeof model !== 'string') return { kind: 'catalog', entry: parseCatalogEntry(model, 'the catalog entry given') };
  const known = CATALOG.find((entry) => entry.id === model);
  if (known !== undefined) {
    // The client sends a bundled model as its manifest's URL, resolved against the page; used
    // directly (in a worker of one's own), its path resolves against this script's address.
    if (known.source.kind === 'bundled') return { kind: 'manifest', url: new URL(known.source.manifest, globalThis.location?.href).href };
    return { kind: 'catalog', entry: known };
  }
  return { kind: 'manifest', url: resolveModelSource(model, globalThis.location?.href).manifestUrl };
}

/**
 * When the store refused a manifest for its format, the catalog entry it may be instead (a
 * user's model described in the catalog's format); otherwise `error` again.
 */
async function catalogEntryInstead(source: ModelSource, error: unknown, signal: AbortSignal | undefined): Promise<CatalogEntry> {
  const formatRefused = error instanceof ManifestError && error.details?.field === 'format';
  if (!formatRefused || typeof source !== 'string') throw error;
  let json: unknown;
  try {
    const response = await fetch(source, { cache: 'no-cache', ...(signal !== undefined ? { signal } : {}) });
    json = await response.json();
  } catch {
    throw error;
  }
  if (typeof json !== 'object' || json === null || !('variants' in json)) throw error;
  return parseCatalogEntry(json, source);
}

/** The adapter's profile for device fitting; null without WebGPU. */
async function probeGpu(): Promise<AdapterProfile | null> {
  const gpu = globalThis.navigator?.gpu;
  if (gpu === undefined) return null;
  try {
    return probeAdapter(await gpu.requestAdapter({ powerPreference: 'high-performance' }));
  } catch {
    return null;
  }
}

/**
 * `work`, or a CancelledError as soon as `signal` aborts: the caller need not wait for the steps
 * already queued on the GPU (the engine's next job does).
 */
function rejectedOnAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = (): void =>
      reject(new CancelledError('Generation cancelled; the steps already queued finish before the next request starts', { when: 'at once' }));
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** The layout of a model stored from our manifest. */
function manifestLayout(stored: StoredModel): ModelLayout {
  if (stored.manifest === null) {
    throw new ManifestError(`${stored.id} was stored from a file list, not a manifest: a diffusion model needs its manifest`, { modelId: stored.id });
  }
  return layoutFromManifest(stored.manifest);
}

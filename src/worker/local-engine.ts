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
import { CancelledError, CapabilityError, GpuDeviceLostError, GpuUnavailableError, InvalidRequestError, WebDiffusionError } from '../errors.ts';
import { requestGpuDevice } from '../gpu/device.ts';
import { CATALOG, parseCatalogEntry, type CatalogEntry, type CatalogVariant } from '../models/catalog.ts';
import { fitModel, probeAdapter, shortfallSummary, type AdapterProfile, type DeviceFit, type Shortfall } from '../models/device-fit.ts';
import { catalogFileList, catalogStoreId, layoutFromCatalog, type ModelLayout } from '../models/layout.ts';
import { resolveReference } from '../models/model-reference.ts';
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
import { manifestKey } from '../storage/model-source.ts';
import { createWeightStore, type EnsureOptions, type ModelSource, type StoredModel, type WeightStore } from '../storage/weight-store.ts';
import { SerialQueue } from '../util/serial-queue.ts';

/** A model stored, and where it will run: its layout, and device fitting's backend and warnings. */
interface Fetched {
  readonly stored: StoredModel;
  readonly layout: ModelLayout;
  readonly fit: DeviceFit;
}

export interface LocalEngineOptions {
  /** Where model files are kept; default `createWeightStore()` (OPFS, else the Cache API). */
  readonly store?: WeightStore;
  /**
   * Denoising steps queued on the GPU at once (default 2). `Infinity` queues every step without
   * waiting, as before pacing: progress then runs ahead of the GPU. For measurements only.
   */
  readonly stepsInFlight?: number;
  /**
   * Where the app publishes the bundled models ("models/<id>/" under it), and what relative
   * model URLs resolve against; default this script's address. The client engine passes the
   * page's base.
   */
  readonly baseUrl?: string;
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
  private readonly baseUrl: string | undefined;
  private readonly loras: LoraLibrary;
  /**
   * How the loaded model was loaded, for loading it again with LoRA support; and its graphs
   * with LoRA branches once a LoRA was asked for (their targets match LoRA keys).
   */
  private loadedFrom: { stored: StoredModel; layout: ModelLayout; options: LoadOptions; graphs?: Promise<Map<LoraComponent, LoraGraph>> } | undefined;

  constructor(options: LocalEngineOptions = {}) {
    this.store = options.store ?? createWeightStore();
    this.stepsInFlight = options.stepsInFlight;
    this.baseUrl = options.baseUrl ?? globalThis.location?.href;
    this.loras = new LoraLibrary(this.store);
  }

  loadModel(model: ModelReference, options: LoadModelOptions = {}): Promise<ModelInfo> {
    // Loads run one after another, so the last one asked for is the one loaded; their downloads
    // stay out of `jobs`, so that generations with the loaded model go on while one is fetched
    // (or while a server that never answers is waited on).
    return this.loads.run(async () => {
      this.checkUsable();
      const started = performance.now();
      const { stored, layout, fit } = await this.storeFitted(model, options.backend ?? 'auto', options, started);
      // Before the sessions: a lost or missing device is better said now than halfway.
      const device = fit.backend === 'webgpu' ? await this.gpuDevice() : undefined;
      return this.jobs.run(async () => {
        this.checkUsable();
        // The old model goes first: the new one's sessions need not fit beside it.
        if (this.model !== undefined) await releaseDiffusionModel(this.model);
        this.model = undefined;
        const stage = (name: LoadStage): void => {
          const files = new Set(stored.files.map((file) => file.sha256)).size;
          options.onProgress?.({ phase: 'loading', stage: name, step: files, steps: files, elapsedMs: performance.now() - started });
        };
        this.loadedFrom = undefined;
        stage('sessions');
        const loadOptions: LoadOptions = { backend: fit.backend, ...(device !== undefined ? { device } : {}), warnings: fit.warnings };
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
    const { stored } = await this.storeFitted(model, 'auto', options, performance.now());
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
      // A bundled model is stored under its manifest's URL (a manifest elsewhere may declare the same id).
      const target = resolveReference(entry.id, this.baseUrl);
      const isStored = (model: CachedModel): boolean =>
        target.kind === 'descriptor'
          ? model.manifestUrl !== null && manifestKey(model.manifestUrl) === manifestKey(target.url)
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
   * Resolves `model` (the one place references are resolved), fits it to this device and stores
   * the variant that fits: a catalog model is fitted before anything is fetched; a model
   * described by a manifest.json once that is fetched (or, offline, read from the store), before
   * any of its files is.
   * @throws UnknownModelError for an id the catalog does not have, or no descriptor at a URL
   * @throws CapabilityError when the model cannot run on this device
   * @throws GpuUnavailableError when 'webgpu' is asked for and there is no WebGPU
   */
  private async storeFitted(model: ModelReference, preference: BackendPreference, options: DownloadOptions, started: number): Promise<Fetched> {
    if (preference === 'webgpu') await this.gpuDevice();
    const target =
      typeof model === 'string'
        ? resolveReference(model, this.baseUrl)
        : { kind: 'entry' as const, entry: parseCatalogEntry(model, 'the catalog entry given') };
    const profile = preference === 'wasm' ? null : await probeGpu();
    const fitTo = (entry: CatalogEntry): DeviceFit => fitModel(profile, entry, CATALOG, preference);
    if (target.kind === 'entry') {
      const fit = fitTo(target.entry);
      const stored = await this.download(catalogFileList(target.entry, fit.variant), options, started);
      return { stored, layout: layoutFromCatalog(target.entry, fit.variant), fit };
    }
    let fit: DeviceFit | undefined;
    const variant = (descriptor: CatalogEntry): CatalogVariant => (fit = fitTo(descriptor)).variant;
    const stored = await this.download(target.url, { ...options, variant }, started);
    return { stored, layout: layoutFromCatalog(stored.descriptor!, stored.variant!, stored.key), fit: fit! };
  }

  /** Stores the model's files (downloading what is missing), reporting as 'loading' progress. */
  private async download(
    source: ModelSource,
    { onProgress, signal, variant }: DownloadOptions & Pick<EnsureOptions, 'variant'>,
    started: number,
  ): Promise<StoredModel> {
    const elapsedMs = (): number => performance.now() - started;
    const stored = await this.store.ensureModel(source, {
      ...(signal !== undefined ? { signal } : {}),
      ...(variant !== undefined ? { variant } : {}),
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

/**
 * webdiffusion's public API.
 */
export { createEngine } from './client/engine.ts';
export type { CreateEngineOptions } from './client/engine.ts';
export type { BackendPreference, DownloadOptions, Engine, GenerateOptions, LoadModelOptions, ModelReference } from './engine.ts';
export type { CachedModel, CatalogModelStatus, DownloadStatus, GeneratedImage, GenerateRequest, ImageInput, LoadStage, ModelInfo, Phase, PreviewImage, Progress, RequestAsRun, TextRequest, TokenCount } from './api.ts';
export type { SchedulerName } from './schedulers/scheduler.ts';
export { GenerationQueue } from './queue/generation-queue.ts';
export type {
  CancelReason,
  GenerationQueueOptions,
  QueueEvent,
  QueueEventOf,
  QueueEventType,
  RequestStatus,
  SubmitMode,
  SubmitOptions,
} from './queue/generation-queue.ts';
export { FLOW_SCHEDULER_NAMES, SCHEDULER_LABELS, SCHEDULER_NAMES } from './schedulers/index.ts';
export { PictureHistory } from './history/picture-history.ts';
export type { HistoryEntry, NewHistoryEntry, PictureHistoryStores } from './history/picture-history.ts';
export { encodePngWithParameters, formatParameters, parseParameters, readPngParameters } from './image/generation-parameters.ts';
export type { ParsedParameters } from './image/generation-parameters.ts';
export { CATALOG, getCatalogEntry, huggingFaceBaseUrl, parseCatalog, parseCatalogEntry, resolveModelSource } from './models/catalog.ts';
export type {
  CatalogEntry,
  CatalogFile,
  CatalogSource,
  CatalogVariant,
  ComponentName,
  ComponentSpec,
  MemoryEstimate,
  ModelLocation,
  Precision,
  TensorDtype,
  TensorSpec,
} from './models/catalog.ts';
export { cpuShortfalls, fitModel, gpuShortfalls, probeAdapter, runnableModels, shortfallSummary, WASM_MEMORY_BYTES } from './models/device-fit.ts';
export type { AdapterProfile, Backend, DeviceFit, Shortfall } from './models/device-fit.ts';
export type { DenoiserKind, DenoiserSpec, GuidanceMode, Packing as LatentPacking, Prediction, TimestepInput } from './models/denoiser.ts';
export {
  CancelledError,
  CapabilityError,
  GpuDeviceLostError,
  GpuUnavailableError,
  IntegrityError,
  InvalidRequestError,
  ManifestError,
  ModelLoadError,
  NetworkError,
  NumericsError,
  QuotaError,
  TokenizerError,
  UnknownModelError,
  UnknownSchedulerError,
  WebDiffusionError,
} from './errors.ts';
export type { ErrorDetails } from './errors.ts';

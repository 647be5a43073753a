/**
 * webdiffusion's public API.
 */
export { createEngine } from './client/client-engine.ts';
export type { CreateEngineOptions } from './client/client-engine.ts';
export type { BackendPreference, DownloadOptions, Engine, GenerateOptions, LoadModelOptions, ModelReference } from './engine.ts';
export type {
  CachedModel,
  CatalogModelStatus,
  DownloadStatus,
  GeneratedImage,
  GenerateRequest,
  ImageInput,
  LoadStage,
  LoraAsRun,
  LoraInfo,
  LoraReference,
  LoraRequest,
  LoraSource,
  ModelInfo,
  Phase,
  PreviewImage,
  Progress,
  RequestAsRun,
  TextRequest,
  TokenCount,
} from './api.ts';
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
// A catalog entry's shape, for `loadModel(entry)` with a model of one's own; the catalog itself is
// read through `engine.listCatalogModels()`.
export type {
  CatalogEntry,
  CatalogFile,
  CatalogSource,
  CatalogVariant,
  ComponentName,
  ComponentSpec,
  MemoryEstimate,
  LatentSpace,
  SchedulerSource,
  Precision,
  TensorDtype,
  TensorSpec,
} from './models/catalog.ts';
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
  LoraError,
  NumericsError,
  QuotaError,
  TokenizerError,
  UnknownModelError,
  UnknownSchedulerError,
  WebDiffusionError,
} from './errors.ts';
export type {
  CancelledDetails,
  CapabilityDetails,
  ErrorCode,
  ErrorDetails,
  GpuDeviceLostDetails,
  GpuUnavailableDetails,
  IntegrityDetails,
  InvalidRequestDetails,
  LoraDetails,
  ManifestDetails,
  ModelLoadDetails,
  NetworkDetails,
  NumericsDetails,
  QuotaDetails,
  TokenizerDetails,
  UnknownModelDetails,
  UnknownSchedulerDetails,
} from './errors.ts';

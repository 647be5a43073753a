/**
 * webdiffusion's public API.
 */
export { createEngine } from './client/engine.ts';
export type { CreateEngineOptions } from './client/engine.ts';
export type { BackendPreference, DownloadOptions, Engine, GenerateOptions, LoadModelOptions } from './engine.ts';
export type { CachedModel, DownloadStatus, GeneratedImage, GenerateRequest, ModelInfo, Phase, Progress } from './api.ts';
export type { SchedulerName } from './schedulers/scheduler.ts';
export { SCHEDULER_NAMES } from './schedulers/index.ts';
export {
  CancelledError,
  GpuDeviceLostError,
  GpuUnavailableError,
  IntegrityError,
  InvalidRequestError,
  ManifestError,
  ModelLoadError,
  NetworkError,
  QuotaError,
  TokenizerError,
  UnknownModelError,
  UnknownSchedulerError,
  WebDiffusionError,
} from './errors.ts';
export type { ErrorDetails } from './errors.ts';

/**
 * webdiffusion's public API.
 */
export { createEngine } from './client/engine.ts';
export type { CreateEngineOptions } from './client/engine.ts';
export type { BackendPreference, Engine, GenerateOptions, LoadModelOptions } from './engine.ts';
export type { GeneratedImage, GenerateRequest, ModelInfo, Phase, Progress } from './api.ts';
export type { SchedulerName } from './schedulers/scheduler.ts';
export { SCHEDULER_NAMES } from './schedulers/index.ts';
export {
  CancelledError,
  GpuDeviceLostError,
  GpuUnavailableError,
  InvalidRequestError,
  ManifestError,
  ModelLoadError,
  TokenizerError,
  UnknownModelError,
  UnknownSchedulerError,
  WebDiffusionError,
} from './errors.ts';
export type { ErrorDetails } from './errors.ts';

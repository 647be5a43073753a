/**
 * Our typed errors, and their plain-object form for crossing the worker boundary.
 *
 * Every error the library throws on purpose is a `WebDiffusionError` with a stable `code` that
 * callers may switch on; `details` carries the values that explain it (what was asked, what is
 * allowed). `name` is set explicitly on each class rather than read from `constructor.name`,
 * because minifiers rename classes and the name is what `deserializeError` matches on.
 */

/** Values that explain an error: the offending input, the allowed range, a URL, … */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Every `code` an error of ours can have: callers may switch on it. */
export type ErrorCode =
  | 'invalid-request'
  | 'unknown-model'
  | 'unknown-scheduler'
  | 'model-load'
  | 'bad-manifest'
  | 'gpu-unavailable'
  | 'capability'
  | 'numerics'
  | 'gpu-device-lost'
  | 'cancelled'
  | 'tokenizer'
  | 'integrity'
  | 'quota'
  | 'network'
  | 'bad-lora'
  /** The engine's worker failed to start or died (the client's `WebDiffusionError`s). */
  | 'worker-failed'
  | 'worker-lost'
  /** A call on an engine after `dispose()`. */
  | 'disposed'
  /** Not ours: a bug's TypeError, a thrown string, a worker that died (see `deserializeError`). */
  | 'internal';

/** Where a file of a model is, in the details of the errors about one. */
interface FileDetails {
  /** The file's path in its model's manifest. */
  readonly path?: string;
  /** Where it is fetched from (null: a model whose manifest URL is not known). */
  readonly url?: string | null;
  readonly sha256?: string;
  /** Bytes the manifest lists, and bytes stored so far. */
  readonly size?: number;
  readonly storedBytes?: number;
  /** The model's id, or its key in the cache. */
  readonly modelId?: string;
}

export interface InvalidRequestDetails {
  /** The request's field at fault ('steps', 'seed', 'image', 'n', …). */
  readonly field?: string;
  /** What the field may be, and what it was. */
  readonly allowed?: unknown;
  readonly got?: unknown;
  readonly min?: number;
  readonly max?: number;
  readonly seed?: unknown;
  readonly scheduler?: unknown;
  /** A queue's request id, or a history entry's. */
  readonly id?: string;
  /** A PNG's name, size, and what is wrong with it. */
  readonly file?: string;
  readonly size?: number;
  readonly reason?: string;
}

export interface UnknownModelDetails {
  readonly id?: string;
  readonly url?: string;
  /** The catalog ids there are. */
  readonly known?: readonly string[];
  readonly status?: number;
}

export interface UnknownSchedulerDetails {
  readonly name?: unknown;
  readonly allowed?: readonly string[];
}

export interface ModelLoadDetails extends FileDetails {
  /** The network the file is for ('unet', 'text_encoder', …). */
  readonly role?: string;
  readonly backend?: string;
  readonly files?: readonly string[];
}

export interface ManifestDetails {
  /** Where the manifest (or catalog entry) came from. */
  readonly source?: string;
  readonly entry?: string;
  readonly field?: string;
  readonly allowed?: readonly unknown[];
  readonly modelId?: string;
  readonly path?: string;
  readonly predictionType?: unknown;
  readonly betaSchedule?: unknown;
  readonly timestepSpacing?: unknown;
}

export interface GpuUnavailableDetails {
  readonly requiredLimits?: Readonly<Record<string, number>>;
  readonly requiredFeatures?: readonly string[];
}

export interface CapabilityDetails {
  readonly model?: string;
  /** What this device lacks, for each variant tried: a feature, a limit, memory, WebGPU itself. */
  readonly missing?: readonly {
    readonly variant: string;
    readonly kind: 'webgpu' | 'memory' | 'limit' | 'feature' | 'cpu';
    readonly name: string;
    readonly needed?: number;
    readonly available?: number;
    /** In words: 'the GPU lacks the WebGPU feature "shader-f16"', … */
    readonly message: string;
  }[];
  /** Catalog models that would run here. */
  readonly runnable?: readonly string[];
}

export interface NumericsDetails {
  /** Pixels with NaN or infinite values, of `pixels`. */
  readonly count?: number;
  readonly pixels?: number;
}

export interface GpuDeviceLostDetails {
  readonly reason?: string;
}

export interface CancelledDetails {
  /** A queue's request id, and why it ended ('cancelled' or 'superseded'). */
  readonly id?: string;
  readonly reason?: string;
  readonly when?: string;
  readonly path?: string;
  readonly modelId?: string;
}

export interface TokenizerDetails {
  readonly maxLength?: number;
  readonly padTokenId?: number;
  readonly token?: string;
  readonly id?: number;
  /** Where in merges.txt. */
  readonly line?: number;
  readonly text?: string;
}

export interface IntegrityDetails extends FileDetails {
  /** The SHA-256 listed, and the one the bytes have. */
  readonly expected?: string;
  readonly actual?: string;
  readonly expectedSize?: number;
  readonly storedSize?: number;
  readonly serverSize?: number;
  readonly attempts?: number;
}

export interface QuotaDetails {
  readonly path?: string;
  /** Bytes still needed, bytes the browser will take, and the difference. */
  readonly needed?: number;
  readonly available?: number;
  readonly missing?: number;
  readonly files?: readonly string[];
}

export interface NetworkDetails extends FileDetails {
  /** The HTTP status, when the server answered. */
  readonly status?: number;
  readonly files?: readonly string[];
}

/** The base class of every error the library throws on purpose. */
export class WebDiffusionError<Details extends object = ErrorDetails> extends Error {
  override readonly name: string = 'WebDiffusionError';
  /** Stable, machine-readable identifier ('invalid-request', 'gpu-device-lost', …). */
  readonly code: ErrorCode;
  readonly details?: Details;

  constructor(code: ErrorCode, message: string, details?: Details, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** A request (prompt, size, steps, seed, …) has a value outside what is allowed. */
export class InvalidRequestError extends WebDiffusionError<InvalidRequestDetails> {
  override readonly name = 'InvalidRequestError';
  constructor(message: string, details?: InvalidRequestDetails, options?: ErrorOptions) {
    super('invalid-request', message, details, options);
  }
}

/** No model with the requested id is in the catalog. */
export class UnknownModelError extends WebDiffusionError<UnknownModelDetails> {
  override readonly name = 'UnknownModelError';
  constructor(message: string, details?: UnknownModelDetails, options?: ErrorOptions) {
    super('unknown-model', message, details, options);
  }
}

/** No scheduler with the requested name exists. */
export class UnknownSchedulerError extends WebDiffusionError<UnknownSchedulerDetails> {
  override readonly name = 'UnknownSchedulerError';
  constructor(message: string, details?: UnknownSchedulerDetails, options?: ErrorOptions) {
    super('unknown-scheduler', message, details, options);
  }
}

/** A model file could not be downloaded, read from the cache, or turned into a session. */
export class ModelLoadError extends WebDiffusionError<ModelLoadDetails> {
  override readonly name = 'ModelLoadError';
  constructor(message: string, details?: ModelLoadDetails, options?: ErrorOptions) {
    super('model-load', message, details, options);
  }
}

/** A model manifest or one of the configuration files it names is malformed. */
export class ManifestError extends WebDiffusionError<ManifestDetails> {
  override readonly name = 'ManifestError';
  constructor(message: string, details?: ManifestDetails, options?: ErrorOptions) {
    super('bad-manifest', message, details, options);
  }
}

/** WebGPU is missing, or no adapter/device with the needed limits could be had. */
export class GpuUnavailableError extends WebDiffusionError<GpuUnavailableDetails> {
  override readonly name = 'GpuUnavailableError';
  constructor(message: string, details?: GpuUnavailableDetails, options?: ErrorOptions) {
    super('gpu-unavailable', message, details, options);
  }
}

/**
 * This device cannot run the chosen model: a GPU feature it needs is missing, a limit is too low,
 * or its weights would not fit in memory. `details` names what is missing and `runnable`, the
 * catalog models that would run here.
 */
export class CapabilityError extends WebDiffusionError<CapabilityDetails> {
  override readonly name = 'CapabilityError';
  constructor(message: string, details?: CapabilityDetails, options?: ErrorOptions) {
    super('capability', message, details, options);
  }
}

/**
 * The model produced NaN or infinite values (a float16 overflow, a broken export): reported
 * instead of a black or noisy picture. `details.count` says how many pixels were affected.
 */
export class NumericsError extends WebDiffusionError<NumericsDetails> {
  override readonly name = 'NumericsError';
  constructor(message: string, details?: NumericsDetails, options?: ErrorOptions) {
    super('numerics', message, details, options);
  }
}

/** The GPU device was lost while in use (driver reset, tab in background too long, …). */
export class GpuDeviceLostError extends WebDiffusionError<GpuDeviceLostDetails> {
  override readonly name = 'GpuDeviceLostError';
  constructor(message: string, details?: GpuDeviceLostDetails, options?: ErrorOptions) {
    super('gpu-device-lost', message, details, options);
  }
}

/** The caller cancelled the request. */
export class CancelledError extends WebDiffusionError<CancelledDetails> {
  override readonly name = 'CancelledError';
  constructor(message: string, details?: CancelledDetails, options?: ErrorOptions) {
    super('cancelled', message, details, options);
  }
}

/** The tokenizer's files are inconsistent (missing special tokens, malformed merges, …). */
export class TokenizerError extends WebDiffusionError<TokenizerDetails> {
  override readonly name = 'TokenizerError';
  constructor(message: string, details?: TokenizerDetails, options?: ErrorOptions) {
    super('tokenizer', message, details, options);
  }
}

/**
 * A downloaded or stored file does not match the size or SHA-256 its manifest lists (a corrupted
 * transfer, a server that changed the file, a damaged store). `details` names the file, what was
 * expected and what was found.
 */
export class IntegrityError extends WebDiffusionError<IntegrityDetails> {
  override readonly name = 'IntegrityError';
  constructor(message: string, details?: IntegrityDetails, options?: ErrorOptions) {
    super('integrity', message, details, options);
  }
}

/**
 * The browser will not let this origin store what a model still needs. `details`: `needed`,
 * `available` and `missing` (= needed - available) in bytes, and `files`, the paths not stored yet.
 */
export class QuotaError extends WebDiffusionError<QuotaDetails> {
  override readonly name = 'QuotaError';
  constructor(message: string, details?: QuotaDetails, options?: ErrorOptions) {
    super('quota', message, details, options);
  }
}

/** A server could not be reached (offline, connection lost, stalled) or answered with an HTTP error. */
export class NetworkError extends WebDiffusionError<NetworkDetails> {
  override readonly name = 'NetworkError';
  constructor(message: string, details?: NetworkDetails, options?: ErrorOptions) {
    super('network', message, details, options);
  }
}

/**
 * A LoRA file that cannot be applied to the loaded model: not a safetensors file, cut short, a
 * header over the size limit, a tensor of a type we do not read, keys in no layout we know, keys
 * that name nothing in the model, or shapes that do not fit it (a LoRA for another base model).
 * `details.reason` says which ('not-safetensors', 'truncated', 'header-too-large',
 * 'unsupported-dtype', 'bad-tensor', 'unknown-keys', 'no-match', 'shape-mismatch', 'no-targets');
 * `details.keys` names the offending keys where there are some.
 */
export interface LoraDetails {
  /** Which refusal: 'not-safetensors', 'truncated', 'header-too-large', 'unknown-keys', … */
  readonly reason?: string;
  /** The keys at fault, where there are some. */
  readonly keys?: readonly string[];
  /** The LoRA: its reference or file, where it is known. */
  readonly source?: unknown;
  readonly url?: string;
  readonly sha256?: string;
  readonly file?: string;
  readonly got?: unknown;
  readonly [more: string]: unknown;
}

export class LoraError extends WebDiffusionError<LoraDetails> {
  override readonly name = 'LoraError';
  constructor(message: string, details?: LoraDetails, options?: ErrorOptions) {
    super('bad-lora', message, details, options);
  }
}

/** An error as plain data, safe for `structuredClone` / `postMessage`. */
export interface SerializedError {
  readonly name: string;
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: object;
  readonly stack?: string;
}

type ErrorClass = new (message: string, details?: never) => WebDiffusionError<object>;

const ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = {
  InvalidRequestError,
  UnknownModelError,
  UnknownSchedulerError,
  ModelLoadError,
  ManifestError,
  GpuUnavailableError,
  CapabilityError,
  NumericsError,
  GpuDeviceLostError,
  CancelledError,
  TokenizerError,
  IntegrityError,
  QuotaError,
  NetworkError,
  LoraError,
};

/** The code given to errors that are not ours (a TypeError from a bug, a thrown string, …). */
export const INTERNAL_ERROR_CODE: ErrorCode = 'internal';

/**
 * Turns anything thrown into plain data that survives `postMessage`.
 *
 * Errors that are not ours get the code 'internal' and keep their name; non-Error values
 * (a thrown string, say) become a message, so nothing thrown across the boundary is lost.
 */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof WebDiffusionError) {
    return { name: e.name, code: e.code, message: e.message, details: e.details, stack: e.stack };
  }
  if (e instanceof Error) {
    return { name: e.name, code: INTERNAL_ERROR_CODE, message: e.message, stack: e.stack };
  }
  return { name: 'Error', code: INTERNAL_ERROR_CODE, message: String(e) };
}

/**
 * Rebuilds an error of the matching class from `serializeError`'s output.
 *
 * Names we do not know (a TypeError from a bug in the worker, say) become a plain
 * `WebDiffusionError` with the code 'internal', their original name kept in
 * `details.originalName` so the report still says what happened.
 */
export function deserializeError(data: SerializedError): WebDiffusionError<object> {
  const ErrorClass = ERROR_CLASSES[data.name];
  let error: WebDiffusionError<object>;
  if (ErrorClass !== undefined) {
    // Each class's details as its own side sent them: the same class built them.
    error = new ErrorClass(data.message, data.details as never);
  } else if (data.name === 'WebDiffusionError') {
    error = new WebDiffusionError(data.code, data.message, data.details);
  } else {
    error = new WebDiffusionError<ErrorDetails>(INTERNAL_ERROR_CODE, data.message, {
      ...(data.details as ErrorDetails | undefined),
      originalName: data.name,
    });
  }
  // The stack of the side that threw is the one worth reading, not the rebuilding one.
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

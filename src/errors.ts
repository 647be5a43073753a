/**
 * Our typed errors, and their plain-object form for crossing the worker boundary.
 *
 * Every error the library throws on purpose is a `WebDiffusionError` with a stable `code` that
 * callers may switch on; `details` carries the values that explain it (what was asked, what is
 * allowed). `name` is set explicitly on each class rather than read from `constructor.name`,
 * because minifiers rename classes and the name is what `deserializeError` matches on.
 */

/** Values that explain an error: the offending input, the allowed range, a URL, … */
export type ErrorDetails = Record<string, unknown>;

/** The base class of every error the library throws on purpose. */
export class WebDiffusionError extends Error {
  override readonly name: string = 'WebDiffusionError';
  /** Stable, machine-readable identifier ('invalid-request', 'gpu-device-lost', …). */
  readonly code: string;
  readonly details?: ErrorDetails;

  constructor(code: string, message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** A request (prompt, size, steps, seed, …) has a value outside what is allowed. */
export class InvalidRequestError extends WebDiffusionError {
  override readonly name = 'InvalidRequestError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('invalid-request', message, details, options);
  }
}

/** No model with the requested id is in the catalog. */
export class UnknownModelError extends WebDiffusionError {
  override readonly name = 'UnknownModelError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('unknown-model', message, details, options);
  }
}

/** No scheduler with the requested name exists. */
export class UnknownSchedulerError extends WebDiffusionError {
  override readonly name = 'UnknownSchedulerError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('unknown-scheduler', message, details, options);
  }
}

/** A model file could not be downloaded, read from the cache, or turned into a session. */
export class ModelLoadError extends WebDiffusionError {
  override readonly name = 'ModelLoadError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('model-load', message, details, options);
  }
}

/** A model manifest or one of the configuration files it names is malformed. */
export class ManifestError extends WebDiffusionError {
  override readonly name = 'ManifestError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('bad-manifest', message, details, options);
  }
}

/** WebGPU is missing, or no adapter/device with the needed limits could be had. */
export class GpuUnavailableError extends WebDiffusionError {
  override readonly name = 'GpuUnavailableError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('gpu-unavailable', message, details, options);
  }
}

/**
 * This device cannot run the chosen model: a GPU feature it needs is missing, a limit is too low,
 * or its weights would not fit in memory. `details` names what is missing and `runnable`, the
 * catalog models that would run here.
 */
export class CapabilityError extends WebDiffusionError {
  override readonly name = 'CapabilityError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('capability', message, details, options);
  }
}

/**
 * The model produced NaN or infinite values (a float16 overflow, a broken export): reported
 * instead of a black or noisy picture. `details.count` says how many pixels were affected.
 */
export class NumericsError extends WebDiffusionError {
  override readonly name = 'NumericsError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('numerics', message, details, options);
  }
}

/** The GPU device was lost while in use (driver reset, tab in background too long, …). */
export class GpuDeviceLostError extends WebDiffusionError {
  override readonly name = 'GpuDeviceLostError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('gpu-device-lost', message, details, options);
  }
}

/** The caller cancelled the request. */
export class CancelledError extends WebDiffusionError {
  override readonly name = 'CancelledError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('cancelled', message, details, options);
  }
}

/** The tokenizer's files are inconsistent (missing special tokens, malformed merges, …). */
export class TokenizerError extends WebDiffusionError {
  override readonly name = 'TokenizerError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('tokenizer', message, details, options);
  }
}

/**
 * A downloaded or stored file does not match the size or SHA-256 its manifest lists (a corrupted
 * transfer, a server that changed the file, a damaged store). `details` names the file, what was
 * expected and what was found.
 */
export class IntegrityError extends WebDiffusionError {
  override readonly name = 'IntegrityError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('integrity', message, details, options);
  }
}

/**
 * The browser will not let this origin store what a model still needs. `details`: `needed`,
 * `available` and `missing` (= needed - available) in bytes, and `files`, the paths not stored yet.
 */
export class QuotaError extends WebDiffusionError {
  override readonly name = 'QuotaError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('quota', message, details, options);
  }
}

/** A server could not be reached (offline, connection lost, stalled) or answered with an HTTP error. */
export class NetworkError extends WebDiffusionError {
  override readonly name = 'NetworkError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
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
export class LoraError extends WebDiffusionError {
  override readonly name = 'LoraError';
  constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super('bad-lora', message, details, options);
  }
}

/** An error as plain data, safe for `structuredClone` / `postMessage`. */
export interface SerializedError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly details?: ErrorDetails;
  readonly stack?: string;
}

type ErrorClass = new (message: string, details?: ErrorDetails) => WebDiffusionError;

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
export const INTERNAL_ERROR_CODE = 'internal';

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
export function deserializeError(data: SerializedError): WebDiffusionError {
  const ErrorClass = ERROR_CLASSES[data.name];
  let error: WebDiffusionError;
  if (ErrorClass !== undefined) {
    error = new ErrorClass(data.message, data.details);
  } else if (data.name === 'WebDiffusionError') {
    error = new WebDiffusionError(data.code, data.message, data.details);
  } else {
    error = new WebDiffusionError(INTERNAL_ERROR_CODE, data.message, {
      ...data.details,
      originalName: data.name,
    });
  }
  // The stack of the side that threw is the one worth reading, not the rebuilding one.
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

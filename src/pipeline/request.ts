/**
 * Checking a generation request and filling in its defaults, before any GPU work.
 */
import type { GenerateRequest, ImageInput, LoraReference, ModelInfo, RequestAsRun } from '../api.ts';
import { InvalidRequestError, UnknownSchedulerError } from '../errors.ts';
import { SCHEDULER_NAMES, isSchedulerName } from '../schedulers/index.ts';

export const MAX_STEPS = 1000;
const MAX_SEED = 0xffffffff;

const FIELDS: readonly (keyof GenerateRequest)[] = [
  'prompt',
  'negativePrompt',
  'seed',
  'steps',
  'guidance',
  'scheduler',
  'width',
  'height',
  'image',
  'strength',
  'mask',
  'n',
  'loras',
];

/** The largest LoRA scale taken: desktop UIs' sliders stop at ±2 to ±4; past ±10 pictures are noise. */
export const MAX_LORA_SCALE = 10;

/**
 * A request's LoRAs checked, scales filled in (default 1).
 * @throws InvalidRequestError naming the entry that is wrong
 */
export function checkLoras(loras: unknown): { readonly model: LoraReference; readonly scale: number }[] {
  if (loras === undefined) return [];
  if (!Array.isArray(loras)) throw new InvalidRequestError(`loras must be a list of { model, scale }; got ${shown(loras)}`, { field: 'loras', got: loras });
  return loras.map((entry: unknown, i) => {
    const field = `loras[${i}]`;
    const { model, scale = 1 } = (typeof entry === 'object' && entry !== null ? entry : {}) as { model?: unknown; scale?: unknown };
    if (typeof model !== 'string' && (typeof model !== 'object' || model === null || typeof (model as { url?: unknown }).url !== 'string')) {
      throw new InvalidRequestError(`${field}.model must be a LoRA's URL, Hugging Face file or registered name, or { url }; got ${shown(model)}`, {
        field: `${field}.model`,
        got: model,
      });
    }
    if (typeof scale !== 'number' || !Number.isFinite(scale) || Math.abs(scale) > MAX_LORA_SCALE) {
      throw new InvalidRequestError(`${field}.scale must be a number from -${MAX_LORA_SCALE} to ${MAX_LORA_SCALE}; got ${shown(scale)}`, {
        field: `${field}.scale`,
        got: scale,
      });
    }
    return { model: model as LoraReference, scale };
  });
}

/** The most pictures one request may ask for. */
export const MAX_PICTURES = 8;

/**
 * The largest guidance scale: far past what pictures survive (they burn out above ~20 on
 * Stable Diffusion; desktop UIs stop their slider at 30), and far below where the guided
 * prediction overflows float16 or float32.
 */
export const MAX_GUIDANCE = 30;

/** A value as a message shows it: numbers as written (NaN, Infinity, 1e+308), the rest as JSON. */
export function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * @throws InvalidRequestError when `request` is not an object (`generate(null)`, a prompt given
 *   as a bare string): checked on the page too, before anything is sent to the worker
 */
export function checkRequestObject(request: unknown): asserts request is GenerateRequest {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    const hint = typeof request === 'string' ? ' (put the text in { prompt })' : '';
    throw new InvalidRequestError(`the request must be an object with a prompt${hint}; got ${shown(request)}`, { field: 'the request', got: request });
  }
}

/** A request checked and completed: what runs, with the pictures it starts from. */
export type ResolvedRequest = RequestAsRun & { readonly n: number; readonly image?: ImageInput; readonly mask?: ImageInput };

/** Whether `value` is something `rgbaAt` can read (checked again, with the bytes, when it is read). */
function isImageInput(value: unknown): value is ImageInput {
  if (typeof value !== 'object' || value === null) return false;
  if (typeof Blob !== 'undefined' && value instanceof Blob) return true;
  if (typeof ImageBitmap !== 'undefined' && value instanceof ImageBitmap) return true;
  if (typeof ImageData !== 'undefined' && value instanceof ImageData) return true;
  const v = value as { width?: unknown; height?: unknown; pixels?: unknown };
  return typeof v.width === 'number' && typeof v.height === 'number' && (v.pixels instanceof Uint8Array || v.pixels instanceof Uint8ClampedArray);
}

/**
 * The request with every field set: the model's defaults, a random seed when none is given.
 * @throws InvalidRequestError naming the first field that is wrong and what it may be
 * @throws UnknownSchedulerError when the scheduler is not one we have
 */
export function resolveRequest(request: GenerateRequest, model: ModelInfo): ResolvedRequest {
  const invalid = (field: string, allowed: string, got: unknown): never => {
    throw new InvalidRequestError(`${field} must be ${allowed}; got ${shown(got)}`, { field, allowed, got });
  };
  checkRequestObject(request);
  for (const key of Object.keys(request)) {
    if (!(FIELDS as readonly string[]).includes(key)) invalid(`"${key}"`, `left out: the fields are ${FIELDS.join(', ')}`, key);
  }
  const { prompt, negativePrompt = '', steps = model.defaults.steps, guidance = model.defaults.guidance } = request;
  const { scheduler = model.defaults.scheduler, width = model.width, height = model.height } = request;
  if (typeof prompt !== 'string') invalid('prompt', 'a string', prompt);
  if (typeof negativePrompt !== 'string') invalid('negativePrompt', 'a string', negativePrompt);
  for (const [field, value, modelValue] of [
    ['width', width, model.width],
    ['height', height, model.height],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0 || value % 8 !== 0) invalid(field, 'a positive multiple of 8', value);
    if (value !== modelValue) invalid(field, `${modelValue} (the resolution model ${model.id} generates; others are not supported yet)`, value);
  }
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) invalid('steps', `an integer from 1 to ${MAX_STEPS}`, steps);
  if (typeof guidance !== 'number' || !Number.isFinite(guidance) || guidance < 0 || guidance > MAX_GUIDANCE) {
    invalid('guidance', `a finite number from 0 to ${MAX_GUIDANCE} (<= 1 turns guidance off)`, guidance);
  }
  // A model distilled without guidance runs one pass whatever the scale: a scale the user chose
  // would change nothing, so it is refused rather than silently ignored.
  if (model.guidanceMode === 'none' && guidance > 1) {
    invalid('guidance', `at most 1 for ${model.name}: it was distilled to run without guidance (one pass per step), so a scale would be ignored`, guidance);
  }
  if (typeof scheduler !== 'string' || !isSchedulerName(scheduler)) {
    throw new UnknownSchedulerError(`Unknown scheduler ${JSON.stringify(scheduler)}; use one of ${SCHEDULER_NAMES.join(', ')}`, {
      name: scheduler,
      allowed: SCHEDULER_NAMES,
    });
  }
  let { seed } = request;
  if (seed === undefined) {
    seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  } else if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    invalid('seed', `an integer from 0 to ${MAX_SEED}`, seed);
  }
  const { image, mask } = request;
  if (image !== undefined && !isImageInput(image)) invalid('image', 'a Blob, ImageBitmap, ImageData or { width, height, pixels }', typeof image);
  if (mask !== undefined && !isImageInput(mask)) invalid('mask', 'a Blob, ImageBitmap, ImageData or { width, height, pixels }', typeof mask);
  if (mask !== undefined && image === undefined) invalid('mask', 'given with an image (inpainting repaints part of a picture)', 'a mask alone');
  const { n = 1 } = request;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PICTURES) invalid('n', `an integer from 1 to ${MAX_PICTURES}`, n);
  const resolved = { prompt, negativePrompt, seed, steps, guidance, scheduler, width, height, n };
  if (image === undefined) {
    if (request.strength !== undefined) invalid('strength', 'given with an image', request.strength);
    return resolved;
  }
  const { strength = mask !== undefined ? 1 : 0.8 } = request;
  if (typeof strength !== 'number' || !(strength > 0 && strength <= 1)) invalid('strength', 'a number in (0, 1]', strength);
  return { ...resolved, strength, source: mask !== undefined ? 'inpainting' : 'image', image, ...(mask !== undefined ? { mask } : {}) };
}

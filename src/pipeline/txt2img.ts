/**
 * Text to image: the denoising loop, written out.
 */
import type { GeneratedImage, Phase, Progress, RequestAsRun } from '../api.ts';
import { CancelledError, InvalidRequestError } from '../errors.ts';
import type { Tensor } from '../ort/ort.ts';
import { createScheduler } from '../schedulers/index.ts';
import type { Scheduler } from '../schedulers/scheduler.ts';
import { CpuLatents } from './cpu-latents.ts';
import { GpuLatents } from './gpu-latents.ts';
import type { Latents, LatentsSetup } from './latents.ts';
import { imageTokens, type DiffusionModel } from './model.ts';
import type { Packing } from '../gpu/patch-index.ts';
import { StepPacer, type FinishedStep } from './pacing.ts';
import { gaussianNoise } from './prng.ts';
import { compositeMasked, latentMask, maskWeights, rgbaAt, rgbaToPlanar } from './image-input.ts';
import type { ResolvedRequest } from './request.ts';
import { noisedSampleScales } from '../schedulers/linear-step.ts';
import { decoderAffine, latentFromEncoded } from './latent-space.ts';

export interface RunOptions {
  /** Checked between steps; an aborted signal ends the run with CancelledError. */
  readonly signal?: AbortSignal;
  /** Awaited, so progress arrives in order and before the result. */
  readonly onProgress?: (progress: Progress) => void | Promise<void>;
  /**
   * A cheap preview with each denoising step's progress (but the last): the first picture's
   * denoised estimate through the model's latent-to-RGB map, one pixel per latent cell; nothing
   * for a model without one (`latent.rgbFactors`).
   */
  readonly previews?: boolean;
  /**
   * Steps of GPU work queued at once (default `STEPS_IN_FLIGHT`); `Infinity` queues them all
   * without waiting, as before pacing (for the benchmark's comparison).
   */
  readonly stepsInFlight?: number;
}

/**
 * Whether each step runs the denoiser twice (negative prompt, prompt) for classifier-free
 * guidance: at guidance above 1, and always for a UNet built for a batch of 2 (at scale 1 the
 * result is the conditional one); never for a denoiser that embeds guidance (LCM, FLUX-dev),
 * which gets it as an input, nor for one distilled without it (guidance 'none').
 */
function twoPasses(model: DiffusionModel, request: ResolvedRequest): boolean {
  const { denoiser } = model;
  if (denoiser.spec.guidance === 'none' || denoiser.embedsGuidance) return false;
  return request.guidance > 1 || denoiser.staticBatch === 2;
}

/** The layout the denoiser takes its latents in: patches of the declared size, or the latent's own. */
function packingOf(model: DiffusionModel, width: number, height: number): Packing {
  const { channels, downsample } = model.layout.latent;
  const { packing, patchSize } = model.denoiser.spec;
  return { channels, height: height / downsample, width: width / downsample, patch: packing === 'patches' ? patchSize : 0 };
}

/** The seed of picture `k` of a batch: the request's seed plus k, wrapping at 2^32. */
export function pictureSeed(seed: number, k: number): number {
  return (seed + k) >>> 0;
}

/**
 * Generates a request's pictures (`n`, default 1). The request must already be resolved
 * (`resolveRequest`). A batch is one UNet batch on the device — the pictures denoise together,
 * each from its own seed (seed, seed + 1, …) — where the UNet takes any batch size; a UNet fixed
 * to one batch size gets the pictures one after another.
 * @throws InvalidRequestError when the scheduler cannot take that many steps (LCM: at most 50)
 * @throws CancelledError when `signal` is aborted before the pictures are done
 */
export async function txt2img(model: DiffusionModel, request: ResolvedRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  const n = request.n;
  const copies = twoPasses(model, request) ? 2 : 1;
  if (n === 1 || model.denoiser.staticBatch === undefined || model.denoiser.staticBatch === copies * n) return generateBatch(model, request, n, options);
  const images: GeneratedImage[] = [];
  for (let k = 0; k < n; k++) {
    const onProgress = options.onProgress;
    const single = { ...request, seed: pictureSeed(request.seed, k), n: 1 };
    const [image] = await generateBatch(model, single, 1, {
      ...options,
      ...(onProgress !== undefined ? { onProgress: (p: Progress) => onProgress({ ...p, index: k }) } : {}),
    });
    images.push({ ...image!, request: asRun({ ...request, seed: pictureSeed(request.seed, k) }) });
  }
  return images;
}

/** One run's shared state: its clock, the steps it runs and reports, and the caller's options. */
interface Run {
  readonly model: DiffusionModel;
  readonly request: ResolvedRequest;
  readonly n: number;
  readonly seeds: readonly number[];
  readonly started: number;
  /** The first step run: 0, or later from a picture (only the last max(1, floor(steps * strength)) run). */
  readonly first: number;
  readonly options: RunOptions;
}

/** The pictures' text and what else the denoiser is conditioned on, ready for every step. */
interface Conditioning {
  readonly context: Tensor;
  readonly feeds: Record<string, Tensor>;
  readonly droppedTokens: GeneratedImage['droppedTokens'];
  /** When the text was encoded (performance.now()). */
  readonly encodedAt: number;
}

/** Picture-space inputs kept for after decoding: inpainting's source and mask. */
interface Kept {
  readonly rgba: Uint8ClampedArray;
  readonly weights: Float32Array;
}

function checkCancelled(run: Run, when: string): void {
  if (run.options.signal?.aborted === true) throw new CancelledError(`Generation cancelled ${when}`, { when });
}

function reported(run: Run, phase: Phase, step: number): void | Promise<void> {
  return run.options.onProgress?.({ phase, step, steps: run.request.steps - run.first, elapsedMs: performance.now() - run.started });
}

async function generateBatch(model: DiffusionModel, request: ResolvedRequest, n: number, options: RunOptions): Promise<GeneratedImage[]> {
  const { steps } = request;
  const run: Run = {
    model,
    request,
    n,
    seeds: Array.from({ length: n }, (_, k) => pictureSeed(request.seed, k)),
    started: performance.now(),
    first: request.strength !== undefined ? steps - Math.max(1, Math.floor(steps * request.strength)) : 0,
    options,
  };
  const scheduler = schedule(run);
  const { setup, kept } = await initialLatents(run, scheduler);
  checkCancelled(run, 'before it started');
  const latents: Latents = model.backend === 'webgpu' ? new GpuLatents(model.device!, setup) : new CpuLatents(setup);
  let conditioning: Conditioning | undefined;
  try {
    conditioning = await conditionOnText(run, latents, setup.packing);
    await denoise(run, latents, scheduler, conditioning);
    return await decode(run, latents, conditioning, kept);
  } finally {
    // A cancel or an error leaves work queued: the engine is busy until it is done, so that the
    // next request's work does not queue behind it.
    await latents.settle();
    conditioning?.context.dispose();
    for (const tensor of Object.values(conditioning?.feeds ?? {})) tensor.dispose();
    latents.dispose();
  }
}

/**
 * 1. The schedule, for the request's steps and (flow models) its size.
 * @throws InvalidRequestError when the scheduler cannot take that many steps (LCM: its distillation's 50)
 */
function schedule({ model, request }: Run): Scheduler {
  const scheduler = createScheduler(request.scheduler, model.schedulerConfig, model.denoiser.spec.outputSign);
  try {
    scheduler.setTimesteps(request.steps, { imageTokens: imageTokens(model.layout, request.width, request.height) });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new InvalidRequestError(
      `steps: ${error.message} with scheduler ${request.scheduler}`,
      { field: 'steps', got: request.steps, scheduler: request.scheduler },
      { cause: error },
    );
  }
  return scheduler;
}

/**
 * 2. Seeded initial noise, scaled to the schedule's first noise level; from a picture, the
 *    picture's latent noised to the level of the first step run (and for inpainting, the mask).
 *    Guidance at or below 1 is the conditional prediction alone (see `twoPasses`).
 */
async function initialLatents(run: Run, scheduler: Scheduler): Promise<{ setup: LatentsSetup; kept?: Kept }> {
  const { model, request, n, seeds, first } = run;
  const { width, height } = request;
  const { channels, downsample, scalingFactor } = model.layout.latent;
  const perPicture = channels * (height / downsample) * (width / downsample);
  const noise = new Float32Array(n * perPicture);
  seeds.forEach((seed, k) => noise.set(gaussianNoise(seed, perPicture), k * perPicture));
  const initial = noise.slice();
  let source: LatentsSetup['source'];
  let kept: Kept | undefined;
  if (request.image !== undefined) {
    const rgba = await rgbaAt(request.image, width, height, 'image');
    // Read (and its size checked) before the encoder runs: a wrong mask costs no GPU work.
    const maskRgba = request.mask !== undefined ? await rgbaAt(request.mask, width, height, 'mask') : undefined;
    checkCancelled(run, 'before it started');
    const encoder = await model.vaeEncoder();
    const encoded = await encoder.encode(rgbaToPlanar(rgba, width, height), width, height, channels);
    if (encoded.length !== perPicture) throw new Error(`the VAE encoder gave ${encoded.length} values, expected ${perPicture}`);
    // Every picture of a batch starts from the same source, each with its own noise.
    const latent = new Float32Array(n * perPicture);
    const sourceLatent = latentFromEncoded(encoded, model.layout.latent, height / downsample, width / downsample);
    for (let k = 0; k < latent.length; k++) latent[k] = sourceLatent[k % perPicture]!;
    const { fromSource, fromNoise } = noisedSampleScales(scheduler.coefficients(first));
    for (let k = 0; k < initial.length; k++) initial[k] = fromSource * latent[k]! + fromNoise * noise[k]!;
    let mask: Float32Array<ArrayBuffer> | undefined;
    if (maskRgba !== undefined) {
      const weights = maskWeights(maskRgba, width * height);
      mask = latentMask(weights, width, height, downsample);
      kept = { rgba, weights };
    }
    source = { latent, noise, ...(mask !== undefined ? { mask } : {}) };
  } else {
    for (let k = 0; k < initial.length; k++) initial[k]! *= scheduler.initNoiseSigma;
  }
  const setup: LatentsSetup = {
    scheduler,
    guidance: twoPasses(model, request) ? Math.max(1, request.guidance) : undefined,
    latentDims: [n, channels, height / downsample, width / downsample],
    packing: packingOf(model, width, height),
    initial,
    scalingFactor,
    decoderAffine: decoderAffine(model.layout.latent),
    seeds,
    ...(source !== undefined ? { source } : {}),
  };
  return { setup, ...(kept !== undefined ? { kept } : {}) };
}

/**
 * 3. Text conditioning: [negative prompt, prompt] with guidance (the denoiser's batch order), else
 *    the prompt; and what else the denoiser is conditioned on (SDXL's pooled text and sizes).
 */
async function conditionOnText(run: Run, latents: Latents, packing: Packing): Promise<Conditioning> {
  const { model, request, n } = run;
  const { denoiser } = model;
  await reported(run, 'encoding', 0);
  const guided = twoPasses(model, request);
  const prompts = guided ? [request.negativePrompt, request.prompt] : [request.prompt];
  const tokenized = prompts.map((prompt) => model.tokenizer.encodeCounted(prompt));
  const droppedTokens = { prompt: tokenized.at(-1)!.dropped, negativePrompt: guided ? tokenized[0]!.dropped : 0 };
  const texts = await model.text.encode(tokenized);
  // One per batch entry: [negative × n, prompt × n] (the guidance kernel's two halves).
  const encodings = texts.flatMap((encoding) => Array.from({ length: n }, () => encoding));
  let context: Tensor;
  try {
    const joined = latents.conditioning(encodings.map((encoding) => encoding.hidden));
    context = denoiser.prepareContext(joined);
    if (context !== joined) joined.dispose();
  } finally {
    // Safe right after the copy is queued: ONNX Runtime reuses a disposed output's buffer
    // only in work it submits later, which the GPU queue orders after the copy.
    for (const { hidden } of texts) hidden.dispose();
  }
  let feeds: Record<string, Tensor>;
  try {
    const { height: rows, width: columns, patch } = packing;
    feeds = denoiser.conditionFeeds({
      pooled: encodings.map((e) => e.pooled),
      width: request.width,
      height: request.height,
      guidance: request.guidance,
      batch: latents.batch,
      patches: { rows: rows / Math.max(1, patch), columns: columns / Math.max(1, patch) },
    });
    await latents.settle();
  } catch (error) {
    context.dispose();
    throw error;
  }
  return { context, feeds, droppedTokens, encodedAt: performance.now() };
}

/**
 * 4. Denoising: each step predicts for the whole batch, then guidance and the scheduler update
 *    the latent in place. Nothing is read back. At most `stepsInFlight` steps are queued on the
 *    GPU; a step is reported once its work is done, and a cancel stops the loop before it queues
 *    another.
 */
async function denoise(run: Run, latents: Latents, scheduler: Scheduler, { context, feeds }: Conditioning): Promise<void> {
  const { model, request, first, options } = run;
  const { steps, width, height } = request;
  const pacer = new StepPacer(() => latents.settle(), options.stepsInFlight);
  const map = model.layout.latent;
  const previews = options.previews === true && map.rgbFactors !== undefined && map.rgbBias !== undefined && options.onProgress !== undefined;
  const reportSteps = async (finished: readonly FinishedStep[]): Promise<void> => {
    for (const { step: i, stepMs } of finished) {
      checkCancelled(run, `after ${i - first + 1} of ${steps - first} steps`);
      const progress: Progress = { phase: 'denoising', step: i - first + 1, steps: steps - first, elapsedMs: performance.now() - run.started, stepMs };
      if (previews && i < steps - 1) {
        // The estimate read is this step's: with previews, the loop drains after each step.
        const pixels = await latents.preview({ rgbFactors: map.rgbFactors!, rgbBias: map.rgbBias! });
        const { downsample } = map;
        await options.onProgress!({ ...progress, preview: { width: width / downsample, height: height / downsample, pixels, kind: 'latent' } });
      } else {
        await options.onProgress?.(progress);
      }
    }
  };
  for (let i = first; i < steps; i++) {
    checkCancelled(run, `after ${i - first} of ${steps - first} steps`);
    const prediction = await model.denoiser.predict(latents.modelInput(i), scheduler.coefficients(i).timestep, context, latents.batch, feeds);
    try {
      latents.step(prediction, i);
    } finally {
      prediction.dispose();
    }
    // A preview must read this step's estimate before the next step overwrites it.
    await reportSteps(previews && i < steps - 1 ? [...(await pacer.submitted(i)), ...(await pacer.drain())] : await pacer.submitted(i));
  }
  await reportSteps(await pacer.drain());
}

/**
 * 5. Decoding, picture by picture: latent / scaling factor through the VAE, to RGBA, read back
 *    once each; for inpainting, the kept pixels are the picture's own, not its trip through the VAE.
 */
async function decode(run: Run, latents: Latents, { droppedTokens, encodedAt }: Conditioning, kept: Kept | undefined): Promise<GeneratedImage[]> {
  const { model, request, n, seeds, started, first, options } = run;
  const { steps, width, height } = request;
  const denoisedAt = performance.now();
  const images: GeneratedImage[] = [];
  for (let k = 0; k < n; k++) {
    checkCancelled(run, 'before decoding');
    await options.onProgress?.({ phase: 'decoding', step: 0, steps: steps - first, elapsedMs: performance.now() - started, ...(n > 1 ? { index: k } : {}) });
    const input = latents.decoderInput(k);
    let decoded: Tensor;
    try {
      decoded = await model.vaeDecoder.decode(input);
    } finally {
      input.dispose();
    }
    let pixels: Uint8ClampedArray<ArrayBuffer>;
    try {
      const [, planes, decodedHeight, decodedWidth] = decoded.dims;
      if (planes !== 3 || decodedHeight !== height || decodedWidth !== width) {
        throw new Error(`the VAE decoder gave [${decoded.dims.join(', ')}], expected [1, 3, ${height}, ${width}]`);
      }
      pixels = await latents.pixels(decoded, width, height);
    } finally {
      decoded.dispose();
    }
    if (kept !== undefined) pixels = compositeMasked(pixels, kept.rgba, kept.weights);
    const finished = performance.now();
    images.push({
      width,
      height,
      pixels,
      request: asRun({ ...request, seed: seeds[k]! }),
      droppedTokens,
      timings: { encodeMs: encodedAt - started, denoiseMs: denoisedAt - encodedAt, decodeMs: finished - denoisedAt, totalMs: finished - started },
    });
  }
  return images;
}

/** The request without the pictures it started from (they need not travel back with the result). */
function asRun(request: ResolvedRequest): RequestAsRun {
  const { image: _image, mask: _mask, n: _n, ...rest } = request;
  return rest;
}

/**
 * Text to image: the denoising loop, written out.
 */
import type { GeneratedImage, Phase, Progress, RequestAsRun } from '../api.ts';
import { CancelledError, InvalidRequestError } from '../errors.ts';
import type { Tensor } from '../ort/ort.ts';
import { createScheduler } from '../schedulers/index.ts';
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

async function generateBatch(model: DiffusionModel, request: ResolvedRequest, n: number, options: RunOptions): Promise<GeneratedImage[]> {
  const started = performance.now();
  const { steps, width, height } = request;
  const seeds = Array.from({ length: n }, (_, k) => pictureSeed(request.seed, k));
  // From a picture, only the last max(1, floor(steps * strength)) steps run (and are reported).
  const first = request.strength !== undefined ? steps - Math.max(1, Math.floor(steps * request.strength)) : 0;
  const report = (phase: Phase, step: number) => options.onProgress?.({ phase, step, steps: steps - first, elapsedMs: performance.now() - started });
  const checkCancelled = (when: string) => {
    if (options.signal?.aborted === true) throw new CancelledError(`Generation cancelled ${when}`, { when });
  };

  // 1. The schedule. Guidance at or below 1 is the conditional prediction alone: one pass per
  //    step; a UNet built for a batch of 2 always gets both passes (at scale 1 the result is the
  //    conditional one), and a UNet that embeds guidance (LCM) gets it as an input, in one pass.
  const scheduler = createScheduler(request.scheduler, model.schedulerConfig, model.denoiser.spec.outputSign);
  try {
    scheduler.setTimesteps(steps, { imageTokens: imageTokens(model.layout, width, height) });
  } catch (error) {
    // A scheduler may take fewer steps than a request may ask for (LCM: its distillation's 50).
    if (!(error instanceof RangeError)) throw error;
    throw new InvalidRequestError(
      `steps: ${error.message} with scheduler ${request.scheduler}`,
      { field: 'steps', got: steps, scheduler: request.scheduler },
      { cause: error },
    );
  }
  const { denoiser } = model;
  const guided = twoPasses(model, request);
  const guidance = Math.max(1, request.guidance);

  // 2. Seeded initial noise, scaled to the schedule's first noise level; from a picture, the
  //    picture's latent noised to the level of the first step run (and for inpainting, the mask).
  const { channels, downsample, scalingFactor } = model.layout.latent;
  const latentDims = [n, channels, height / downsample, width / downsample];
  const perPicture = channels * (height / downsample) * (width / downsample);
  const noise = new Float32Array(n * perPicture);
  seeds.forEach((seed, k) => noise.set(gaussianNoise(seed, perPicture), k * perPicture));
  const initial = noise.slice();
  let source: LatentsSetup['source'];
  let keep: { rgba: Uint8ClampedArray; weights: Float32Array } | undefined;
  if (request.image !== undefined) {
    const rgba = await rgbaAt(request.image, width, height, 'image');
    // Read (and its size checked) before the encoder runs: a wrong mask costs no GPU work.
    const maskRgba = request.mask !== undefined ? await rgbaAt(request.mask, width, height, 'mask') : undefined;
    checkCancelled('before it started');
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
      keep = { rgba, weights };
    }
    source = { latent, noise, ...(mask !== undefined ? { mask } : {}) };
  } else {
    for (let k = 0; k < initial.length; k++) initial[k]! *= scheduler.initNoiseSigma;
  }

  checkCancelled('before it started');
  const setup: LatentsSetup = {
    scheduler,
    guidance: guided ? guidance : undefined,
    latentDims,
    packing: packingOf(model, width, height),
    initial,
    scalingFactor,
    decoderAffine: decoderAffine(model.layout.latent),
    seeds,
    ...(source !== undefined ? { source } : {}),
  };
  const latents: Latents = model.backend === 'webgpu' ? new GpuLatents(model.device!, setup) : new CpuLatents(setup);
  let context: Tensor | undefined;
  let feeds: Record<string, Tensor> = {};
  try {
    // 3. Text conditioning: [negative prompt, prompt] with guidance (the UNet's batch order), else
    //    the prompt; and what else the UNet is conditioned on (SDXL's pooled text and sizes).
    await report('encoding', 0);
    const prompts = guided ? [request.negativePrompt, request.prompt] : [request.prompt];
    const tokenized = prompts.map((prompt) => model.tokenizer.encodeCounted(prompt));
    const droppedTokens = { prompt: tokenized.at(-1)!.dropped, negativePrompt: guided ? tokenized[0]!.dropped : 0 };
    const texts = await model.text.encode(tokenized);
    // One per UNet batch entry: [negative × n, prompt × n] (the guidance kernel's two halves).
    const encodings = texts.flatMap((encoding) => Array.from({ length: n }, () => encoding));
    try {
      const joined = latents.conditioning(encodings.map((encoding) => encoding.hidden));
      context = denoiser.prepareContext(joined);
      if (context !== joined) joined.dispose();
    } finally {
      // Safe right after the copy is queued: ONNX Runtime reuses a disposed output's buffer
      // only in work it submits later, which the GPU queue orders after the copy.
      for (const { hidden } of texts) hidden.dispose();
    }
    const { height: rows, width: columns, patch } = setup.packing;
    feeds = denoiser.conditionFeeds({
      pooled: encodings.map((e) => e.pooled),
      width,
      height,
      guidance: request.guidance,
      batch: latents.batch,
      patches: { rows: rows / Math.max(1, patch), columns: columns / Math.max(1, patch) },
    });
    await latents.settle();
    const encoded = performance.now();

    // 4. Denoising: each step predicts the noise for the whole batch, then guidance and the
    //    scheduler update the latent in place. Nothing is read back. At most `stepsInFlight`
    //    steps are queued on the GPU; a step is reported once its work is done, and a cancel
    //    stops the loop before it queues another.
    const pacer = new StepPacer(() => latents.settle(), options.stepsInFlight);
    const map = model.layout.latent;
    const previews = options.previews === true && map.rgbFactors !== undefined && map.rgbBias !== undefined && options.onProgress !== undefined;
    const reportSteps = async (finished: readonly FinishedStep[]): Promise<void> => {
      for (const { step: i, stepMs } of finished) {
        checkCancelled(`after ${i - first + 1} of ${steps - first} steps`);
        const progress: Progress = { phase: 'denoising', step: i - first + 1, steps: steps - first, elapsedMs: performance.now() - started, stepMs };
        if (previews && i < steps - 1) {
          // The estimate read is this step's: with previews, the loop drains after each step.
          const pixels = await latents.preview({ rgbFactors: map.rgbFactors!, rgbBias: map.rgbBias! });
          await options.onProgress!({ ...progress, preview: { width: width / downsample, height: height / downsample, pixels, kind: 'latent' } });
        } else {
          await options.onProgress?.(progress);
        }
      }
    };
    for (let i = first; i < steps; i++) {
      checkCancelled(`after ${i - first} of ${steps - first} steps`);
      const prediction = await denoiser.predict(latents.modelInput(i), scheduler.coefficients(i).timestep, context, latents.batch, feeds);
      try {
        latents.step(prediction, i);
      } finally {
        prediction.dispose();
      }
      // A preview must read this step's estimate before the next step overwrites it.
      await reportSteps(previews && i < steps - 1 ? [...(await pacer.submitted(i)), ...(await pacer.drain())] : await pacer.submitted(i));
    }
    await reportSteps(await pacer.drain());
    const denoised = performance.now();

    // 5. Decoding, picture by picture: latent / scaling factor through the VAE, to RGBA, read
    //    back once each.
    const images: GeneratedImage[] = [];
    for (let k = 0; k < n; k++) {
      checkCancelled('before decoding');
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
      // Inpainting: the kept pixels are the picture's own, not its trip through the VAE.
      if (keep !== undefined) pixels = compositeMasked(pixels, keep.rgba, keep.weights);
      const finished = performance.now();
      images.push({
        width,
        height,
        pixels,
        request: asRun({ ...request, seed: seeds[k]! }),
        droppedTokens,
        timings: {
          encodeMs: encoded - started,
          denoiseMs: denoised - encoded,
          decodeMs: finished - denoised,
          totalMs: finished - started,
        },
      });
    }
    return images;
  } finally {
    // A cancel or an error leaves work queued: the engine is busy until it is done, so that the
    // next request's work does not queue behind it.
    await latents.settle();
    context?.dispose();
    for (const tensor of Object.values(feeds)) tensor.dispose();
    latents.dispose();
  }
}

/** The request without the pictures it started from (they need not travel back with the result). */
function asRun(request: ResolvedRequest): RequestAsRun {
  const { image: _image, mask: _mask, n: _n, ...rest } = request;
  return rest;
}

/**
 * Where the latents of one generation live and how a step is applied to them: on the GPU
 * (gpu-latents.ts: our kernels on ONNX Runtime's buffers, nothing read back until the picture)
 * or on the CPU (cpu-latents.ts: the scheduler's own `step`, for the 'wasm' backend and as the
 * GPU loop's reference). txt2img.ts writes the loop once against this interface, and disposes
 * the tensors ONNX Runtime hands out: the methods here only read them.
 */
import type { Tensor } from '../ort/ort.ts';
import type { PreviewMap } from '../gpu/latent-preview.ts';
import type { Packing } from '../gpu/patch-index.ts';
import type { LatentAffine } from '../gpu/latent-affine.ts';
import type { Scheduler } from '../schedulers/scheduler.ts';

export interface LatentsSetup {
  /** Schedule already set (`setTimesteps`). */
  readonly scheduler: Scheduler;
  /** Classifier-free guidance scale; `undefined` when guidance is off (one UNet pass per step). */
  readonly guidance: number | undefined;
  /** [pictures, channels, height / downsample, width / downsample]: a batch's latents are one vector. */
  readonly latentDims: readonly number[];
  /**
   * The layout the denoiser takes and gives its latents in (patch 0: as latentDims; patch p:
   * [batch, (h/p)(w/p), C p p]); the latents themselves stay [pictures, C, h, w].
   */
  readonly packing: Packing;
  /** Initial latents, already multiplied by the scheduler's initNoiseSigma. */
  readonly initial: Float32Array<ArrayBuffer>;
  /** The VAE's scaling factor: latents are divided by it before decoding. */
  readonly scalingFactor: number;
  /** Then this per-channel map, where the latent space has one (a shift factor, FLUX.2's batch-norm statistics). */
  readonly decoderAffine: LatentAffine | undefined;
  /**
   * One seed per picture: the noise a step adds is `batchStepNoise(seeds, i, perPicture)`
   * (prng.ts), each picture's own.
   */
  readonly seeds: readonly number[];
  /**
   * Image-to-image and inpainting: the source picture's latent (times the scaling factor),
   * which also stands as the "previous denoised estimate" of the first step run (a multistep
   * scheduler starting mid-schedule has no earlier step), and the noise it was started with.
   * With a mask (one weight per latent cell, 1 repaints), every step puts the kept region back
   * at the next step's noise level, and the last step puts back the source itself.
   */
  readonly source?: { readonly latent: Float32Array<ArrayBuffer>; readonly noise: Float32Array<ArrayBuffer>; readonly mask?: Float32Array<ArrayBuffer> };
}

export interface Latents {
  /**
   * UNet batch size: the pictures, twice with guidance ([uncond × pictures, cond × pictures]:
   * the guidance kernel reads the two halves).
   */
  readonly batch: number;
  /**
   * Joins one text encoding per UNet batch entry, in batch order, into the UNet's
   * [batch, length, hidden] conditioning.
   */
  conditioning(hidden: readonly Tensor[]): Tensor;
  /** The denoiser's latent input for step `i`: the scaled latent, once per batch entry, in its layout. */
  modelInput(i: number): Tensor;
  /** Guidance and scheduler step `i` applied to the latent. */
  step(prediction: Tensor, i: number): void;
  /** Picture `index`'s final latent divided by the scaling factor (and mapped by `decoderAffine`), [1, C, h, w], after the last step; the caller disposes it. */
  decoderInput(index: number): Tensor;
  /** The decoded picture as RGBA8. */
  pixels(decoded: Tensor, width: number, height: number): Promise<Uint8ClampedArray<ArrayBuffer>>;
  /**
   * The first picture's cheap preview after step `i` (not the last): its denoised estimate
   * through the latent-to-RGB `map`, one pixel per latent cell. Reads back only those pixels.
   */
  preview(map: PreviewMap): Promise<Uint8ClampedArray<ArrayBuffer>>;
  /** Resolves once the work queued so far has finished (for honest phase timings). */
  settle(): Promise<void>;
  /** Frees what this generation holds; safe to call at any point. */
  dispose(): void;
}

/** The dims of the denoiser's latent input or output for a batch of `batch` (`LatentsSetup.packing`). */
export function modelDims(setup: Pick<LatentsSetup, 'latentDims' | 'packing'>, batch: number): number[] {
  const [, channels = 0, h = 0, w = 0] = setup.latentDims;
  const p = setup.packing.patch;
  return p !== 0 ? [batch, (h / p) * (w / p), channels * p * p] : [batch, channels, h, w];
}

/**
 * What a model's denoiser is, as its description declares it: a UNet over the latent, or a
 * diffusion transformer over latent patches (FLUX, Z-Image); what it predicts; what timestep it
 * takes; how the latent is laid out for it; and how guidance reaches it. The pipeline reads this
 * and nothing else to run either kind through one loop.
 */

export type DenoiserKind = 'unet' | 'transformer';
/** epsilon: the noise (SD); v_prediction: alpha * eps - sigma * x0 (SD 2.x 768); flow: the velocity noise - x0 (SD3, FLUX, Z-Image). */
export type Prediction = 'epsilon' | 'v_prediction' | 'flow';
/**
 * What the `timestep` input carries. index: the training timestep (SD's 0..999); for flow
 * models, whose schedule is a time t in [0, 1] from noise (1) to picture (0): sigma (t, the
 * FLUX ONNX exports and ours), sigma_x1000 (1000 t, diffusers' scheduler timesteps),
 * one_minus_sigma (1 - t: Z-Image's transformer counts time from noise towards the picture).
 */
export type TimestepInput = 'index' | 'sigma' | 'sigma_x1000' | 'one_minus_sigma';
/**
 * none: the latent as [batch, C, h, w]; patches: [batch, (h/p)(w/p), C p p], FLUX's packing
 * (channel-major inside a patch; patch 1 is one token per latent cell, [batch, h w, C]).
 */
export type Packing = 'none' | 'patches';
/** cfg: two passes (negative, prompt) mixed by the scale; embedded: the scale is an input (FLUX-dev, LCM); none: distilled, one pass. */
export type GuidanceMode = 'cfg' | 'embedded' | 'none';

export interface DenoiserSpec {
  readonly kind: DenoiserKind;
  readonly prediction: Prediction;
  readonly timestep: TimestepInput;
  /** Side of a latent patch: 1 for a UNet, 2 for FLUX and Z-Image. */
  readonly patchSize: number;
  readonly packing: Packing;
  readonly guidance: GuidanceMode;
  /**
   * What the output is multiplied by to be the declared prediction: 1, or -1 for Z-Image's
   * transformer, whose output diffusers' pipeline negates before the scheduler step (it gives
   * x0 - noise, the velocity's negative).
   */
  readonly outputSign: 1 | -1;
}

export const DENOISER_KINDS: readonly DenoiserKind[] = ['unet', 'transformer'];
export const PREDICTIONS: readonly Prediction[] = ['epsilon', 'v_prediction', 'flow'];
export const TIMESTEP_INPUTS: readonly TimestepInput[] = ['index', 'sigma', 'sigma_x1000', 'one_minus_sigma'];
export const PACKINGS: readonly Packing[] = ['none', 'patches'];
export const GUIDANCE_MODES: readonly GuidanceMode[] = ['cfg', 'embedded', 'none'];

/** Stable Diffusion's: what a model that declares no denoiser has. */
export const SD_UNET: DenoiserSpec = { kind: 'unet', prediction: 'epsilon', timestep: 'index', patchSize: 1, packing: 'none', guidance: 'cfg', outputSign: 1 };

/** The value the denoiser's `timestep` input gets for the scheduler's timestep of a step. */
export function timestepInput(spec: DenoiserSpec, scheduled: number): number {
  switch (spec.timestep) {
    case 'sigma_x1000':
      return 1000 * scheduled;
    case 'one_minus_sigma':
      return 1 - scheduled;
    default:
      return scheduled;
  }
}

/**
 * The flow-matching schedule (rectified flow, the convention of SD3, FLUX and Z-Image):
 *
 *   x_t = (1 - t) * x0 + t * noise,   t in [0, 1],   the model predicts v = noise - x0
 *
 * so that x0 = x_t - t * v. A schedule of N steps is N times from linspace(1, 0, N + 1) (the
 * last, 0, dropped), each moved by the time shift of Esser et al. 2024 (SD3, eq. 23)
 *
 *   t' = shift * t / (1 + (shift - 1) * t)
 *
 * which spends more steps at high noise for larger images; FLUX derives the shift from the
 * image's token count (`use_dynamic_shifting`: shift = exp(mu), mu linear from base_shift at
 * base_image_seq_len tokens to max_shift at max_image_seq_len), as diffusers'
 * FlowMatchEulerDiscreteScheduler and FluxPipeline do. A final 0 is appended: `sigmas` has one
 * more entry than `timesteps`. The timestep a step feeds the model is t itself; the denoiser
 * converts it to what its export takes (DenoiserSpec.timestep).
 */
import { ManifestError } from '../errors.ts';
import { checkSteps } from './schedule.ts';
import type { FlowSchedulerConfig } from './scheduler.ts';

/** The most steps a flow schedule takes (its times are continuous; this only bounds requests). */
export const MAX_FLOW_STEPS = 1000;

/** SD3's time shift of `t` by `shift` (1 leaves it as it is). */
export function shiftTime(t: number, shift: number): number {
  return (shift * t) / (1 + (shift - 1) * t);
}

/** FLUX's resolution-dependent shift exp(mu) for an image of `imageTokens` latent patches. */
export function dynamicShift(config: FlowSchedulerConfig, imageTokens: number): number {
  const { base_image_seq_len: baseLen = 256, max_image_seq_len: maxLen = 4096, base_shift: base = 0.5, max_shift: max = 1.15 } = config;
  const slope = (max - base) / (maxLen - baseLen);
  return Math.exp(imageTokens * slope + base - slope * baseLen);
}

/**
 * The shift a schedule uses: the config's `shift`, or with dynamic shifting the image's.
 * @throws ManifestError when dynamic shifting is asked for and the image's token count is unknown
 */
export function scheduleShift(config: FlowSchedulerConfig, imageTokens: number | undefined): number {
  if (config.use_dynamic_shifting !== true) return config.shift ?? 1;
  if (imageTokens === undefined) {
    throw new ManifestError('use_dynamic_shifting needs the image token count (setTimesteps(steps, { imageTokens }))', { field: 'use_dynamic_shifting' });
  }
  return dynamicShift(config, imageTokens);
}

/**
 * The times t_0 = 1 > … > t_{N-1} and a final 0.
 * @throws RangeError when steps is not an integer in 1..MAX_FLOW_STEPS
 */
export function flowSigmas(steps: number, shift: number): number[] {
  checkSteps(steps, MAX_FLOW_STEPS);
  const sigmas: number[] = [];
  for (let i = 0; i < steps; i++) sigmas.push(shiftTime(1 - i / steps, shift));
  sigmas.push(0);
  return sigmas;
}

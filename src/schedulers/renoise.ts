/**
 * What the few-step samplers of distilled models share (LCM, Turbo): predict the clean latent,
 * then noise it afresh to the next timestep, in the variance-preserving form x = sqrt(a) x0 +
 * sqrt(1 - a) eps of DDPM (a = alphas_cumprod[t]):
 *
 *   x0         = (x - sqrt(1 - a) * eps) / sqrt(a)
 *   denoised   = c_skip * x + c_out * x0
 *   prevSample = sqrt(a_next) * denoised + sqrt(1 - a_next) * z      (z fresh standard noise)
 *
 * After the last step prevSample is the denoised estimate itself. c_skip = 0, c_out = 1 is the
 * plain x0 estimate (Turbo); LCM passes its consistency boundary conditions.
 */
import type { StepCoefficients } from './scheduler.ts';

export interface RenoiseStep {
  readonly timestep: number;
  /** alphas_cumprod at `timestep`. */
  readonly alphaCumprod: number;
  /** alphas_cumprod at the next timestep; undefined on the last step. */
  readonly nextAlphaCumprod: number | undefined;
  readonly cSkip: number;
  readonly cOut: number;
}

export function renoiseCoefficients(s: RenoiseStep): StepCoefficients {
  const sqrtA = Math.sqrt(s.alphaCumprod);
  const denoisedFromSample = s.cSkip + s.cOut / sqrtA;
  const denoisedFromOutput = (-s.cOut * Math.sqrt(1 - s.alphaCumprod)) / sqrtA;
  const aNext = s.nextAlphaCumprod ?? 1;
  const sqrtANext = Math.sqrt(aNext);
  return {
    inputScale: 1,
    timestep: s.timestep,
    denoisedFromSample,
    denoisedFromOutput,
    prevFromSample: sqrtANext * denoisedFromSample,
    prevFromOutput: sqrtANext * denoisedFromOutput,
    prevFromPreviousDenoised: 0,
    prevFromNoise: Math.sqrt(1 - aNext),
  };
}

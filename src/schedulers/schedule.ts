/**
 * The noise schedule shared by every scheduler: betas, cumulative alphas, timestep placement.
 *
 * Follows diffusers' `scheduler_config.json` semantics so a model's own config file can be used
 * as is. Everything is computed in float64: alphas_cumprod is a product of 1000 factors close
 * to 1, and float32 would drift visibly near t = 999.
 */
import { ManifestError } from '../errors.ts';
import type { SchedulerConfig } from './scheduler.ts';

/** `n` evenly spaced values from `start` to `stop`, both included (numpy's `linspace`). */
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  // numpy pins the last value so that rounding in i * step cannot move it off `stop`.
  out[n - 1] = stop;
  return out;
}

/**
 * Rounds half to even, as numpy's `round` does; diffusers' timesteps come from numpy, and
 * Math.round (half up) would give e.g. 813 instead of 812 for 16 trailing steps.
 */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The per-timestep betas of the training noise schedule.
 * @throws ManifestError when `beta_schedule` is not 'scaled_linear' or 'linear'
 */
export function betas(config: SchedulerConfig): Float64Array {
  const n = config.num_train_timesteps;
  switch (config.beta_schedule) {
    case 'scaled_linear':
      // Stable Diffusion's schedule: linear in sqrt(beta), not in beta.
      return linspace(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => b * b);
    case 'linear':
      return linspace(config.beta_start, config.beta_end, n);
    default:
      throw new ManifestError(`Unsupported beta_schedule "${String(config.beta_schedule)}"`, {
        betaSchedule: config.beta_schedule,
        allowed: ['scaled_linear', 'linear'],
      });
  }
}

/**
 * alphas_cumprod[t] = prod_{s <= t} (1 - beta_s), the signal fraction left at timestep t.
 * @throws ManifestError when `beta_schedule` is not supported
 */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const out = betas(config);
  let product = 1;
  for (let t = 0; t < out.length; t++) {
    product *= 1 - (out[t] as number);
    out[t] = product;
  }
  return out;
}

/**
 * Checks a step count against a schedule's largest.
 * @throws RangeError when `steps` is not an integer in 1..max
 */
export function checkSteps(steps: number, max: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw new RangeError(`steps must be an integer from 1 to ${max}, got ${steps}`);
  }
}

/**
 * The training timesteps visited by a `steps`-step sampler, highest first, placed as diffusers'
 * `timestep_spacing` says:
 *
 * - trailing: round(N - i * N / steps) - 1, which always starts at N - 1 (best for few steps);
 * - leading:  i * floor(N / steps) + steps_offset, reversed (Stable Diffusion 1.x);
 * - linspace: round(linspace(0, N - 1, steps)), reversed.
 *
 * @throws RangeError when `steps` is not an integer in 1..num_train_timesteps
 * @throws ManifestError when `timestep_spacing` is not one of the three above
 */
export function timestepSchedule(config: SchedulerConfig, steps: number): number[] {
  const n = config.num_train_timesteps;
  checkSteps(steps, n);
  const indices = Array.from({ length: steps }, (_, i) => i);
  switch (config.timestep_spacing) {
    case 'trailing':
      return indices.map((i) => roundHalfEven(n - (i * n) / steps) - 1);
    case 'leading': {
      const ratio = Math.floor(n / steps);
      const offset = config.steps_offset ?? 0;
      return indices.map((i) => (steps - 1 - i) * ratio + offset);
    }
    case 'linspace':
      return Array.from(linspace(0, n - 1, steps), roundHalfEven).reverse();
    default:
      throw new ManifestError(`Unsupported timestep_spacing "${String(config.timestep_spacing)}"`, {
        timestepSpacing: config.timestep_spacing,
        allowed: ['trailing', 'leading', 'linspace'],
      });
  }
}

/**
 * sigma_t = sqrt((1 - abar_t) / abar_t) of every training timestep 0..N-1: the noise level of
 * the parameterisation x = x0 + sigma * eps (Karras et al. 2022) that the sigma samplers use.
 * @throws ManifestError when `beta_schedule` is not supported
 */
export function trainingSigmas(config: SchedulerConfig): Float64Array {
  return alphasCumprod(config).map((a) => Math.sqrt((1 - a) / a));
}

/** sigma at a possibly fractional timestep, linear between training timesteps (numpy's interp). */
export function sigmaAtTimestep(trainSigmas: Float64Array, t: number): number {
  const last = trainSigmas.length - 1;
  const clamped = Math.min(Math.max(t, 0), last);
  const lo = Math.floor(clamped);
  const hi = Math.min(lo + 1, last);
  const w = clamped - lo;
  return (1 - w) * (trainSigmas[lo] as number) + w * (trainSigmas[hi] as number);
}

/**
 * The fractional timestep whose noise level is `sigma`, interpolating log sigma between
 * training timesteps (sigma grows with t; log sigma is close to linear in t, sigma is not).
 * Clamped to 0..N-1.
 */
export function timestepForSigma(trainSigmas: Float64Array, sigma: number): number {
  const last = trainSigmas.length - 1;
  const logSigma = Math.log(sigma);
  if (logSigma <= Math.log(trainSigmas[0] as number)) return 0;
  if (logSigma >= Math.log(trainSigmas[last] as number)) return last;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (Math.log(trainSigmas[mid] as number) <= logSigma) lo = mid;
    else hi = mid;
  }
  const low = Math.log(trainSigmas[lo] as number);
  const high = Math.log(trainSigmas[hi] as number);
  return lo + (logSigma - low) / (high - low);
}

/**
 * Karras et al. 2022, eq. 5: `steps` noise levels from sigmaMax down to sigmaMin, evenly spaced
 * in sigma^(1/rho), so that the steps crowd towards the low-noise end where detail forms.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): number[] {
  const maxRoot = sigmaMax ** (1 / rho);
  const minRoot = sigmaMin ** (1 / rho);
  return Array.from({ length: steps }, (_, i) => {
    const ramp = steps === 1 ? 0 : i / (steps - 1);
    return (maxRoot + ramp * (minRoot - maxRoot)) ** rho;
  });
}

/** The timesteps of a sigma sampler's schedule and their sigmas, then a final sigma of 0. */
export interface SigmaSchedule {
  readonly timesteps: number[];
  /** One more entry than `timesteps`: the last is 0, where the final step lands. */
  readonly sigmas: number[];
  /** sqrt(sigma_max^2 + 1): the spread of x at the first step for data of unit variance. */
  readonly initNoiseSigma: number;
}

/**
 * The schedule of the sigma samplers (Euler, Euler ancestral, DPM++ 2M), `trainSigmas` being
 * `trainingSigmas(config)`: the config's timestep placement and the sigmas of those timesteps, or with `karras` Karras sigmas (rho 7) between
 * the training schedule's smallest and largest sigma and the fractional timesteps they sit at.
 * @throws RangeError when `steps` is not an integer in 1..num_train_timesteps
 * @throws ManifestError when `timestep_spacing` is not supported
 */
export function sigmaSchedule(config: SchedulerConfig, trainSigmas: Float64Array, steps: number, karras = false): SigmaSchedule {
  let timesteps: number[];
  let sigmas: number[];
  if (karras) {
    checkSteps(steps, config.num_train_timesteps);
    const sigmaMin = trainSigmas[0] as number;
    const sigmaMax = trainSigmas[trainSigmas.length - 1] as number;
    sigmas = karrasSigmas(sigmaMin, sigmaMax, steps);
    timesteps = sigmas.map((sigma) => timestepForSigma(trainSigmas, sigma));
  } else {
    timesteps = timestepSchedule(config, steps);
    sigmas = timesteps.map((t) => sigmaAtTimestep(trainSigmas, t));
  }
  const sigmaMax = Math.max(...sigmas);
  return { timesteps, sigmas: [...sigmas, 0], initNoiseSigma: Math.sqrt(sigmaMax * sigmaMax + 1) };
}

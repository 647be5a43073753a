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
  if (!Number.isInteger(steps) || steps < 1 || steps > n) {
    throw new RangeError(`steps must be an integer from 1 to ${n}, got ${steps}`);
  }
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

/**
 * LCM, the sampler of latent consistency models: Luo et al. 2023, "Latent Consistency Models",
 * Algorithm 1 (multistep consistency sampling), epsilon prediction.
 *
 * Timesteps: the model was distilled on a skipping schedule of `original_inference_steps`
 * (default 50) evenly spaced timesteps k * (N / 50) - 1, k = 1..50, that is 19, 39, …, 999; a
 * run of `steps` steps takes every (50 / steps)-th of them from the top (floor of evenly spaced
 * positions), so 4 steps visit 999, 759, 499, 259.
 *
 * Each step predicts x0, applies the consistency boundary conditions of Song et al. 2023
 * (eq. 7), with sigma_data = 0.5 and the timestep scaled by `timestep_scaling` (default 10),
 *
 *   c_skip = sigma_data^2 / ((s t)^2 + sigma_data^2),   c_out = s t / sqrt((s t)^2 + sigma_data^2)
 *
 * and noises the result afresh to the next timestep (renoise.ts).
 */
import { LinearScheduler } from './linear-step.ts';
import { renoiseCoefficients } from './renoise.ts';
import { alphasCumprod, checkSteps } from './schedule.ts';
import type { SchedulerConfig, StepCoefficients } from './scheduler.ts';

const SIGMA_DATA = 0.5;

/** The LCM sampler; build it with `createScheduler('lcm', config)`. */
export class LcmScheduler extends LinearScheduler {
  readonly name = 'lcm';
  private readonly alphasCumprod: Float64Array;
  private readonly originalSteps: number;
  private readonly timestepScaling: number;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig) {
    super();
    this.alphasCumprod = alphasCumprod(config);
    this.originalSteps = config.original_inference_steps ?? 50;
    this.timestepScaling = config.timestep_scaling ?? 10;
  }

  /** @throws RangeError when steps is not an integer from 1 to original_inference_steps (50) */
  setTimesteps(steps: number): void {
    checkSteps(steps, this.originalSteps);
    const n = this.alphasCumprod.length;
    const stride = Math.floor(n / this.originalSteps);
    // The distillation schedule, highest first: 999, 979, … for 50 of 1000.
    const original = Array.from({ length: this.originalSteps }, (_, k) => (this.originalSteps - k) * stride - 1);
    this.timesteps = Array.from({ length: steps }, (_, i) => original[Math.floor((i * this.originalSteps) / steps)] as number);
  }

  protected stepCoefficients(i: number): StepCoefficients {
    const t = this.timesteps[i] as number;
    const next = this.timesteps[i + 1];
    const scaled = t * this.timestepScaling;
    const spread = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
    return renoiseCoefficients({
      timestep: t,
      alphaCumprod: this.alphasCumprod[t] as number,
      nextAlphaCumprod: next === undefined ? undefined : (this.alphasCumprod[next] as number),
      cSkip: (SIGMA_DATA * SIGMA_DATA) / spread,
      cOut: scaled / Math.sqrt(spread),
    });
  }
}

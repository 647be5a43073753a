/**
 * DDIM, deterministic (eta = 0), epsilon prediction: Song et al. 2020, eq. 12.
 *
 *   denoised   = (x - sqrt(1 - a) * eps) / sqrt(a)
 *   prevSample = sqrt(a_prev) * denoised + sqrt(1 - a_prev) * eps
 *
 * with a = alphas_cumprod[t]. a_prev belongs to the next timestep of the schedule; after the
 * last one it is alphas_cumprod[0], or 1 with `set_alpha_to_one`. diffusers takes
 * t - N / steps instead, which is the same timestep whenever N divides by steps; the schedule's
 * own next timestep is used here so that every step lands exactly where the next one starts.
 */
import { LinearScheduler } from './linear-step.ts';
import { alphasCumprod, timestepSchedule } from './schedule.ts';
import type { SchedulerConfig, StepCoefficients } from './scheduler.ts';

/** The DDIM sampler; build it with `createScheduler('ddim', config)`. */
export class DdimScheduler extends LinearScheduler {
  readonly name = 'ddim';
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly config: SchedulerConfig;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig) {
    super();
    this.config = config;
    this.alphasCumprod = alphasCumprod(config);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : (this.alphasCumprod[0] as number);
  }

  /**
   * @throws RangeError when steps is not an integer in 1..num_train_timesteps
   * @throws ManifestError when the config's timestep_spacing is not supported
   */
  setTimesteps(steps: number): void {
    this.timesteps = timestepSchedule(this.config, steps);
  }

  protected stepCoefficients(i: number): StepCoefficients {
    const t = this.timesteps[i] as number;
    const next = this.timesteps[i + 1];
    const a = this.alphasCumprod[t] as number;
    const aPrev = next === undefined ? this.finalAlphaCumprod : (this.alphasCumprod[next] as number);
    const sqrtA = Math.sqrt(a);
    const sqrtAPrev = Math.sqrt(aPrev);
    const denoisedFromOutput = -Math.sqrt(1 - a) / sqrtA;
    return {
      inputScale: 1,
      timestep: t,
      denoisedFromSample: 1 / sqrtA,
      denoisedFromOutput,
      prevFromSample: sqrtAPrev / sqrtA,
      prevFromOutput: sqrtAPrev * denoisedFromOutput + Math.sqrt(1 - aPrev),
      prevFromPreviousDenoised: 0,
      prevFromNoise: 0,
    };
  }
}

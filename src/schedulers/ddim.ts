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
import { applyInputScale, applyStep, checkStepIndex } from './linear-step.ts';
import { alphasCumprod, timestepSchedule } from './schedule.ts';
import type { Scheduler, SchedulerConfig, StepCoefficients, StepResult } from './scheduler.ts';

/** The DDIM sampler; build it with `createScheduler('ddim', config)`. */
export class DdimScheduler implements Scheduler {
  readonly name = 'ddim';
  readonly initNoiseSigma = 1;
  timesteps: readonly number[] = [];
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly config: SchedulerConfig;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig) {
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

  /** @throws RangeError when no schedule is set or `i` is out of range */
  coefficients(i: number): StepCoefficients {
    checkStepIndex(i, this.timesteps.length);
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
    };
  }

  /** @throws RangeError when no schedule is set or `i` is out of range */
  scaleModelInput(x: Float32Array, i: number): Float32Array {
    return applyInputScale(this.coefficients(i), x);
  }

  /** @throws RangeError when no schedule is set, `i` is out of range or the lengths differ */
  step(modelOutput: Float32Array, i: number, x: Float32Array): StepResult {
    return applyStep(this.coefficients(i), modelOutput, x);
  }
}

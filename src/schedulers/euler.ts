/**
 * Euler discrete, epsilon prediction: Karras et al. 2022, Algorithm 1 without churn, in the
 * sigma parameterisation x = x0 + sigma * eps, where sigma_t = sqrt((1 - a_t) / a_t).
 *
 *   modelInput = x / sqrt(sigma^2 + 1)        (back to the unit-variance input the UNet knows)
 *   denoised   = x - sigma * eps
 *   prevSample = x + (sigma_next - sigma) * eps
 *
 * The loop starts from noise of standard deviation sqrt(sigma_max^2 + 1), the total spread of
 * x at sigma_max for data of unit variance. (diffusers uses sigma_max alone for 'trailing' and
 * 'linspace'; the difference is below 0.3% at sigma_max = 14.6.)
 */
import { applyInputScale, applyStep, checkStepIndex } from './linear-step.ts';
import { alphasCumprod, timestepSchedule } from './schedule.ts';
import type { Scheduler, SchedulerConfig, StepCoefficients, StepResult } from './scheduler.ts';

/** The Euler sampler; build it with `createScheduler('euler', config)`. */
export class EulerScheduler implements Scheduler {
  readonly name = 'euler';
  timesteps: readonly number[] = [];
  /** sigma at each timestep of the schedule, then a final 0: one more entry than `timesteps`. */
  sigmas: readonly number[] = [];
  /** sqrt(sigma_max^2 + 1) of the current schedule; 1 until `setTimesteps`. */
  initNoiseSigma = 1;
  /** sigma of every training timestep 0..N-1. */
  private readonly trainSigmas: Float64Array;
  private readonly config: SchedulerConfig;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig) {
    this.config = config;
    this.trainSigmas = alphasCumprod(config).map((a) => Math.sqrt((1 - a) / a));
  }

  /**
   * @throws RangeError when steps is not an integer in 1..num_train_timesteps
   * @throws ManifestError when the config's timestep_spacing is not supported
   */
  setTimesteps(steps: number): void {
    this.timesteps = timestepSchedule(this.config, steps);
    this.sigmas = [...this.timesteps.map((t) => this.sigmaAt(t)), 0];
    const sigmaMax = Math.max(...this.sigmas);
    this.initNoiseSigma = Math.sqrt(sigmaMax * sigmaMax + 1);
  }

  /** sigma at a possibly fractional timestep, linear between training timesteps (numpy's interp). */
  private sigmaAt(t: number): number {
    const last = this.trainSigmas.length - 1;
    const clamped = Math.min(Math.max(t, 0), last);
    const lo = Math.floor(clamped);
    const hi = Math.min(lo + 1, last);
    const w = clamped - lo;
    return (1 - w) * (this.trainSigmas[lo] as number) + w * (this.trainSigmas[hi] as number);
  }

  /** @throws RangeError when no schedule is set or `i` is out of range */
  coefficients(i: number): StepCoefficients {
    checkStepIndex(i, this.timesteps.length);
    const sigma = this.sigmas[i] as number;
    const sigmaNext = this.sigmas[i + 1] as number;
    return {
      inputScale: 1 / Math.sqrt(sigma * sigma + 1),
      timestep: this.timesteps[i] as number,
      denoisedFromSample: 1,
      denoisedFromOutput: -sigma,
      prevFromSample: 1,
      prevFromOutput: sigmaNext - sigma,
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

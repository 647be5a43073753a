/**
 * What the sigma samplers share (Euler, Euler ancestral, DPM++ 2M): Karras et al. 2022's
 * parameterisation x = x0 + sigma * eps, where sigma_t = sqrt((1 - a_t) / a_t), so that
 *
 *   modelInput = x / sqrt(sigma^2 + 1)        (back to the unit-variance input the UNet knows)
 *   denoised   = x - sigma * eps
 *
 * and the loop starts from noise of standard deviation sqrt(sigma_max^2 + 1), the total spread
 * of x at sigma_max for data of unit variance. (diffusers uses sigma_max alone for 'trailing'
 * and 'linspace'; the difference is below 0.3% at sigma_max = 14.6.) Each sampler adds its own
 * way from sigma to the next sigma.
 */
import { LinearScheduler } from './linear-step.ts';
import { sigmaSchedule, trainingSigmas } from './schedule.ts';
import type { SchedulerConfig, StepCoefficients } from './scheduler.ts';

/** The part of a step's coefficients that a sigma sampler chooses. */
export type SigmaUpdate = Pick<StepCoefficients, 'prevFromSample' | 'prevFromOutput' | 'prevFromPreviousDenoised' | 'prevFromNoise'>;

export abstract class SigmaScheduler extends LinearScheduler {
  /** sigma at each timestep of the schedule, then a final 0: one more entry than `timesteps`. */
  sigmas: readonly number[] = [];
  private readonly config: SchedulerConfig;
  /** Karras sigmas (rho 7) instead of the sigmas of the config's timestep placement. */
  private readonly karras: boolean;
  /** sigma of every training timestep 0..N-1. */
  private readonly trainSigmas: Float64Array;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig, karras = false) {
    super();
    this.config = config;
    this.karras = karras;
    this.trainSigmas = trainingSigmas(config);
  }

  /**
   * @throws RangeError when steps is not an integer in 1..num_train_timesteps
   * @throws ManifestError when the config's timestep_spacing is not supported
   */
  setTimesteps(steps: number): void {
    const schedule = sigmaSchedule(this.config, this.trainSigmas, steps, this.karras);
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
  }

  /** How step `i` goes from sigmas[i] to sigmas[i + 1]. */
  protected abstract update(i: number, sigma: number, sigmaNext: number): SigmaUpdate;

  protected stepCoefficients(i: number): StepCoefficients {
    const sigma = this.sigmas[i] as number;
    return {
      inputScale: 1 / Math.sqrt(sigma * sigma + 1),
      timestep: this.timesteps[i] as number,
      denoisedFromSample: 1,
      denoisedFromOutput: -sigma,
      ...this.update(i, sigma, this.sigmas[i + 1] as number),
    };
  }
}

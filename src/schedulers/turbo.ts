/**
 * The single-step update of adversarially distilled models (Sauer et al. 2023, "Adversarial
 * Diffusion Distillation", SD-Turbo): trailing timesteps, so that one step starts at the top of
 * the schedule (t = N - 1, 999) from pure noise, and every step's output is the model's x0
 * estimate. With one step that estimate is the picture; with more, it is noised afresh to the
 * next timestep and predicted again (the paper's multi-step sampling; renoise.ts). Whatever the
 * model config's timestep_spacing, Turbo uses trailing: the distillation trained those timesteps.
 */
import { LinearScheduler } from './linear-step.ts';
import { renoiseCoefficients } from './renoise.ts';
import { alphasCumprod, timestepSchedule } from './schedule.ts';
import type { SchedulerConfig, StepCoefficients } from './scheduler.ts';

/** The Turbo sampler; build it with `createScheduler('turbo', config)`. */
export class TurboScheduler extends LinearScheduler {
  readonly name = 'turbo';
  private readonly alphasCumprod: Float64Array;
  private readonly config: SchedulerConfig;

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig) {
    super();
    this.config = { ...config, timestep_spacing: 'trailing' };
    this.alphasCumprod = alphasCumprod(config);
  }

  /** @throws RangeError when steps is not an integer in 1..num_train_timesteps */
  setTimesteps(steps: number): void {
    this.timesteps = timestepSchedule(this.config, steps);
  }

  protected stepCoefficients(i: number): StepCoefficients {
    const t = this.timesteps[i] as number;
    const next = this.timesteps[i + 1];
    return renoiseCoefficients({
      timestep: t,
      alphaCumprod: this.alphasCumprod[t] as number,
      nextAlphaCumprod: next === undefined ? undefined : (this.alphasCumprod[next] as number),
      cSkip: 0,
      cOut: 1,
    });
  }
}

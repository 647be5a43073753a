/**
 * What the flow-matching samplers share: the schedule of times (flow-schedule.ts), the x0
 * estimate x - t v, and how a clean latent is noised to a step's time for image-to-image and
 * inpainting, (1 - t) x0 + t noise (the model's output is a velocity, not the noise, so the
 * epsilon rule of `noisedSampleScales` does not apply).
 */
import { flowSigmas, scheduleShift } from './flow-schedule.ts';
import { LinearScheduler } from './linear-step.ts';
import type { FlowSchedulerConfig, SchedulerName, StepCoefficients, TimestepOptions } from './scheduler.ts';

export abstract class FlowScheduler extends LinearScheduler {
  abstract override readonly name: SchedulerName;
  /** The times of the schedule, then a final 0: one more entry than `timesteps`. */
  sigmas: readonly number[] = [];
  /** The shift the current schedule was built with. */
  shift = 1;
  private readonly config: FlowSchedulerConfig;

  constructor(config: FlowSchedulerConfig) {
    super();
    this.config = config;
  }

  /**
   * @throws RangeError when steps is not an integer in 1..MAX_FLOW_STEPS
   * @throws ManifestError when the config asks for dynamic shifting and `imageTokens` is not given
   */
  setTimesteps(steps: number, options: TimestepOptions = {}): void {
    this.shift = scheduleShift(this.config, options.imageTokens);
    this.sigmas = flowSigmas(steps, this.shift);
    this.timesteps = this.sigmas.slice(0, -1);
  }

  /** How step `i` goes from time t to the next time. */
  protected abstract update(t: number, next: number): Pick<StepCoefficients, 'prevFromSample' | 'prevFromOutput' | 'prevFromNoise'>;

  protected stepCoefficients(i: number): StepCoefficients {
    const t = this.sigmas[i] as number;
    return {
      inputScale: 1,
      timestep: t,
      denoisedFromSample: 1,
      denoisedFromOutput: -t,
      prevFromPreviousDenoised: 0,
      ...this.update(t, this.sigmas[i + 1] as number),
      noised: { fromSource: 1 - t, fromNoise: t },
    };
  }
}

/**
 * The few-step sampler of distilled flow models (the flow form of Turbo and LCM's re-noising,
 * as Z-Image-Turbo and FLUX.2 klein are sampled in a handful of steps): predict the clean latent,
 * then noise it afresh to the next time by the same interpolation that trained the model,
 *
 *   denoised   = x - t * v
 *   prevSample = (1 - t') * denoised + t' * z        (z fresh standard noise; after the last step, denoised)
 */
import { FlowScheduler } from './flow-scheduler.ts';
import type { StepCoefficients } from './scheduler.ts';

/** The flow re-noising sampler; build it with `createScheduler('flow_turbo', config)`. */
export class FlowTurboScheduler extends FlowScheduler {
  readonly name = 'flow_turbo';

  protected update(t: number, next: number): Pick<StepCoefficients, 'prevFromSample' | 'prevFromOutput' | 'prevFromNoise'> {
    return { prevFromSample: 1 - next, prevFromOutput: -t * (1 - next), prevFromNoise: next };
  }
}

/**
 * Flow-matching Euler (diffusers' FlowMatchEulerDiscreteScheduler): one Euler step of the
 * probability-flow ODE dx/dt = v from t to the next time t' (flow-schedule.ts):
 *
 *   denoised   = x - t * v
 *   prevSample = x + (t' - t) * v
 *
 * The model input is the sample itself, and the loop starts from unit noise (x at t = 1).
 */
import { FlowScheduler } from './flow-scheduler.ts';
import type { StepCoefficients } from './scheduler.ts';

/** The flow Euler sampler; build it with `createScheduler('flow_euler', config)`. */
export class FlowEulerScheduler extends FlowScheduler {
  readonly name = 'flow_euler';

  protected update(t: number, next: number): Pick<StepCoefficients, 'prevFromSample' | 'prevFromOutput' | 'prevFromNoise'> {
    return { prevFromSample: 1, prevFromOutput: next - t, prevFromNoise: 0 };
  }
}

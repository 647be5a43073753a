/**
 * Euler discrete, epsilon prediction: Karras et al. 2022, Algorithm 1 without churn (the shared
 * sigma parameterisation is in sigma-scheduler.ts):
 *
 *   prevSample = x + (sigma_next - sigma) * eps
 */
import { SigmaScheduler, type SigmaUpdate } from './sigma-scheduler.ts';

/** The Euler sampler; build it with `createScheduler('euler', config)`. */
export class EulerScheduler extends SigmaScheduler {
  readonly name = 'euler';

  protected update(_i: number, sigma: number, sigmaNext: number): SigmaUpdate {
    return { prevFromSample: 1, prevFromOutput: sigmaNext - sigma, prevFromPreviousDenoised: 0, prevFromNoise: 0 };
  }
}

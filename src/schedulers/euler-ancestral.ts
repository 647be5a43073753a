/**
 * Euler ancestral (eta = 1), epsilon prediction: each step goes down further than the next
 * noise level with Euler, to sigma_down, and adds fresh noise of sigma_up back, where
 *
 *   sigma_up   = min(sigma_next, sqrt(sigma_next^2 * (sigma^2 - sigma_next^2) / sigma^2))
 *   sigma_down = sqrt(sigma_next^2 - sigma_up^2)
 *   prevSample = x + (sigma_down - sigma) * eps + sigma_up * z
 *
 * so that the sample has total noise sigma_next again: the ancestral step of DDPM (Ho et al.
 * 2020) written in the sigma parameterisation of Karras et al. 2022 (sigma-scheduler.ts). The
 * last step (sigma_next = 0) adds nothing and lands on the denoised estimate.
 */
import { SigmaScheduler, type SigmaUpdate } from './sigma-scheduler.ts';

/** The Euler ancestral sampler; build it with `createScheduler('euler_a', config)`. */
export class EulerAncestralScheduler extends SigmaScheduler {
  readonly name = 'euler_a';

  protected update(_i: number, sigma: number, sigmaNext: number): SigmaUpdate {
    const sigmaUp = Math.min(sigmaNext, Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma)));
    const sigmaDown = Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp);
    return { prevFromSample: 1, prevFromOutput: sigmaDown - sigma, prevFromPreviousDenoised: 0, prevFromNoise: sigmaUp };
  }
}

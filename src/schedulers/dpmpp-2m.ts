/**
 * DPM-Solver++(2M), epsilon prediction: Lu et al. 2022, "DPM-Solver++", Algorithm 2, in the
 * sigma parameterisation (sigma-scheduler.ts), where lambda = -log sigma. With the step's
 * log-SNR change h = log(sigma / sigma_next) and the denoised estimates D of this step and
 * D_prev of the step before:
 *
 *   r          = h_prev / h,  h_prev = log(sigma_prev / sigma)
 *   D'         = (1 + 1 / (2r)) * D - (1 / (2r)) * D_prev
 *   prevSample = (sigma_next / sigma) * x + (1 - sigma_next / sigma) * D'
 *
 * The first step has no D_prev and the last (sigma_next = 0) no finite h: both are first order
 * (D' = D, which is exactly an Euler step). `dpmpp_2m_karras` is the same solver on Karras
 * sigmas (rho 7).
 */
import type { SchedulerConfig } from './scheduler.ts';
import { SigmaScheduler, type SigmaUpdate } from './sigma-scheduler.ts';

/** The DPM++ 2M sampler; build it with `createScheduler('dpmpp_2m', config)`. */
export class DpmSolverMultistepScheduler extends SigmaScheduler {
  readonly name: 'dpmpp_2m' | 'dpmpp_2m_karras';

  /** @throws ManifestError when the config's beta_schedule is not supported */
  constructor(config: SchedulerConfig, karras = false) {
    super(config, karras);
    this.name = karras ? 'dpmpp_2m_karras' : 'dpmpp_2m';
  }

  protected update(i: number, sigma: number, sigmaNext: number): SigmaUpdate {
    if (sigmaNext === 0) return { prevFromSample: 1, prevFromOutput: -sigma, prevFromPreviousDenoised: 0, prevFromNoise: 0 };
    const ratio = sigmaNext / sigma;
    // Weights of D and D_prev in D'.
    let current = 1;
    let previous = 0;
    if (i > 0) {
      const r = Math.log((this.sigmas[i - 1] as number) / sigma) / Math.log(sigma / sigmaNext);
      current = 1 + 1 / (2 * r);
      previous = -1 / (2 * r);
    }
    // D = x - sigma * eps, expanded.
    return {
      prevFromSample: ratio + (1 - ratio) * current,
      prevFromOutput: -(1 - ratio) * current * sigma,
      prevFromPreviousDenoised: (1 - ratio) * previous,
      prevFromNoise: 0,
    };
  }
}

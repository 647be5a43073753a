/**
 * What every noise-prediction scheduler must do (the flow ones: flow.test.ts), whatever its algorithm: a schedule in range
 * and descending, finite coefficients, a `step` that is its coefficients applied, and, given a
 * model that knows the true noise, a run that ends on the clean latent.
 */
import { describe, expect, it } from 'vitest';
import { gaussianNoise, stepNoise } from '../../../src/pipeline/prng.ts';
import { createScheduler, schedulersFor } from '../../../src/schedulers/index.ts';
import { alphasCumprod } from '../../../src/schedulers/schedule.ts';
import type { Scheduler, SchedulerConfig, StepCoefficients } from '../../../src/schedulers/scheduler.ts';
import { golden } from './golden.ts';

const STEP_COUNTS = [1, 2, 4, 20, 50];
const config = golden.config;
const N = config.num_train_timesteps;

function scheduled(name: string, steps: number, schedulerConfig: SchedulerConfig = config): Scheduler {
  const scheduler = createScheduler(name, schedulerConfig);
  scheduler.setTimesteps(steps);
  return scheduler;
}

/**
 * alphas_cumprod at a possibly fractional timestep: exact at whole ones; between them, log sigma
 * is interpolated, the convention by which fractional (Karras) timesteps name a noise level.
 */
function alphaCumprodAt(t: number): number {
  const ac = alphasCumprod(config);
  if (Number.isInteger(t)) return ac[t] as number;
  const logSigma = (k: number) => 0.5 * Math.log((1 - (ac[k] as number)) / (ac[k] as number));
  const lo = Math.floor(t);
  const w = t - lo;
  const sigma = Math.exp((1 - w) * logSigma(lo) + w * logSigma(lo + 1));
  return 1 / (1 + sigma * sigma);
}

const COEFFICIENT_KEYS: readonly (keyof StepCoefficients)[] = [
  'inputScale',
  'timestep',
  'prevFromSample',
  'prevFromOutput',
  'prevFromPreviousDenoised',
  'prevFromNoise',
  'denoisedFromSample',
  'denoisedFromOutput',
];

describe.each(schedulersFor(config))('%s conforms', (name) => {
  it.each(STEP_COUNTS)('%i steps: timesteps descend within the training range; coefficients are finite', (steps) => {
    const scheduler = scheduled(name, steps);
    expect(scheduler.timesteps).toHaveLength(steps);
    expect(scheduler.timesteps[0]).toBe(N - 1);
    for (const [i, t] of scheduler.timesteps.entries()) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThanOrEqual(N - 1);
      if (i > 0) expect(t).toBeLessThan(scheduler.timesteps[i - 1] as number);
      const c = scheduler.coefficients(i);
      for (const key of COEFFICIENT_KEYS) expect(Number.isFinite(c[key]), `${key} at step ${i}`).toBe(true);
      expect(c.timestep).toBe(t);
      expect(c.inputScale).toBeGreaterThan(0);
      expect(c.prevFromNoise).toBeGreaterThanOrEqual(0);
    }
    expect(scheduler.initNoiseSigma).toBeGreaterThanOrEqual(1);
    // No history at the first step, and nothing left to add after the last.
    expect(scheduler.coefficients(0).prevFromPreviousDenoised).toBe(0);
    expect(scheduler.coefficients(steps - 1).prevFromNoise).toBe(0);
  });

  it('steps by exactly its coefficients, history and noise included', () => {
    const steps = 20;
    const scheduler = scheduled(name, steps);
    const count = 32;
    const [x, eps, previous, noise] = [1, 2, 3, 4].map((seed) => gaussianNoise(seed, count)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < steps; i++) {
      const c = scheduler.coefficients(i);
      const { prevSample, denoised } = scheduler.step(eps, i, x, { noise, previousDenoised: previous });
      const scaled = scheduler.scaleModelInput(x, i);
      for (let k = 0; k < count; k++) {
        const prev = c.prevFromSample * x[k]! + c.prevFromOutput * eps[k]! + c.prevFromPreviousDenoised * previous[k]! + c.prevFromNoise * noise[k]!;
        const den = c.denoisedFromSample * x[k]! + c.denoisedFromOutput * eps[k]!;
        expect(prevSample[k]).toBeCloseTo(prev, 4);
        expect(denoised[k]).toBeCloseTo(den, 4);
        expect(scaled[k]).toBeCloseTo(c.inputScale * x[k]!, 6);
      }
    }
  });

  it('refuses a step that needs noise or history when it is not given', () => {
    const scheduler = scheduled(name, 4);
    const x = gaussianNoise(5, 8);
    for (let i = 0; i < 4; i++) {
      const c = scheduler.coefficients(i);
      const call = () => scheduler.step(x, i, x);
      if (c.prevFromNoise !== 0 || c.prevFromPreviousDenoised !== 0) expect(call).toThrow(RangeError);
      else expect(call).not.toThrow();
    }
  });

  // An oracle UNet: the exact noise in the scheduler's current input for a known clean latent x0.
  // Every step then lands on the noise level of the next, and the run must end on x0 itself.
  it.each(STEP_COUNTS)('%i steps with an oracle model end on the clean latent', (steps) => {
    // DDIM's last step lands on alphas_cumprod[0] < 1 unless set_alpha_to_one: the schedule, not
    // the sampler, leaves sqrt(1 - alphas_cumprod[0]) = 0.03 of noise there. Ask for a clean end.
    const scheduler = scheduled(name, steps, { ...config, set_alpha_to_one: true });
    const count = 64;
    const x0 = gaussianNoise(99, count).map((v) => 0.8 * v);
    let x: Float32Array = gaussianNoise(100, count).map((v) => v * scheduler.initNoiseSigma);
    let previousDenoised: Float32Array | undefined;
    for (let i = 0; i < steps; i++) {
      const input = scheduler.scaleModelInput(x, i);
      const a = alphaCumprodAt(scheduler.coefficients(i).timestep);
      const eps = input.map((v, k) => (v - Math.sqrt(a) * x0[k]!) / Math.sqrt(1 - a));
      const result = scheduler.step(eps, i, x, { noise: stepNoise(7, i, count), previousDenoised });
      x = result.prevSample;
      previousDenoised = result.denoised;
    }
    const worst = Math.max(...x.map((v, k) => Math.abs(v - x0[k]!)));
    expect(worst).toBeLessThan(1e-3);
  });
});

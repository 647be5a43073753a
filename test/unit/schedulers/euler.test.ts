import { describe, expect, it } from 'vitest';
import { EulerScheduler, createScheduler } from '../../../src/schedulers/index.ts';
import { expectClose, golden } from './golden.ts';

describe('Euler against the golden numbers of the reference implementation', () => {
  it.each(golden.euler.map((c) => [c.steps, c.step.index, c] as const))('%i steps, step %i', (steps, index, c) => {
    const scheduler = new EulerScheduler(golden.config);
    scheduler.setTimesteps(steps);
    expect(scheduler.timesteps).toEqual(c.timesteps);
    expectClose(scheduler.sigmas, c.sigmas ?? []);
    expect(scheduler.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 10);

    const x = Float32Array.from(c.step.sample);
    const eps = Float32Array.from(c.step.modelOutput);
    expectClose(scheduler.scaleModelInput(x, index), c.step.scaledInput);
    const { prevSample, denoised } = scheduler.step(eps, index, x);
    expectClose(prevSample, c.step.prevSample);
    expectClose(denoised, c.step.denoised);
  });
});

describe('Euler behaviour', () => {
  it('has one more sigma than timesteps, decreasing to a final 0', () => {
    const scheduler = new EulerScheduler(golden.config);
    scheduler.setTimesteps(20);
    expect(scheduler.sigmas).toHaveLength(21);
    expect(scheduler.sigmas.at(-1)).toBe(0);
    for (let i = 1; i < scheduler.sigmas.length; i++) {
      expect(scheduler.sigmas[i]).toBeLessThan(scheduler.sigmas[i - 1] as number);
    }
  });

  it('returns the denoised sample at the last step', () => {
    const scheduler = createScheduler('euler', golden.config);
    scheduler.setTimesteps(4);
    const x = Float32Array.from([3, -2, 0.5]);
    const eps = Float32Array.from([0.1, 0.2, -0.3]);
    const { prevSample, denoised } = scheduler.step(eps, 3, x);
    expect(Array.from(prevSample)).toEqual(Array.from(denoised));
  });

  it('scales the UNet input to unit variance at every step', () => {
    const scheduler = new EulerScheduler(golden.config);
    scheduler.setTimesteps(4);
    for (let i = 0; i < 4; i++) {
      const sigma = scheduler.sigmas[i] as number;
      const c = scheduler.coefficients(i);
      expect(c.inputScale * Math.sqrt(sigma * sigma + 1)).toBeCloseTo(1, 12);
    }
  });
});

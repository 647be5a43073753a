import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/schedulers/index.ts';
import { alphasCumprod } from '../../../src/schedulers/schedule.ts';
import { expectClose, golden } from './golden.ts';

describe('DDIM against the golden numbers of the reference implementation', () => {
  it.each(golden.ddim.map((c) => [c.steps, c.step.index, c] as const))('%i steps, step %i', (steps, index, c) => {
    const scheduler = createScheduler('ddim', golden.config);
    scheduler.setTimesteps(steps);
    expect(scheduler.timesteps).toEqual(c.timesteps);
    expect(scheduler.initNoiseSigma).toBe(c.initNoiseSigma);

    const x = Float32Array.from(c.step.sample);
    const eps = Float32Array.from(c.step.modelOutput);
    expectClose(scheduler.scaleModelInput(x, index), c.step.scaledInput);
    const { prevSample, denoised } = scheduler.step(eps, index, x);
    expectClose(prevSample, c.step.prevSample);
    expectClose(denoised, c.step.denoised);
  });
});

describe('DDIM behaviour', () => {
  const config = golden.config;

  it('feeds the schedule timestep to the UNet', () => {
    const scheduler = createScheduler('ddim', config);
    scheduler.setTimesteps(4);
    expect([0, 1, 2, 3].map((i) => scheduler.coefficients(i).timestep)).toEqual([999, 749, 499, 249]);
  });

  it('recovers the clean sample exactly when the model predicts the true noise', () => {
    const scheduler = createScheduler('ddim', config);
    scheduler.setTimesteps(4);
    const a = alphasCumprod(config)[749] as number;
    const x0 = Float32Array.from([0.5, -1, 2]);
    const noise = Float32Array.from([1, 0.25, -0.75]);
    const xt = x0.map((v, k) => Math.sqrt(a) * v + Math.sqrt(1 - a) * (noise[k] as number));
    const { denoised } = scheduler.step(noise, 1, xt);
    expectClose(denoised, Array.from(x0), 1e-6);
  });

  it('ends on the denoised sample with set_alpha_to_one, one alphas_cumprod[0] short of it without', () => {
    const x = Float32Array.from([1.5, -0.5]);
    const eps = Float32Array.from([0.2, 0.4]);
    const lastStep = (setAlphaToOne: boolean) => {
      const scheduler = createScheduler('ddim', { ...config, set_alpha_to_one: setAlphaToOne });
      scheduler.setTimesteps(2);
      return scheduler.step(eps, 1, x);
    };
    const clean = lastStep(true);
    expect(Array.from(clean.prevSample)).toEqual(Array.from(clean.denoised));
    const a0 = alphasCumprod(config)[0] as number;
    const kept = lastStep(false);
    const expected = Array.from(kept.denoised, (d, k) => Math.sqrt(a0) * d + Math.sqrt(1 - a0) * (eps[k] as number));
    expectClose(kept.prevSample, expected, 1e-6);
  });

  it('refuses step indices outside the schedule, and steps before setTimesteps', () => {
    const scheduler = createScheduler('ddim', config);
    expect(() => scheduler.coefficients(0)).toThrow(/setTimesteps/);
    scheduler.setTimesteps(4);
    expect(() => scheduler.coefficients(4)).toThrow(RangeError);
    expect(() => scheduler.coefficients(-1)).toThrow(RangeError);
    expect(() => scheduler.step(new Float32Array(3), 0, new Float32Array(4))).toThrow(RangeError);
  });
});

/**
 * Euler ancestral, DPM++ 2M (with and without Karras sigmas), LCM and Turbo against runs of
 * consecutive steps from the numpy reference (models/tiny-shapes/training/diffusion.py), which
 * carry the noise each step adds and, for DPM++ 2M, the history from one step to the next.
 */
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/schedulers/index.ts';
import { RUN_SCHEDULERS, expectClose, golden } from './golden.ts';

describe.each(RUN_SCHEDULERS)('%s against the golden numbers of the reference implementation', (name) => {
  it.each(golden[name].map((c) => [c.steps, c.run.start, c.run.start + c.run.steps.length - 1, c] as const))(
    '%i steps, steps %i to %i',
    (steps, start, _end, c) => {
      const scheduler = createScheduler(name, golden.config);
      scheduler.setTimesteps(steps);
      // Karras timesteps are fractional: the same to 1e-9 of the largest.
      expectClose(scheduler.timesteps, c.timesteps, 1e-9);
      if (c.sigmas !== undefined) expectClose((scheduler as unknown as { sigmas: number[] }).sigmas, c.sigmas, 1e-9);
      expect(scheduler.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 10);

      let x: Float32Array = Float32Array.from(c.run.sample);
      let previousDenoised: Float32Array | undefined = c.run.previousDenoised === undefined ? undefined : Float32Array.from(c.run.previousDenoised);
      c.run.steps.forEach((expected, k) => {
        const i = start + k;
        expectClose(scheduler.scaleModelInput(x, i), expected.scaledInput);
        const noise = expected.noise === undefined ? undefined : Float32Array.from(expected.noise);
        const result = scheduler.step(Float32Array.from(expected.modelOutput), i, x, { noise, previousDenoised });
        expectClose(result.prevSample, expected.prevSample);
        expectClose(result.denoised, expected.denoised);
        // The reference's sample goes on (no drift from float32 rounding), our denoised estimate
        // is the history: what the next step of a real loop would be given.
        x = Float32Array.from(expected.prevSample);
        previousDenoised = result.denoised;
      });
    },
  );
});

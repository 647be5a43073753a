/**
 * Euler ancestral, DPM++ 2M (with and without Karras sigmas), LCM and Turbo against runs of
 * consecutive steps from the numpy reference (models/tiny-shapes/training/diffusion.py), which
 * carry the noise each step adds and, for DPM++ 2M, the history from one step to the next.
 */
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/schedulers/index.ts';
import { RUN_SCHEDULERS, expectClose, expectGoldenRun, golden } from './golden.ts';

describe.each(RUN_SCHEDULERS)('%s against the golden numbers of the reference implementation', (name) => {
  it.each(golden[name].map((c) => [c.steps, c.run.start, c.run.start + c.run.steps.length - 1, c] as const))(
    '%i steps, steps %i to %i',
    (steps, _start, _end, c) => {
      const scheduler = createScheduler(name, golden.config);
      scheduler.setTimesteps(steps);
      // Karras timesteps are fractional: the same to 1e-9 of the largest.
      expectClose(scheduler.timesteps, c.timesteps, 1e-9);
      if (c.sigmas !== undefined) expectClose((scheduler as unknown as { sigmas: number[] }).sigmas, c.sigmas, 1e-9);
      expect(scheduler.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 10);

      expectGoldenRun(scheduler, c);
    },
  );
});

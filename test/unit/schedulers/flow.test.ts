/**
 * Flow-matching Euler and its re-noising few-step variant against the numpy reference
 * (models/tiny-shapes-flow/training/flow.py --golden): the time shift (fixed and FLUX's dynamic
 * one), the schedules, runs of consecutive steps, and image-to-image's noising by interpolation.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UnknownSchedulerError } from '../../../src/errors.ts';
import { createScheduler, dynamicShift, shiftTime } from '../../../src/schedulers/index.ts';
import { noisedSampleScales } from '../../../src/schedulers/linear-step.ts';
import type { FlowSchedulerConfig } from '../../../src/schedulers/scheduler.ts';
import { expectClose } from './golden.ts';

interface FlowCase {
  steps: number;
  shift: number;
  timesteps: number[];
  sigmas: number[];
  run: { start: number; sample: number[]; steps: { modelOutput: number[]; prevSample: number[]; denoised: number[]; noise?: number[] }[] };
}
const golden = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes-flow/golden/schedulers.json', import.meta.url), 'utf8')) as {
  dynamicShift: { imageTokens: number; shift: number }[];
  shiftTime: { shift: number; t: number; shifted: number }[];
  flow_euler: FlowCase[];
  flow_turbo: FlowCase[];
  addNoise: { t: number; x0: number[]; noise: number[]; noised: number[] }[];
};
const flux: FlowSchedulerConfig = { _class_name: 'FlowMatchEulerDiscreteScheduler', shift: 1, use_dynamic_shifting: false };

describe('the flow time shift', () => {
  it.each(golden.shiftTime)('shift $shift at t = $t', ({ shift, t, shifted }) => expect(shiftTime(t, shift)).toBeCloseTo(shifted, 12));
  it.each(golden.dynamicShift)("FLUX's dynamic shift for $imageTokens tokens", ({ imageTokens, shift }) =>
    expect(dynamicShift({ ...flux, use_dynamic_shifting: true }, imageTokens)).toBeCloseTo(shift, 12),
  );

  it('dynamic shifting takes the shift from the image token count given to setTimesteps', () => {
    const scheduler = createScheduler('flow_euler', { ...flux, use_dynamic_shifting: true });
    scheduler.setTimesteps(4, { imageTokens: 4096 });
    expect(scheduler.timesteps[1]).toBeCloseTo(shiftTime(0.75, Math.exp(1.15)), 12);
    expect(() => scheduler.setTimesteps(4)).toThrow(/image token count/);
  });
});

describe.each(['flow_euler', 'flow_turbo'] as const)('%s against the golden numbers of the reference implementation', (name) => {
  it.each(golden[name].map((c) => [c.steps, c.shift, c.run.start, c] as const))('%i steps, shift %d, from step %i', (steps, shift, start, c) => {
    const scheduler = createScheduler(name, { ...flux, shift });
    scheduler.setTimesteps(steps);
    expectClose(scheduler.timesteps, c.timesteps, 1e-12);
    expectClose((scheduler as unknown as { sigmas: number[] }).sigmas, c.sigmas, 1e-12);
    expect(scheduler.initNoiseSigma).toBe(1);
    let x: Float32Array = Float32Array.from(c.run.sample);
    c.run.steps.forEach((expected, k) => {
      const i = start + k;
      expectClose(scheduler.scaleModelInput(x, i), Array.from(x));
      const noise = expected.noise === undefined ? undefined : Float32Array.from(expected.noise);
      const result = scheduler.step(Float32Array.from(expected.modelOutput), i, x, { noise });
      expectClose(result.prevSample, expected.prevSample);
      expectClose(result.denoised, expected.denoised);
      x = Float32Array.from(expected.prevSample);
    });
  });
});

describe('image-to-image on a flow model', () => {
  // A 4-step schedule starts its steps at t = 1, 0.75, 0.5, 0.25: the cases at those times.
  it.each(golden.addNoise.filter(({ t }) => [1, 0.75].includes(t)))('noises a clean latent to time $t by interpolation', ({ t, x0, noise, noised }) => {
    const scheduler = createScheduler('flow_euler', flux);
    scheduler.setTimesteps(4);
    const { fromSource, fromNoise } = noisedSampleScales(scheduler.coefficients(scheduler.timesteps.indexOf(t)));
    expectClose(
      x0.map((v, k) => fromSource * v + fromNoise * noise[k]!),
      noised,
    );
  });
});

describe('scheduler families', () => {
  it('refuses a noise-prediction scheduler for a flow model, and the reverse, naming those that fit', () => {
    expect(() => createScheduler('ddim', flux)).toThrow(UnknownSchedulerError);
    expect(() => createScheduler('ddim', flux)).toThrow(/flow_euler, flow_turbo/);
    const sd = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes/scheduler/scheduler_config.json', import.meta.url), 'utf8'));
    expect(() => createScheduler('flow_euler', sd)).toThrow(/does not fit a noise-prediction model/);
  });
});

describe.each(['flow_euler', 'flow_turbo'] as const)('%s with an oracle model', (name) => {
  it.each([1, 2, 4, 8, 20])('%i steps from noise end on the clean latent', (steps) => {
    const x0 = Float32Array.from({ length: 16 }, (_, k) => Math.sin(k));
    const noise = Float32Array.from({ length: 16 }, (_, k) => Math.cos(3 * k));
    const scheduler = createScheduler(name, { ...flux, shift: 3 });
    scheduler.setTimesteps(steps);
    let x: Float32Array = noise.slice();
    for (let i = 0; i < steps; i++) {
      const v = noise.map((n, k) => n - x0[k]!);
      // the re-noising variant draws fresh noise; the oracle's velocity is then that noise's
      const z = noise;
      x = scheduler.step(v, i, x, { noise: z }).prevSample;
    }
    expectClose(x, Array.from(x0), 1e-5);
  });
});

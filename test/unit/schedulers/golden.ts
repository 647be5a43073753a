/**
 * The scheduler golden numbers written by models/tiny-shapes' training script from its own
 * numpy implementation (models/tiny-shapes/training/diffusion.py), and a tolerant comparison.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Scheduler, SchedulerConfig, StepExtras, StepResult } from '../../../src/schedulers/scheduler.ts';

export interface GoldenCase {
  readonly steps: number;
  readonly timesteps: number[];
  readonly sigmas?: number[];
  readonly initNoiseSigma: number;
  readonly step: {
    readonly index: number;
    readonly sample: number[];
    readonly modelOutput: number[];
    readonly scaledInput: number[];
    readonly prevSample: number[];
    readonly denoised: number[];
  };
}

/** Consecutive steps of one run, from step `start`: each step's inputs and outputs. */
export interface GoldenRunCase {
  readonly steps: number;
  readonly timesteps: number[];
  readonly sigmas?: number[];
  readonly initNoiseSigma: number;
  readonly run: {
    readonly start: number;
    readonly sample: number[];
    /** The denoised estimate of step start - 1, for DPM++ 2M cases that start mid-run. */
    readonly previousDenoised?: number[];
    readonly steps: {
      readonly modelOutput: number[];
      /** The fresh noise the step adds (stochastic samplers only). */
      readonly noise?: number[];
      readonly scaledInput: number[];
      readonly prevSample: number[];
      readonly denoised: number[];
    }[];
  };
}

/** The samplers whose golden cases are runs of steps. */
export const RUN_SCHEDULERS = ['euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'turbo'] as const;

export type Golden = { readonly config: SchedulerConfig; readonly ddim: GoldenCase[]; readonly euler: GoldenCase[] } & {
  readonly [name in (typeof RUN_SCHEDULERS)[number]]: GoldenRunCase[];
};

const GOLDEN_URL = new URL('../../../models/tiny-shapes/golden/schedulers.json', import.meta.url);

export const golden = JSON.parse(readFileSync(GOLDEN_URL, 'utf8')) as Golden;

/**
 * Relative 1e-5, measured against the vector's largest value: our steps read float32 samples,
 * so a value that is a small difference of large terms (x + (0 - sigma) * eps with sigma = 14.6)
 * cannot be closer than float32's spacing at the size of those terms.
 */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], rel = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k] as number;
    const e = expected[k] as number;
    if (Math.abs(a - e) > rel * scale) {
      expect.fail(`value ${k}: got ${a}, expected ${e} (tolerance ${rel * scale})`);
    }
  }
}

/**
 * Steps a scheduler (its schedule already set) through a golden run: each step's scaled input,
 * new sample and denoised estimate against the reference's. The reference's sample goes on (no
 * drift from float32 rounding); our denoised estimate is the history, what the next step of a
 * real loop would be given. `also` sees each step's inputs and result, for further checks.
 */
export function expectGoldenRun(
  scheduler: Scheduler,
  c: GoldenRunCase,
  also?: (i: number, input: { modelOutput: Float32Array; x: Float32Array; extras: StepExtras }, result: StepResult) => void,
): void {
  let x: Float32Array = Float32Array.from(c.run.sample);
  let previousDenoised: Float32Array | undefined = c.run.previousDenoised === undefined ? undefined : Float32Array.from(c.run.previousDenoised);
  c.run.steps.forEach((expected, k) => {
    const i = c.run.start + k;
    expectClose(scheduler.scaleModelInput(x, i), expected.scaledInput);
    const noise = expected.noise === undefined ? undefined : Float32Array.from(expected.noise);
    const modelOutput = Float32Array.from(expected.modelOutput);
    const extras = { noise, previousDenoised };
    const result = scheduler.step(modelOutput, i, x, extras);
    expectClose(result.prevSample, expected.prevSample);
    expectClose(result.denoised, expected.denoised);
    also?.(i, { modelOutput, x, extras }, result);
    x = Float32Array.from(expected.prevSample);
    previousDenoised = result.denoised;
  });
}

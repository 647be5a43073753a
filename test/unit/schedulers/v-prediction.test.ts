/**
 * v-prediction (SD 2.x 768) through the noise-prediction schedulers, against golden numbers from
 * a numpy reference that writes each sampler's v branch the way diffusers does
 * (test/support/v_prediction.py), and the negated model output of Z-Image's transformer.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UnknownSchedulerError } from '../../../src/errors.ts';
import { createScheduler, schedulersFor } from '../../../src/schedulers/index.ts';
import { applyStep } from '../../../src/schedulers/linear-step.ts';
import type { FlowSchedulerConfig, SchedulerConfig } from '../../../src/schedulers/scheduler.ts';
import { expectClose, expectGoldenRun, type GoldenRunCase } from './golden.ts';

const golden = JSON.parse(readFileSync(new URL('./fixtures/v-prediction.json', import.meta.url), 'utf8')) as { config: SchedulerConfig } & Record<
  string,
  GoldenRunCase[]
>;
const NAMES = ['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'turbo'] as const;

describe.each(NAMES)('%s with a v-prediction model, against the reference', (name) => {
  it.each(golden[name]!.map((c) => [c.steps, c.run.start, c] as const))('%i steps from step %i', (steps, _start, c) => {
    const scheduler = createScheduler(name, golden.config);
    scheduler.setTimesteps(steps);
    expectClose(scheduler.timesteps, c.timesteps, 1e-9);
    // The CPU step and the coefficients the GPU kernel applies are one and the same.
    expectGoldenRun(scheduler, c, (i, { modelOutput, x, extras }, result) => {
      const linear = applyStep(scheduler.coefficients(i), modelOutput, x, extras);
      expect(Array.from(linear.prevSample)).toEqual(Array.from(result.prevSample));
    });
  });
});

describe('which schedulers take a v-prediction model', () => {
  it("offers every noise-prediction scheduler but LCM, whose boundary conditions are epsilon's, and refuses LCM by name", () => {
    expect(schedulersFor(golden.config)).toEqual(['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'turbo']);
    expect(() => createScheduler('lcm', golden.config)).toThrow(UnknownSchedulerError);
    expect(() => createScheduler('lcm', golden.config)).toThrow(/does not fit a v-prediction model/);
  });

  it('noises a source picture as an epsilon model would: the noise levels are the schedule’s, not the model’s', () => {
    const v = createScheduler('euler', golden.config);
    const eps = createScheduler('euler', { ...golden.config, prediction_type: 'epsilon' });
    v.setTimesteps(20);
    eps.setTimesteps(20);
    expect(v.coefficients(5).noised).toEqual({ fromSource: 1, fromNoise: -eps.coefficients(5).denoisedFromOutput });
  });
});

describe('a denoiser whose output is negated (Z-Image)', () => {
  const flow: FlowSchedulerConfig = {
    _class_name: 'FlowMatchEulerDiscreteScheduler',
    num_train_timesteps: 1000,
    shift: 3,
    use_dynamic_shifting: false,
  } as FlowSchedulerConfig;

  it('steps with -output exactly as the plain scheduler steps with the output', () => {
    const plain = createScheduler('flow_euler', flow);
    const negated = createScheduler('flow_euler', flow, -1);
    plain.setTimesteps(8);
    negated.setTimesteps(8);
    const x = Float32Array.from({ length: 8 }, (_, k) => Math.sin(k + 1));
    const out = Float32Array.from({ length: 8 }, (_, k) => Math.cos(3 * k));
    for (let i = 0; i < 8; i++) {
      const a = plain.step(out, i, x);
      const b = negated.step(
        out.map((v) => -v),
        i,
        x,
      );
      expect(Array.from(b.prevSample)).toEqual(Array.from(a.prevSample));
      expect(Array.from(b.denoised)).toEqual(Array.from(a.denoised));
      expect(negated.coefficients(i).noised).toEqual(plain.coefficients(i).noised);
    }
  });
});

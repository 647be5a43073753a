import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/errors.ts';
import { alphasCumprod, betas, roundHalfEven, timestepSchedule } from '../../../src/schedulers/schedule.ts';
import type { SchedulerConfig } from '../../../src/schedulers/scheduler.ts';

// Stable Diffusion's schedule; expected values below come from numpy (float64), as diffusers computes them.
const SD: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  prediction_type: 'epsilon',
  timestep_spacing: 'trailing',
  steps_offset: 0,
  set_alpha_to_one: false,
};

describe('betas and alphas_cumprod', () => {
  it('scaled_linear matches numpy in float64', () => {
    const ac = alphasCumprod(SD);
    expect(ac).toHaveLength(1000);
    expect(ac[0]).toBeCloseTo(0.99915, 14);
    expect(ac[499]).toBeCloseTo(0.27766965045646763, 12);
    expect(ac[999]).toBeCloseTo(0.004660098513077238, 14);
  });

  it('linear matches numpy', () => {
    const config = { ...SD, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;
    const b = betas(config);
    expect(b[0]).toBe(0.0001);
    expect(b[999]).toBe(0.02);
    expect(alphasCumprod(config)[999]).toBeCloseTo(4.035829765375676e-5, 15);
  });

  it('rejects an unknown beta schedule with a manifest error', () => {
    const config = { ...SD, beta_schedule: 'squaredcos_cap_v2' } as unknown as SchedulerConfig;
    expect(() => betas(config)).toThrow(ManifestError);
  });
});

describe('timestepSchedule', () => {
  it('trailing starts at 999 and rounds half to even like numpy', () => {
    expect(timestepSchedule(SD, 1)).toEqual([999]);
    expect(timestepSchedule(SD, 3)).toEqual([999, 666, 332]);
    expect(timestepSchedule(SD, 4)).toEqual([999, 749, 499, 249]);
    expect(timestepSchedule(SD, 16)).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  });

  it('leading adds steps_offset (Stable Diffusion 1.x)', () => {
    const ts = timestepSchedule({ ...SD, timestep_spacing: 'leading', steps_offset: 1 }, 50);
    expect(ts).toHaveLength(50);
    expect(ts.slice(0, 3)).toEqual([981, 961, 941]);
    expect(ts.at(-1)).toBe(1);
  });

  it('linspace spans 999..0', () => {
    const config = { ...SD, timestep_spacing: 'linspace' } as const;
    expect(timestepSchedule(config, 10)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(timestepSchedule(config, 16)).toEqual([999, 932, 866, 799, 733, 666, 599, 533, 466, 400, 333, 266, 200, 133, 67, 0]);
  });

  it('rejects step counts outside 1..num_train_timesteps', () => {
    for (const steps of [0, -1, 2.5, 1001, Number.NaN]) {
      expect(() => timestepSchedule(SD, steps)).toThrow(RangeError);
    }
  });

  it('rejects an unknown spacing with a manifest error', () => {
    const config = { ...SD, timestep_spacing: 'karras' } as unknown as SchedulerConfig;
    expect(() => timestepSchedule(config, 4)).toThrow(ManifestError);
  });
});

describe('roundHalfEven', () => {
  it('rounds ties to the even neighbour', () => {
    expect([0.5, 1.5, 2.5, 812.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 812, 0, 2, 3]);
  });
});

import { describe, expect, it } from 'vitest';
import { ManifestError, UnknownSchedulerError } from '../../../src/errors.ts';
import { SCHEDULER_NAMES, createScheduler } from '../../../src/schedulers/index.ts';
import type { SchedulerConfig } from '../../../src/schedulers/scheduler.ts';
import { golden } from './golden.ts';

describe('createScheduler', () => {
  it('builds every listed scheduler under its own name', () => {
    expect(SCHEDULER_NAMES).toEqual(['ddim', 'euler']);
    for (const name of SCHEDULER_NAMES) {
      const scheduler = createScheduler(name, golden.config);
      expect(scheduler.name).toBe(name);
      expect(scheduler.timesteps).toEqual([]);
    }
  });

  it('rejects an unknown name with a typed error that lists the allowed ones', () => {
    let error: unknown;
    try {
      createScheduler('dpm++', golden.config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownSchedulerError);
    expect((error as UnknownSchedulerError).details).toEqual({ name: 'dpm++', allowed: ['ddim', 'euler'] });
    expect((error as Error).message).toContain('ddim, euler');
  });

  it('rejects a v-prediction model rather than sampling it wrongly', () => {
    const config = { ...golden.config, prediction_type: 'v_prediction' } as unknown as SchedulerConfig;
    expect(() => createScheduler('euler', config)).toThrow(ManifestError);
  });
});

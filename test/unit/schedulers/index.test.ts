import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, UnknownSchedulerError } from '../../../src/errors.ts';
import { SCHEDULER_LABELS, SCHEDULER_NAMES, createScheduler } from '../../../src/schedulers/index.ts';
import type { SchedulerConfig } from '../../../src/schedulers/scheduler.ts';
import { golden } from './golden.ts';

describe('createScheduler', () => {
  it('builds every listed scheduler under its own name', () => {
    expect(SCHEDULER_NAMES).toEqual(['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'turbo', 'flow_euler', 'flow_turbo']);
    const flow = { _class_name: 'FlowMatchEulerDiscreteScheduler', shift: 1 };
    for (const name of SCHEDULER_NAMES) {
      const scheduler = createScheduler(name, name.startsWith('flow_') ? flow : golden.config);
      expect(scheduler.name).toBe(name);
      expect(scheduler.timesteps).toEqual([]);
    }
  });

  it('has a display label for every scheduler', () => {
    expect(Object.keys(SCHEDULER_LABELS).sort()).toEqual([...SCHEDULER_NAMES].sort());
    expect(SCHEDULER_LABELS.dpmpp_2m_karras).toBe('DPM++ 2M Karras');
    expect(SCHEDULER_LABELS.euler_a).toBe('Euler a');
  });

  it("offers every scheduler, under its label, in the demo page's picker", () => {
    const html = readFileSync(new URL('../../../index.html', import.meta.url), 'utf8');
    const select = /<select id="scheduler">([\s\S]*?)<\/select>/.exec(html)?.[1] ?? '';
    const options = [...select.matchAll(/<option value="([^"]+)">([^<]+)<\/option>/g)].map(([, value, label]) => [value, label]);
    expect(options).toEqual(SCHEDULER_NAMES.map((name) => [name, SCHEDULER_LABELS[name]]));
  });

  it('rejects an unknown name with a typed error that lists the allowed ones', () => {
    let error: unknown;
    try {
      createScheduler('dpm++', golden.config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownSchedulerError);
    expect((error as UnknownSchedulerError).details).toEqual({ name: 'dpm++', allowed: SCHEDULER_NAMES });
    expect((error as Error).message).toContain('ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm, turbo, flow_euler, flow_turbo');
  });

  it('rejects a prediction type it does not implement (x0, "sample") rather than sampling it wrongly', () => {
    const config = { ...golden.config, prediction_type: 'sample' } as unknown as SchedulerConfig;
    expect(() => createScheduler('euler', config)).toThrow(ManifestError);
    expect(() => createScheduler('euler', config)).toThrow(/Unsupported prediction_type "sample"/);
  });
});

/**
 * Scheduler construction by name, as requests name them.
 */
import { ManifestError, UnknownSchedulerError } from '../errors.ts';
import { DdimScheduler } from './ddim.ts';
import { DpmSolverMultistepScheduler } from './dpmpp-2m.ts';
import { EulerAncestralScheduler } from './euler-ancestral.ts';
import { EulerScheduler } from './euler.ts';
import { LcmScheduler } from './lcm.ts';
import type { Scheduler, SchedulerConfig, SchedulerName } from './scheduler.ts';
import { TurboScheduler } from './turbo.ts';

/** Every scheduler name `createScheduler` accepts. */
export const SCHEDULER_NAMES: readonly SchedulerName[] = ['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'turbo'];

/** How each scheduler is shown to people (a picker, a PNG's parameters text). */
export const SCHEDULER_LABELS: Readonly<Record<SchedulerName, string>> = {
  ddim: 'DDIM',
  euler: 'Euler',
  euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  turbo: 'Turbo',
};

const FACTORIES: Readonly<Record<SchedulerName, (config: SchedulerConfig) => Scheduler>> = {
  ddim: (config) => new DdimScheduler(config),
  euler: (config) => new EulerScheduler(config),
  euler_a: (config) => new EulerAncestralScheduler(config),
  dpmpp_2m: (config) => new DpmSolverMultistepScheduler(config),
  dpmpp_2m_karras: (config) => new DpmSolverMultistepScheduler(config, true),
  lcm: (config) => new LcmScheduler(config),
  turbo: (config) => new TurboScheduler(config),
};

/** Whether `name` is one of `SCHEDULER_NAMES`. */
export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

/**
 * A scheduler of the given name for a model's scheduler config; call `setTimesteps` next.
 * @throws UnknownSchedulerError when `name` is not one of `SCHEDULER_NAMES`
 * @throws ManifestError when the config's prediction_type or beta_schedule is not one we
 *   implement (an unsupported timestep_spacing is reported by `setTimesteps`)
 */
export function createScheduler(name: string, config: SchedulerConfig): Scheduler {
  if (!isSchedulerName(name)) {
    throw new UnknownSchedulerError(`Unknown scheduler "${name}"; use one of ${SCHEDULER_NAMES.join(', ')}`, {
      name,
      allowed: SCHEDULER_NAMES,
    });
  }
  if (config.prediction_type !== 'epsilon') {
    throw new ManifestError(`Unsupported prediction_type "${String(config.prediction_type)}"`, {
      predictionType: config.prediction_type,
      allowed: ['epsilon'],
    });
  }
  return FACTORIES[name](config);
}

export { DdimScheduler } from './ddim.ts';
export { DpmSolverMultistepScheduler } from './dpmpp-2m.ts';
export { EulerAncestralScheduler } from './euler-ancestral.ts';
export { EulerScheduler } from './euler.ts';
export { LcmScheduler } from './lcm.ts';
export { TurboScheduler } from './turbo.ts';
export type { Scheduler, SchedulerConfig, SchedulerName, StepCoefficients, StepExtras, StepResult } from './scheduler.ts';

/**
 * Scheduler construction by name, as requests name them.
 */
import { ManifestError, UnknownSchedulerError } from '../errors.ts';
import { DdimScheduler } from './ddim.ts';
import { EulerScheduler } from './euler.ts';
import type { Scheduler, SchedulerConfig, SchedulerName } from './scheduler.ts';

/** Every scheduler name `createScheduler` accepts. */
export const SCHEDULER_NAMES: readonly SchedulerName[] = ['ddim', 'euler'];

const CONSTRUCTORS: Readonly<Record<SchedulerName, new (config: SchedulerConfig) => Scheduler>> = {
  ddim: DdimScheduler,
  euler: EulerScheduler,
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
  return new CONSTRUCTORS[name](config);
}

export { DdimScheduler } from './ddim.ts';
export { EulerScheduler } from './euler.ts';
export type { Scheduler, SchedulerConfig, SchedulerName, StepCoefficients, StepResult } from './scheduler.ts';

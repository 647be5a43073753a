/**
 * Scheduler construction by name, as requests name them.
 */
import { ManifestError, UnknownSchedulerError } from '../errors.ts';
import { DdimScheduler } from './ddim.ts';
import { DpmSolverMultistepScheduler } from './dpmpp-2m.ts';
import { EulerAncestralScheduler } from './euler-ancestral.ts';
import { EulerScheduler } from './euler.ts';
import { FlowEulerScheduler } from './flow-euler.ts';
import { FlowTurboScheduler } from './flow-turbo.ts';
import { LcmScheduler } from './lcm.ts';
import { ModelOutputScheduler } from './model-output.ts';
import { isFlowConfig, type AnySchedulerConfig, type FlowSchedulerConfig, type Scheduler, type SchedulerConfig, type SchedulerName } from './scheduler.ts';
import { TurboScheduler } from './turbo.ts';

/** Every scheduler name `createScheduler` accepts. */
export const SCHEDULER_NAMES: readonly SchedulerName[] = [
  'ddim',
  'euler',
  'euler_a',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'lcm',
  'turbo',
  'flow_euler',
  'flow_turbo',
];

/** The schedulers of flow-matching models (velocity prediction); the others are for noise-prediction models. */
export const FLOW_SCHEDULER_NAMES: readonly SchedulerName[] = ['flow_euler', 'flow_turbo'];

/** Noise-prediction schedulers that do not take a v-prediction model: LCM's boundary conditions are written for epsilon. */
const EPSILON_ONLY: readonly SchedulerName[] = ['lcm'];

/** The schedulers that fit a model with this scheduler config. */
export function schedulersFor(config: AnySchedulerConfig): readonly SchedulerName[] {
  if (isFlowConfig(config)) return FLOW_SCHEDULER_NAMES;
  const velocity = config.prediction_type === 'v_prediction';
  return SCHEDULER_NAMES.filter((name) => !FLOW_SCHEDULER_NAMES.includes(name) && !(velocity && EPSILON_ONLY.includes(name)));
}

/** How each scheduler is shown to people (a picker, a PNG's parameters text). */
export const SCHEDULER_LABELS: Readonly<Record<SchedulerName, string>> = {
  ddim: 'DDIM',
  euler: 'Euler',
  euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  turbo: 'Turbo',
  flow_euler: 'Euler (flow)',
  flow_turbo: 'Turbo (flow)',
};

const FACTORIES: Readonly<Record<Exclude<SchedulerName, 'flow_euler' | 'flow_turbo'>, (config: SchedulerConfig) => Scheduler>> = {
  ddim: (config) => new DdimScheduler(config),
  euler: (config) => new EulerScheduler(config),
  euler_a: (config) => new EulerAncestralScheduler(config),
  dpmpp_2m: (config) => new DpmSolverMultistepScheduler(config),
  dpmpp_2m_karras: (config) => new DpmSolverMultistepScheduler(config, true),
  lcm: (config) => new LcmScheduler(config),
  turbo: (config) => new TurboScheduler(config),
};
const FLOW_FACTORIES: Readonly<Record<'flow_euler' | 'flow_turbo', (config: FlowSchedulerConfig) => Scheduler>> = {
  flow_euler: (config) => new FlowEulerScheduler(config),
  flow_turbo: (config) => new FlowTurboScheduler(config),
};

/** Whether `name` is one of `SCHEDULER_NAMES`. */
export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

/**
 * A scheduler of the given name for a model's scheduler config; call `setTimesteps` next. A
 * v-prediction config (`prediction_type` "v_prediction"), or a denoiser whose output is negated
 * (`outputSign` -1), gets the scheduler's coefficients changed to take that output
 * (model-output.ts).
 * @throws UnknownSchedulerError when `name` is not one of `SCHEDULER_NAMES`
 * @throws UnknownSchedulerError when the scheduler does not fit the model's kind (a flow
 *   scheduler for a noise-prediction model, or the reverse); `allowed` lists those that do
 * @throws ManifestError when the config's prediction_type or beta_schedule is not one we
 *   implement (an unsupported timestep_spacing is reported by `setTimesteps`)
 */
export function createScheduler(name: string, config: AnySchedulerConfig, outputSign: 1 | -1 = 1): Scheduler {
  if (!isSchedulerName(name)) {
    throw new UnknownSchedulerError(`Unknown scheduler "${name}"; use one of ${SCHEDULER_NAMES.join(', ')}`, {
      name,
      allowed: SCHEDULER_NAMES,
    });
  }
  const allowed = schedulersFor(config);
  if (!allowed.includes(name)) {
    const kind = isFlowConfig(config)
      ? 'a flow-matching model'
      : config.prediction_type === 'v_prediction'
        ? 'a v-prediction model'
        : 'a noise-prediction model';
    throw new UnknownSchedulerError(`Scheduler "${name}" does not fit ${kind}; use one of ${allowed.join(', ')}`, { name, allowed });
  }
  const adapted = (scheduler: Scheduler, velocity: boolean): Scheduler =>
    velocity || outputSign !== 1 ? new ModelOutputScheduler(scheduler, { velocity, sign: outputSign }) : scheduler;
  if (isFlowConfig(config)) return adapted(FLOW_FACTORIES[name as keyof typeof FLOW_FACTORIES](config), false);
  if (config.prediction_type !== 'epsilon' && config.prediction_type !== 'v_prediction') {
    throw new ManifestError(`Unsupported prediction_type "${String(config.prediction_type)}"`, {
      predictionType: config.prediction_type,
      allowed: ['epsilon', 'v_prediction'],
    });
  }
  return adapted(FACTORIES[name as keyof typeof FACTORIES](config), config.prediction_type === 'v_prediction');
}

export { DdimScheduler } from './ddim.ts';
export { DpmSolverMultistepScheduler } from './dpmpp-2m.ts';
export { EulerAncestralScheduler } from './euler-ancestral.ts';
export { EulerScheduler } from './euler.ts';
export { FlowEulerScheduler } from './flow-euler.ts';
export { FlowTurboScheduler } from './flow-turbo.ts';
export { dynamicShift, shiftTime } from './flow-schedule.ts';
export { LcmScheduler } from './lcm.ts';
export { TurboScheduler } from './turbo.ts';
export { isFlowConfig } from './scheduler.ts';
export type {
  AnySchedulerConfig,
  FlowSchedulerConfig,
  Scheduler,
  SchedulerConfig,
  SchedulerName,
  StepCoefficients,
  StepExtras,
  StepResult,
  TimestepOptions,
} from './scheduler.ts';

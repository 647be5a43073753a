/**
 * The one interface every scheduler implements.
 *
 * A step of every sampler we support is a linear combination of the current sample `x` and the
 * model's (guided) epsilon prediction `eps`:
 *
 *   modelInput = inputScale * x
 *   denoised   = denoisedFromSample * x + denoisedFromOutput * eps
 *   prevSample = prevFromSample     * x + prevFromOutput     * eps
 *
 * so the GPU loop needs only these scalars per step (one WGSL kernel applies them), while the
 * CPU `step` used by tests and the CPU fallback applies the very same coefficients.
 */
export interface StepCoefficients {
  /** Multiplies the sample before it goes into the UNet (Euler's 1/sqrt(sigma^2+1), DDIM's 1). */
  readonly inputScale: number;
  /** The timestep value fed to the UNet at this step. */
  readonly timestep: number;
  readonly prevFromSample: number;
  readonly prevFromOutput: number;
  readonly denoisedFromSample: number;
  readonly denoisedFromOutput: number;
}

export interface StepResult {
  readonly prevSample: Float32Array;
  readonly denoised: Float32Array;
}

export interface Scheduler {
  /** Stable identifier, as used in requests: "ddim", "euler", … */
  readonly name: SchedulerName;
  /** Timesteps of the current schedule, highest first. Empty until `setTimesteps`. */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial noise the loop starts from. */
  readonly initNoiseSigma: number;
  /** Builds the schedule for `steps` denoising steps. @throws RangeError when steps < 1 */
  setTimesteps(steps: number): void;
  /** Per-step scalars, step index `i` in 0..steps-1 passed explicitly (no hidden step counter). */
  coefficients(i: number): StepCoefficients;
  scaleModelInput(x: Float32Array, i: number): Float32Array;
  step(modelOutput: Float32Array, i: number, x: Float32Array): StepResult;
}

export type SchedulerName = 'ddim' | 'euler';

/** diffusers' scheduler_config.json, as parsed (snake_case kept at this boundary). */
export interface SchedulerConfig {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: 'scaled_linear' | 'linear';
  readonly prediction_type: 'epsilon';
  readonly timestep_spacing: 'trailing' | 'leading' | 'linspace';
  readonly steps_offset?: number;
  readonly set_alpha_to_one?: boolean;
}

/**
 * The one interface every scheduler implements.
 *
 * A step of every sampler we support is a linear combination of the current sample `x`, the
 * model's (guided) epsilon prediction `eps`, the previous step's denoised estimate `d_prev` and
 * fresh standard normal noise `z`:
 *
 *   modelInput = inputScale * x
 *   denoised   = denoisedFromSample * x + denoisedFromOutput * eps
 *   prevSample = prevFromSample * x + prevFromOutput * eps
 *              + prevFromPreviousDenoised * d_prev + prevFromNoise * z
 *
 * so the GPU loop needs only these scalars per step (one WGSL kernel applies them), while the
 * CPU `step` used by tests and the CPU fallback applies the very same coefficients. `d_prev` is
 * what a multistep solver remembers (DPM++ 2M); `z` is what an ancestral or re-noising sampler
 * adds (Euler ancestral, LCM, Turbo), drawn by the pipeline from the request's seed and the step
 * index (src/pipeline/prng.ts, `stepNoise`), never by the scheduler.
 */
export interface StepCoefficients {
  /** Multiplies the sample before it goes into the UNet (Euler's 1/sqrt(sigma^2+1), DDIM's 1). */
  readonly inputScale: number;
  /** The timestep value fed to the UNet at this step (fractional for Karras sigmas). */
  readonly timestep: number;
  readonly prevFromSample: number;
  readonly prevFromOutput: number;
  /** Weight of the previous step's denoised estimate; 0 for single-step solvers and at step 0. */
  readonly prevFromPreviousDenoised: number;
  /** Weight of fresh standard normal noise; 0 for deterministic steps. */
  readonly prevFromNoise: number;
  readonly denoisedFromSample: number;
  readonly denoisedFromOutput: number;
  /**
   * How a clean latent x0 is noised to this step's level (x = fromSource * x0 + fromNoise *
   * noise), for image-to-image and inpainting, where the model's output is not the noise (flow
   * velocity); absent, it follows from the denoised estimate (`noisedSampleScales`).
   */
  readonly noised?: { readonly fromSource: number; readonly fromNoise: number };
}

/** What a schedule may depend on besides its step count. */
export interface TimestepOptions {
  /** Latent patches in the image: a flow schedule with dynamic shifting (FLUX) derives its shift from it. */
  readonly imageTokens?: number;
}

/** What a step may need besides the sample and the model output. */
export interface StepExtras {
  /** Standard normal noise, one value per latent value; required when `prevFromNoise` is not 0. */
  readonly noise?: Float32Array;
  /** The `denoised` of step i - 1; required when `prevFromPreviousDenoised` is not 0. */
  readonly previousDenoised?: Float32Array;
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
  /** Builds the schedule for `steps` denoising steps. @throws RangeError when steps is out of range */
  setTimesteps(steps: number, options?: TimestepOptions): void;
  /** Per-step scalars, step index `i` in 0..steps-1 passed explicitly (no hidden step counter). */
  coefficients(i: number): StepCoefficients;
  scaleModelInput(x: Float32Array, i: number): Float32Array;
  step(modelOutput: Float32Array, i: number, x: Float32Array, extras?: StepExtras): StepResult;
}

export type SchedulerName = 'ddim' | 'euler' | 'euler_a' | 'dpmpp_2m' | 'dpmpp_2m_karras' | 'lcm' | 'turbo' | 'flow_euler' | 'flow_turbo';

/** diffusers' scheduler_config.json of a noise-prediction model (DDPM family), as parsed (snake_case kept at this boundary). */
export interface SchedulerConfig {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: 'scaled_linear' | 'linear';
  /** epsilon: the model predicts the noise; v_prediction: v = alpha eps - sigma x0 (SD 2.x 768). */
  readonly prediction_type: 'epsilon' | 'v_prediction';
  readonly timestep_spacing: 'trailing' | 'leading' | 'linspace';
  readonly steps_offset?: number;
  readonly set_alpha_to_one?: boolean;
  /** LCM: the schedule the model was distilled on, which few-step timesteps are picked from (default 50). */
  readonly original_inference_steps?: number;
  /** LCM: scales the timestep in the consistency boundary conditions (default 10). */
  readonly timestep_scaling?: number;
}

/**
 * diffusers' FlowMatchEulerDiscreteScheduler config (SD3, FLUX, Z-Image): no betas, a time
 * shift, optionally derived from the image's token count.
 */
export interface FlowSchedulerConfig {
  readonly _class_name?: string;
  readonly num_train_timesteps?: number;
  readonly shift?: number;
  readonly use_dynamic_shifting?: boolean;
  readonly base_shift?: number;
  readonly max_shift?: number;
  readonly base_image_seq_len?: number;
  readonly max_image_seq_len?: number;
}

/** Either kind of scheduler config a model may carry. */
export type AnySchedulerConfig = SchedulerConfig | FlowSchedulerConfig;

/**
 * Whether a config is a flow-matching one: diffusers names its class, and a flow config has no
 * beta schedule (every noise-prediction config has one).
 */
export function isFlowConfig(config: AnySchedulerConfig): config is FlowSchedulerConfig {
  const name = (config as FlowSchedulerConfig)._class_name;
  return name !== undefined ? name.startsWith('FlowMatch') : (config as Partial<SchedulerConfig>).beta_schedule === undefined;
}

/**
 * A scheduler driven by a model output other than the one it is written for, as a change of its
 * step coefficients (so the GPU kernel and the CPU step take it alike, nothing per element):
 *
 * - v-prediction (SD 2.x 768): v = alpha eps - sigma x0 on the variance-preserving process
 *   x_vp = alpha x0 + sigma eps, so eps = sigma x_vp + alpha v. Every noise-prediction scheduler
 *   here has x_vp = inputScale x and denoised = (x_vp - sigma eps) / alpha, so alpha =
 *   inputScale / denoisedFromSample and sigma = -alpha denoisedFromOutput come from its own
 *   coefficients, and eps = (sigma inputScale) x + alpha v is linear in x and v: substituted into
 *   prevSample and denoised it gives new weights of x and of the output. Guidance mixes outputs
 *   linearly before the step, so it mixes v as it mixed eps.
 * - a negated output (Z-Image's transformer gives x0 - noise, the negative of the velocity
 *   diffusers' pipeline steps with): the output's weights change sign.
 *
 * The noising of a source picture (image to image) is the inner scheduler's, which knows its
 * noise levels; it does not depend on what the model predicts.
 */
import { applyStep, noisedSampleScales } from './linear-step.ts';
import type { Scheduler, StepCoefficients, StepExtras, StepResult, TimestepOptions } from './scheduler.ts';

export interface ModelOutputForm {
  /** The model predicts v (v_prediction) where the scheduler steps with epsilon. */
  readonly velocity: boolean;
  /** The model's output times this is what the scheduler (or the v conversion) takes. */
  readonly sign: 1 | -1;
}

export class ModelOutputScheduler implements Scheduler {
  private readonly inner: Scheduler;
  private readonly form: ModelOutputForm;

  constructor(inner: Scheduler, form: ModelOutputForm) {
    this.inner = inner;
    this.form = form;
  }

  get name() {
    return this.inner.name;
  }

  get timesteps() {
    return this.inner.timesteps;
  }

  get initNoiseSigma() {
    return this.inner.initNoiseSigma;
  }

  setTimesteps(steps: number, options?: TimestepOptions): void {
    this.inner.setTimesteps(steps, options);
  }

  /** @throws RangeError when no schedule is set or `i` is out of range */
  coefficients(i: number): StepCoefficients {
    const c = this.inner.coefficients(i);
    let fromSample = 0;
    let fromOutput = 1;
    if (this.form.velocity) {
      const alpha = c.inputScale / c.denoisedFromSample;
      const sigma = -alpha * c.denoisedFromOutput;
      fromSample = sigma * c.inputScale;
      fromOutput = alpha;
    }
    fromOutput *= this.form.sign;
    return {
      ...c,
      prevFromSample: c.prevFromSample + c.prevFromOutput * fromSample,
      prevFromOutput: c.prevFromOutput * fromOutput,
      denoisedFromSample: c.denoisedFromSample + c.denoisedFromOutput * fromSample,
      denoisedFromOutput: c.denoisedFromOutput * fromOutput,
      noised: noisedSampleScales(c),
    };
  }

  scaleModelInput(x: Float32Array, i: number): Float32Array {
    return this.inner.scaleModelInput(x, i);
  }

  /** @throws RangeError as `applyStep` does */
  step(modelOutput: Float32Array, i: number, x: Float32Array, extras?: StepExtras): StepResult {
    return applyStep(this.coefficients(i), modelOutput, x, extras);
  }
}

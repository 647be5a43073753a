/**
 * The CPU side of the one piece of scheduler maths: applying a step's `StepCoefficients`.
 *
 * Each scheduler only says what its coefficients are; `scaleModelInput` and `step` of every
 * scheduler go through `LinearScheduler` and these functions, as the GPU kernel goes through the
 * same scalars, so CPU and GPU cannot disagree on the algorithm, only on float rounding.
 */
import type { Scheduler, SchedulerName, StepCoefficients, StepExtras, StepResult, TimestepOptions } from './scheduler.ts';

/**
 * How a clean latent x0 is noised to the level step `c` starts from: x = fromSource * x0 +
 * fromNoise * noise. It follows from the step's own denoised estimate: a model that predicts the
 * noise exactly must get x0 back (denoisedFromSample * x + denoisedFromOutput * noise = x0), so
 * fromSource = 1 / denoisedFromSample and fromNoise = -denoisedFromOutput / denoisedFromSample —
 * sqrt(abar) and sqrt(1 - abar) for DDIM, 1 and sigma for Euler. A scheduler whose model does
 * not predict the noise says it itself (`c.noised`: 1 - t and t for flow matching). Image-to-image starts there;
 * inpainting puts the kept region back there after every step.
 */
export function noisedSampleScales(c: StepCoefficients): { readonly fromSource: number; readonly fromNoise: number } {
  if (c.noised !== undefined) return c.noised;
  return { fromSource: 1 / c.denoisedFromSample, fromNoise: -c.denoisedFromOutput / c.denoisedFromSample };
}

/** inputScale * x: what the UNet sees at this step. */
export function applyInputScale(c: StepCoefficients, x: Float32Array): Float32Array {
  return x.map((v) => c.inputScale * v);
}

/**
 * The extra array a non-zero coefficient calls for, checked.
 * @throws RangeError when it is missing or its length differs from the sample's
 */
function required(weight: number, values: Float32Array | undefined, what: string, length: number): Float32Array | undefined {
  if (weight === 0) return undefined;
  if (values === undefined) throw new RangeError(`this step needs ${what} (its weight is ${weight})`);
  if (values.length !== length) throw new RangeError(`${what} has ${values.length} values but the sample has ${length}`);
  return values;
}

/**
 * prevSample and denoised from the sample, the (guided) model output, and where the
 * coefficients ask for them the previous denoised estimate and the step's noise.
 * @throws RangeError when the arrays differ in length, or a needed extra is missing
 */
export function applyStep(c: StepCoefficients, modelOutput: Float32Array, x: Float32Array, extras: StepExtras = {}): StepResult {
  if (modelOutput.length !== x.length) {
    throw new RangeError(`modelOutput has ${modelOutput.length} values but the sample has ${x.length}`);
  }
  const history = required(c.prevFromPreviousDenoised, extras.previousDenoised, 'the previous denoised estimate', x.length);
  const noise = required(c.prevFromNoise, extras.noise, 'noise', x.length);
  const prevSample = new Float32Array(x.length);
  const denoised = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const xk = x[k] as number;
    const ek = modelOutput[k] as number;
    let prev = c.prevFromSample * xk + c.prevFromOutput * ek;
    if (history !== undefined) prev += c.prevFromPreviousDenoised * (history[k] as number);
    if (noise !== undefined) prev += c.prevFromNoise * (noise[k] as number);
    prevSample[k] = prev;
    denoised[k] = c.denoisedFromSample * xk + c.denoisedFromOutput * ek;
  }
  return { prevSample, denoised };
}

/**
 * Checks a step index against a schedule of `steps` steps.
 * @throws RangeError when no schedule is set or `i` is outside 0..steps-1
 */
export function checkStepIndex(i: number, steps: number): void {
  if (steps === 0) throw new RangeError('No schedule yet: call setTimesteps(steps) first');
  if (!Number.isInteger(i) || i < 0 || i >= steps) {
    throw new RangeError(`step index must be an integer from 0 to ${steps - 1}, got ${i}`);
  }
}

/**
 * What every scheduler shares: `scaleModelInput` and `step` are its coefficients applied. A
 * subclass sets `timesteps` (and `initNoiseSigma`) in `setTimesteps` and writes `stepCoefficients`.
 */
export abstract class LinearScheduler implements Scheduler {
  abstract readonly name: SchedulerName;
  timesteps: readonly number[] = [];
  initNoiseSigma = 1;

  abstract setTimesteps(steps: number, options?: TimestepOptions): void;

  /** The coefficients of step `i`, already checked to be in range. */
  protected abstract stepCoefficients(i: number): StepCoefficients;

  /** @throws RangeError when no schedule is set or `i` is out of range */
  coefficients(i: number): StepCoefficients {
    checkStepIndex(i, this.timesteps.length);
    return this.stepCoefficients(i);
  }

  /** @throws RangeError when no schedule is set or `i` is out of range */
  scaleModelInput(x: Float32Array, i: number): Float32Array {
    return applyInputScale(this.coefficients(i), x);
  }

  /**
   * @throws RangeError when no schedule is set, `i` is out of range, the lengths differ, or the
   *   step needs noise or the previous denoised estimate and `extras` lacks it
   */
  step(modelOutput: Float32Array, i: number, x: Float32Array, extras?: StepExtras): StepResult {
    return applyStep(this.coefficients(i), modelOutput, x, extras);
  }
}

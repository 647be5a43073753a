/**
 * The CPU side of the one piece of scheduler maths: applying a step's `StepCoefficients`.
 *
 * Each scheduler only says what its coefficients are; `scaleModelInput` and `step` of every
 * scheduler go through these two functions, as the GPU kernel goes through the same scalars,
 * so CPU and GPU cannot disagree on the algorithm, only on float rounding.
 */
import type { StepCoefficients, StepResult } from './scheduler.ts';

/** inputScale * x: what the UNet sees at this step. */
export function applyInputScale(c: StepCoefficients, x: Float32Array): Float32Array {
  return x.map((v) => c.inputScale * v);
}

/**
 * prevSample and denoised from the sample and the (guided) model output.
 * @throws RangeError when the two arrays differ in length
 */
export function applyStep(c: StepCoefficients, modelOutput: Float32Array, x: Float32Array): StepResult {
  if (modelOutput.length !== x.length) {
    throw new RangeError(`modelOutput has ${modelOutput.length} values but the sample has ${x.length}`);
  }
  const prevSample = new Float32Array(x.length);
  const denoised = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const xk = x[k] as number;
    const ek = modelOutput[k] as number;
    prevSample[k] = c.prevFromSample * xk + c.prevFromOutput * ek;
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

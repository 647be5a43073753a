import { packParams, runElementwise } from './compute.ts';
import code from './guided-step.wgsl?raw';
import { packingFields, UNPACKED, withPacking, type Packing } from './patch-index.ts';

const kernel = { code: withPacking(code), label: 'guided-step' };

/** Weights of one output of the step: x, the guided eps, the old aux, the noise. */
export interface StepTerms {
  readonly fromSample: number;
  readonly fromOutput: number;
  /** Weight of aux as it was before this step (the previous denoised estimate). */
  readonly fromAux: number;
  readonly fromNoise: number;
}

export interface GuidedStepArgs {
  /** The denoiser's output: `[uncond, cond]` (2 * count float32) when `guided`, else count float32. */
  readonly modelOutput: GPUBuffer;
  /** The latent x, count float32, overwritten with `sampleTerms` applied. */
  readonly sample: GPUBuffer;
  /** count float32, read (`fromAux`) and then overwritten with `auxTerms` applied. */
  readonly aux: GPUBuffer;
  /** count float32 of standard normal noise for this step; read always, so keep it finite. */
  readonly noise: GPUBuffer;
  readonly count: number;
  readonly guided: boolean;
  /** Classifier-free guidance scale; read only when `guided`. */
  readonly guidance: number;
  readonly sampleTerms: StepTerms;
  readonly auxTerms: StepTerms;
  /** The layout the model output is in; absent, the latent's own. */
  readonly packing?: Packing;
}

const termFields = (t: StepTerms) =>
  [
    ['f32', t.fromSample],
    ['f32', t.fromOutput],
    ['f32', t.fromAux],
    ['f32', t.fromNoise],
  ] as const;

/**
 * Guidance plus one linear scheduler step on the GPU; see guided-step.wgsl for the equations.
 * @throws RangeError when a buffer is too small for `count`
 */
export function guidedStep(device: GPUDevice, args: GuidedStepArgs): void {
  const { modelOutput, sample, aux, noise, count, guided } = args;
  runElementwise(
    device,
    kernel,
    packParams([
      ['u32', count],
      ['u32', guided ? 1 : 0],
      ['f32', args.guidance],
      ['u32', 0],
      ...termFields(args.sampleTerms),
      ...termFields(args.auxTerms),
      ...packingFields(args.packing ?? UNPACKED),
    ]),
    [
      { buffer: modelOutput, elements: (guided ? 2 : 1) * count },
      { buffer: sample, elements: count },
      { buffer: aux, elements: count },
      { buffer: noise, elements: count },
    ],
    count,
  );
}

import { packParams, runElementwise } from './compute.ts';
import code from './guided-step.wgsl?raw';

const kernel = { code, label: 'guided-step' };

export interface GuidedStepArgs {
  /** The UNet's output: `[uncond, cond]` (2 * count float32) when `guided`, else count float32. */
  readonly modelOutput: GPUBuffer;
  /** The latent x, count float32, overwritten with the step's prevSample. */
  readonly sample: GPUBuffer;
  /** Receives `auxFromSample * x + auxFromOutput * eps`, count float32. */
  readonly aux: GPUBuffer;
  readonly count: number;
  readonly guided: boolean;
  /** Classifier-free guidance scale; read only when `guided`. */
  readonly guidance: number;
  readonly prevFromSample: number;
  readonly prevFromOutput: number;
  readonly auxFromSample: number;
  readonly auxFromOutput: number;
}

/**
 * Guidance plus one linear scheduler step on the GPU; see guided-step.wgsl for the equations.
 * @throws RangeError when a buffer is too small for `count`
 */
export function guidedStep(device: GPUDevice, args: GuidedStepArgs): void {
  const { modelOutput, sample, aux, count, guided } = args;
  runElementwise(
    device,
    kernel,
    packParams([
      ['u32', count],
      ['u32', guided ? 1 : 0],
      ['f32', args.guidance],
      ['f32', args.prevFromSample],
      ['f32', args.prevFromOutput],
      ['f32', args.auxFromSample],
      ['f32', args.auxFromOutput],
    ]),
    [
      { buffer: modelOutput, elements: (guided ? 2 : 1) * count },
      { buffer: sample, elements: count },
      { buffer: aux, elements: count },
    ],
    count,
  );
}

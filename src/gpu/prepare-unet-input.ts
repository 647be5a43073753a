import { packParams, runElementwise } from './compute.ts';
import { packingFields, UNPACKED, withPacking, type Packing } from './patch-index.ts';
import code from './prepare-unet-input.wgsl?raw';

const kernel = { code: withPacking(code), label: 'prepare-unet-input' };

export interface PrepareUnetInputArgs {
  /** The current latent x, `count` float32. */
  readonly sample: GPUBuffer;
  /** The UNet's `sample` input, `copies * count` float32. */
  readonly modelInput: GPUBuffer;
  readonly count: number;
  /** 2 when guidance batches the unconditional and conditional passes, else 1. */
  readonly copies: 1 | 2;
  /** The scheduler's `inputScale` for this step. */
  readonly inputScale: number;
  /** The layout the denoiser takes; absent, the latent's own. */
  readonly packing?: Packing;
}

/**
 * Writes `inputScale * x` into every batch entry of the denoiser's input, in its layout.
 * @throws RangeError when a buffer is too small for `count` (times `copies`)
 */
export function prepareUnetInput(device: GPUDevice, args: PrepareUnetInputArgs): void {
  const { sample, modelInput, count, copies, inputScale } = args;
  runElementwise(
    device,
    kernel,
    packParams([['u32', count], ['u32', copies], ['f32', inputScale], ['u32', 0], ...packingFields(args.packing ?? UNPACKED)]),
    [
      { buffer: sample, elements: count },
      { buffer: modelInput, elements: copies * count },
    ],
    count,
  );
}

import { packParams, runElementwise } from './compute.ts';
import code from './prepare-unet-input.wgsl?raw';

const kernel = { code, label: 'prepare-unet-input' };

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
}

/**
 * Writes `inputScale * x` into every batch entry of the UNet input.
 * @throws RangeError when a buffer is too small for `count` (times `copies`)
 */
export function prepareUnetInput(device: GPUDevice, args: PrepareUnetInputArgs): void {
  const { sample, modelInput, count, copies, inputScale } = args;
  runElementwise(
    device,
    kernel,
    packParams([
      ['u32', count],
      ['u32', copies],
      ['f32', inputScale],
    ]),
    [
      { buffer: sample, elements: count },
      { buffer: modelInput, elements: copies * count },
    ],
    count,
  );
}

import { packParams, runElementwise } from './compute.ts';
import code from './blend-masked.wgsl?raw';

const kernel = { code, label: 'blend-masked' };

export interface BlendMaskedArgs {
  /** One weight per latent cell: 1 repaints, 0 keeps the source. */
  readonly mask: GPUBuffer;
  /** The source's latent and the noise it was started with, `count` float32 each. */
  readonly source: GPUBuffer;
  readonly noise: GPUBuffer;
  /** The latent to blend in place, `count` float32. */
  readonly target: GPUBuffer;
  readonly count: number;
  readonly cells: number;
  /** The source at this step's noise level: fromSource * source + fromNoise * noise. */
  readonly fromSource: number;
  readonly fromNoise: number;
}

/**
 * Puts the source back, at the step's noise level, wherever the mask keeps it.
 * @throws RangeError when a buffer is too small
 */
export function blendMasked(device: GPUDevice, { mask, source, noise, target, count, cells, fromSource, fromNoise }: BlendMaskedArgs): void {
  runElementwise(
    device,
    kernel,
    packParams([
      ['u32', count],
      ['u32', cells],
      ['f32', fromSource],
      ['f32', fromNoise],
    ]),
    [
      { buffer: mask, elements: cells },
      { buffer: source, elements: count },
      { buffer: noise, elements: count },
      { buffer: target, elements: count },
    ],
    count,
  );
}

/** The same blend on the CPU: the CPU loop's, and the kernel's reference. */
export function blendMaskedCpu(
  target: Float32Array,
  mask: Float32Array,
  source: Float32Array,
  noise: Float32Array,
  fromSource: number,
  fromNoise: number,
): void {
  const cells = mask.length;
  for (let i = 0; i < target.length; i++) {
    const m = mask[i % cells]!;
    target[i] = m * target[i]! + (1 - m) * (fromSource * source[i]! + fromNoise * noise[i]!);
  }
}

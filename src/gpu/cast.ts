import { packParams, runElementwise } from './compute.ts';
import code from './cast.wgsl?raw';

const kernel = { code, label: 'cast' };

export interface CastArgs {
  /** `count` float32 values. */
  readonly wide: GPUBuffer;
  /** `count` float16 values, two to a 4-byte word. */
  readonly half: GPUBuffer;
  readonly count: number;
  /** 'to-half': wide -> half; 'to-float': half -> wide. */
  readonly direction: 'to-half' | 'to-float';
}

/** Bytes a float16 buffer of `count` values needs (whole 4-byte words). */
export function halfBufferBytes(count: number): number {
  return Math.ceil(count / 2) * 4;
}

/**
 * Converts between float32 and float16 buffers on the GPU (round to nearest even).
 * @throws RangeError when a buffer is too small for `count` values
 */
export function castOnGpu(device: GPUDevice, { wide, half, count, direction }: CastArgs): void {
  const pairs = Math.ceil(count / 2);
  runElementwise(
    device,
    kernel,
    packParams([
      ['u32', count],
      ['u32', direction === 'to-half' ? 1 : 0],
    ]),
    [
      { buffer: wide, elements: count },
      { buffer: half, elements: pairs },
    ],
    pairs,
  );
}

import { packParams, runElementwise } from './compute.ts';
import code from './latent-to-image.wgsl?raw';

const kernel = { code, label: 'latent-to-image' };

export interface LatentToImageArgs {
  /** The VAE decoder's output, planar [3, height, width] float32 in [-1, 1]. */
  readonly image: GPUBuffer;
  /**
   * Receives width * height RGBA8 pixels, one u32 each, then one u32 counting the pixels with a
   * NaN or infinite value; zeroed beforehand (a new buffer is).
   */
  readonly rgba: GPUBuffer;
  readonly pixels: number;
}

/**
 * Turns the decoder's output into RGBA8 pixels on the GPU, so the finished picture is the only
 * thing read back; see latent-to-image.wgsl for the exact rounding.
 * @throws RangeError when a buffer is too small for `pixels`
 */
export function latentToImage(device: GPUDevice, args: LatentToImageArgs): void {
  const { image, rgba, pixels } = args;
  runElementwise(
    device,
    kernel,
    packParams([['u32', pixels]]),
    [
      { buffer: image, elements: 3 * pixels },
      { buffer: rgba, elements: pixels + 1 },
    ],
    pixels,
  );
}

import { createStorageBuffer } from './device.ts';
import { packParams, runElementwise } from './compute.ts';
import code from './latent-affine.wgsl?raw';

const kernel = { code, label: 'latent-affine' };

/**
 * out = x * scale[k] + offset[k] over a planar [channels, height, width] latent, k the channel
 * of a `patch` x `patch` patch (channel-major inside it; patch 1: the latent channel).
 */
export interface LatentAffine {
  readonly scale: Float32Array<ArrayBuffer>;
  readonly offset: Float32Array<ArrayBuffer>;
  readonly patch: number;
}

/** Index of the statistics that apply to value `i` of a [channels, height, width] latent. */
function statIndex(i: number, height: number, width: number, patch: number): number {
  const cells = height * width;
  const c = Math.floor(i / cells);
  const y = Math.floor((i % cells) / width);
  const x = i % width;
  return c * patch * patch + (y % patch) * patch + (x % patch);
}

/**
 * Applies the map in place to `count` values of `latent` on the GPU.
 * @throws RangeError when a buffer is too small
 */
export function latentAffine(device: GPUDevice, latent: GPUBuffer, count: number, height: number, width: number, map: LatentAffine): void {
  const scale = createStorageBuffer(device, 'latent affine scale', map.scale.byteLength, map.scale);
  const offset = createStorageBuffer(device, 'latent affine offset', map.offset.byteLength, map.offset);
  try {
    runElementwise(
      device,
      kernel,
      packParams([
        ['u32', count],
        ['u32', height],
        ['u32', width],
        ['u32', map.patch],
      ]),
      [
        { buffer: scale, elements: map.scale.length },
        { buffer: offset, elements: map.offset.length },
        { buffer: latent, elements: count },
      ],
      count,
    );
  } finally {
    // Destroying after submit is allowed: the submitted work still sees the buffers.
    scale.destroy();
    offset.destroy();
  }
}

/** The same map on the CPU: the CPU loop's, and the kernel's reference. */
export function latentAffineCpu(latent: Float32Array, height: number, width: number, map: LatentAffine): void {
  for (let i = 0; i < latent.length; i++) {
    const k = statIndex(i, height, width, map.patch);
    latent[i] = latent[i]! * map.scale[k]! + map.offset[k]!;
  }
}

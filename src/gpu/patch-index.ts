/**
 * The latent layout a denoiser takes: as is, or packed into patches (patch-index.wgsl, which
 * the kernels that read or write the denoiser's tensors prepend to their own source). The CPU
 * side (`packedIndex`, `packLatents`, `unpackLatents`) is the same map, for the 'wasm' loop and
 * as the kernels' reference.
 */
import code from './patch-index.wgsl?raw';

/** A latent's shape per picture and its patch side (0: not packed; 1: tokens by channels). */
export interface Packing {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly patch: number;
}

/** The latent's own layout: packed_index(i) = i. */
export const UNPACKED: Packing = { channels: 1, height: 1, width: 1, patch: 0 };

/** Whether the layout is packed tokens (not the latent's own [batch, C, H, W]). */
export function isPacked(k: Packing): boolean {
  return k.patch !== 0;
}

/** Prepends the WGSL `packed_index` to a kernel's source. */
export function withPacking(kernelCode: string): string {
  return `${code}\n${kernelCode}`;
}

/** The `Packing` uniform fields, in the WGSL struct's order. */
export function packingFields(k: Packing): (readonly ['u32', number])[] {
  return [
    ['u32', k.channels],
    ['u32', k.height],
    ['u32', k.width],
    ['u32', k.patch],
  ];
}

/** Where element i of [batch, C, H, W] latents sits in the packed layout (patch-index.wgsl's `packed_index`). */
export function packedIndex(i: number, k: Packing): number {
  if (k.patch === 0) return i;
  const plane = k.height * k.width;
  const perPicture = k.channels * plane;
  const b = Math.floor(i / perPicture);
  const c = Math.floor((i % perPicture) / plane);
  const y = Math.floor((i % plane) / k.width);
  const x = i % k.width;
  const p = k.patch;
  const token = Math.floor(y / p) * (k.width / p) + Math.floor(x / p);
  return b * perPicture + token * (k.channels * p * p) + c * p * p + (y % p) * p + (x % p);
}

/** [batch, C, H, W] latents (any number of pictures) in the packed layout. */
export function packLatents(latents: Float32Array, k: Packing): Float32Array<ArrayBuffer> {
  const out = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) out[packedIndex(i, k)] = latents[i]!;
  return out;
}

/** The packed layout back to [batch, C, H, W]. */
export function unpackLatents(packed: Float32Array, k: Packing): Float32Array<ArrayBuffer> {
  const out = new Float32Array(packed.length);
  for (let i = 0; i < packed.length; i++) out[i] = packed[packedIndex(i, k)]!;
  return out;
}

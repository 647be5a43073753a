/**
 * The decoder's output to RGBA8 pixels on the CPU: the CPU backend's path, and the reference the
 * GPU kernel (src/gpu/latent-to-image.wgsl) is tested against.
 *
 * Every operation is rounded to float32 as the kernel's are, so both give the same byte:
 *   byte = floor(clamp((v + 1) * 127.5, 0, 255) + 0.5)
 */
import { NumericsError } from '../errors.ts';

export function decodedToRgba(image: Float32Array, width: number, height: number): Uint8ClampedArray<ArrayBuffer> {
  const pixels = width * height;
  if (image.length < 3 * pixels) {
    throw new RangeError(`decoded image holds ${image.length} values, needs 3 x ${width} x ${height}`);
  }
  const rgba = new Uint8ClampedArray(4 * pixels);
  for (let i = 0; i < pixels; i++) {
    for (let channel = 0; channel < 3; channel++) {
      rgba[4 * i + channel] = toByte(image[channel * pixels + i]!);
    }
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

/** Pixels of a decoded [3, H, W] image with a NaN or infinite value in any channel. */
export function countNonFinite(image: Float32Array, pixels: number): number {
  let count = 0;
  for (let i = 0; i < pixels; i++) {
    if (!Number.isFinite(image[i]!) || !Number.isFinite(image[pixels + i]!) || !Number.isFinite(image[2 * pixels + i]!)) count++;
  }
  return count;
}

/**
 * @throws NumericsError when `nonFinite` pixels (of `pixels`) had a NaN or infinite value: the
 *   model's numbers broke down, and a black or speckled picture would hide it
 */
export function checkFinite(nonFinite: number, pixels: number): void {
  if (nonFinite === 0) return;
  throw new NumericsError(`The model produced NaN or infinite values in ${nonFinite} of ${pixels} pixels (a float16 overflow, or a broken export?)`, {
    count: nonFinite,
    pixels,
  });
}

function toByte(v: number): number {
  const scaled = Math.fround(Math.fround(v + 1) * 127.5);
  const clamped = Math.min(Math.max(scaled, 0), 255);
  return Math.floor(Math.fround(clamped + 0.5));
}

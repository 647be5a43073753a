/**
 * Pictures given to a request (the source of image-to-image, an inpainting mask) turned into
 * what the pipeline uses: RGBA at the model's resolution, the VAE encoder's planar [-1, 1]
 * input, and a mask per latent cell.
 */
import type { ImageInput } from '../api.ts';
import { InvalidRequestError } from '../errors.ts';

function isPixels(input: ImageInput): input is { width: number; height: number; pixels: Uint8ClampedArray | Uint8Array } {
  return typeof input === 'object' && input !== null && 'pixels' in input;
}

/**
 * `input` as RGBA bytes at `width` x `height`, scaled to fit exactly (a source of another size is
 * stretched, as the popular UIs' "just resize" does).
 * @param field the request field, for messages
 * @throws InvalidRequestError when the input is not a picture the browser can decode
 */
export async function rgbaAt(input: ImageInput, width: number, height: number, field: string): Promise<Uint8ClampedArray<ArrayBuffer>> {
  if (isPixels(input)) {
    const { width: w, height: h, pixels } = input;
    if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0 || pixels.length !== w * h * 4) {
      throw new InvalidRequestError(`${field} must hold width x height x 4 RGBA bytes; got ${pixels.length} bytes for ${w}x${h}`, { field });
    }
    if (w === width && h === height) return new Uint8ClampedArray(pixels);
    return rgbaAt(new ImageData(new Uint8ClampedArray(pixels), w, h), width, height, field);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(input as ImageBitmapSource, { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' });
  } catch (error) {
    throw new InvalidRequestError(`${field} is not a picture the browser can decode: ${(error as Error).message}`, { field }, { cause: error });
  }
  try {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (context === null) throw new Error('no 2D context for an OffscreenCanvas');
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, width, height).data;
  } finally {
    bitmap.close();
  }
}

/** RGBA bytes as the VAE encoder's input: planar [3, height, width], each value (byte / 127.5) - 1. */
export function rgbaToPlanar(rgba: Uint8ClampedArray, width: number, height: number): Float32Array<ArrayBuffer> {
  const pixels = width * height;
  const planar = new Float32Array(3 * pixels);
  for (let i = 0; i < pixels; i++) {
    for (let channel = 0; channel < 3; channel++) planar[channel * pixels + i] = rgba[4 * i + channel]! / 127.5 - 1;
  }
  return planar;
}

/** How much of each pixel a mask repaints, 0..1: its brightness (white repaints, black keeps). */
export function maskWeights(rgba: Uint8ClampedArray, pixels: number): Float32Array<ArrayBuffer> {
  const weights = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) weights[i] = (rgba[4 * i]! + rgba[4 * i + 1]! + rgba[4 * i + 2]!) / (3 * 255);
  return weights;
}

/**
 * A pixel mask per latent cell: a cell is repainted (1) when any of its pixels is more than half
 * repainted, so the model can redraw everything the mask touches; else kept (0).
 */
export function latentMask(weights: Float32Array, width: number, height: number, downsample: number): Float32Array<ArrayBuffer> {
  const [w, h] = [width / downsample, height / downsample];
  const mask = new Float32Array(w * h);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (weights[y * width + x]! > 0.5) mask[Math.floor(y / downsample) * w + Math.floor(x / downsample)] = 1;
    }
  }
  return mask;
}

/**
 * Pastes the source back where the mask keeps it: out = source + weight * (generated - source),
 * so pixels outside the mask are the source's exactly (the VAE's round trip would blur them).
 */
export function compositeMasked(generated: Uint8ClampedArray<ArrayBuffer>, source: Uint8ClampedArray, weights: Float32Array): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(generated.length);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    for (let channel = 0; channel < 3; channel++) {
      const k = 4 * i + channel;
      out[k] = Math.round(source[k]! + w * (generated[k]! - source[k]!));
    }
    out[4 * i + 3] = 255;
  }
  return out;
}

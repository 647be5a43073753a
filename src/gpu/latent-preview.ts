import { packParams, runElementwise } from './compute.ts';
import code from './latent-preview.wgsl?raw';

const kernel = { code, label: 'latent-preview' };

/** A latent-to-RGB map: one RGB row per latent channel (at most 4), and a bias. */
export interface PreviewMap {
  readonly rgbFactors: readonly (readonly number[])[];
  readonly rgbBias: readonly number[];
}

/**
 * Maps the first picture's latent (planar [channels, cells]) to RGBA8, one u32 per cell.
 * @throws RangeError when a buffer is too small, or the map has more than 4 channels
 */
export function latentPreview(
  device: GPUDevice,
  args: { readonly latent: GPUBuffer; readonly rgba: GPUBuffer; readonly cells: number; readonly map: PreviewMap },
): void {
  const { latent, rgba, cells, map } = args;
  const channels = map.rgbFactors.length;
  if (channels > 4) throw new RangeError(`a preview map has at most 4 channels, got ${channels}`);
  const rows = Array.from({ length: 4 }, (_, c) => map.rgbFactors[c] ?? [0, 0, 0]);
  const params = packParams([
    ['u32', cells],
    ['u32', channels],
    ['u32', 0],
    ['u32', 0],
    ...[...map.rgbBias, 0].map((v) => ['f32', v] as const),
    ...rows.flatMap((row) => [...row, 0].map((v) => ['f32', v] as const)),
  ]);
  runElementwise(
    device,
    kernel,
    params,
    [
      { buffer: latent, elements: channels * cells },
      { buffer: rgba, elements: cells },
    ],
    cells,
  );
}

/** The same map on the CPU: the CPU loop's previews, and the kernel's reference. */
export function latentPreviewCpu(latent: Float32Array, cells: number, map: PreviewMap): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(cells * 4);
  const toByte = (v: number): number => Math.floor(Math.min(Math.max(Math.fround(Math.fround(v + 1) * 127.5), 0), 255) + 0.5);
  for (let i = 0; i < cells; i++) {
    const rgb = [map.rgbBias[0]!, map.rgbBias[1]!, map.rgbBias[2]!];
    map.rgbFactors.forEach((row, c) => {
      for (let k = 0; k < 3; k++) rgb[k] = Math.fround(rgb[k]! + Math.fround(latent[c * cells + i]! * row[k]!));
    });
    out.set([toByte(rgb[0]!), toByte(rgb[1]!), toByte(rgb[2]!), 255], i * 4);
  }
  return out;
}

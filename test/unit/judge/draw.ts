/**
 * Draws tiny-shapes pictures the way models/tiny-shapes/training/data.py renders its training
 * data: one filled shape of side/diameter `sizeFraction * 64` on a plain background, edges
 * anti-aliased by 4x4 supersampling.
 */
import { PALETTE, type PaletteColor, type ShapeKind } from '../../support/judge.ts';

export interface Scene {
  readonly color: PaletteColor;
  readonly shape: ShapeKind;
  readonly background: PaletteColor;
  /** Side (square, triangle base and height) or diameter, as a fraction of the picture side. */
  readonly sizeFraction: number;
  /** Placement in [0, 1] along x and y; the shape always lies fully inside. */
  readonly fx: number;
  readonly fy: number;
}

const SUPERSAMPLE = 4;

function covers(shape: ShapeKind, cx: number, cy: number, side: number, x: number, y: number): boolean {
  const h = side / 2;
  if (shape === 'circle') return (x - cx) ** 2 + (y - cy) ** 2 <= h * h;
  if (shape === 'square') return Math.abs(x - cx) <= h && Math.abs(y - cy) <= h;
  // Isosceles, pointing up, base = height = side.
  const top = cy - h;
  return y >= top && y <= cy + h && Math.abs(x - cx) <= ((y - top) / side) * h;
}

/** RGBA pixels of the scene, `size` x `size`. */
export function drawScene(scene: Scene, size = 64): Uint8ClampedArray {
  const side = scene.sizeFraction * size;
  const cx = side / 2 + scene.fx * (size - side);
  const cy = side / 2 + scene.fy * (size - side);
  const fg = PALETTE[scene.color];
  const bg = PALETTE[scene.background];
  const pixels = new Uint8ClampedArray(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = px + (sx + 0.5) / SUPERSAMPLE;
          const y = py + (sy + 0.5) / SUPERSAMPLE;
          if (covers(scene.shape, cx, cy, side, x, y)) hits++;
        }
      }
      const cover = hits / SUPERSAMPLE ** 2;
      const o = 4 * (py * size + px);
      fg.forEach((f, ch) => (pixels[o + ch] = Math.round(cover * f + (1 - cover) * bg[ch]!)));
      pixels[o + 3] = 255;
    }
  }
  return pixels;
}

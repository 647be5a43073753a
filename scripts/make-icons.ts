/**
 * Draws the demo's app icons (public/icons/): what the tiny-shapes model draws, a coloured
 * circle and triangle on a plain background. `any` icons fill the square with rounded corners;
 * the maskable icon keeps its shapes inside the centre circle of 80% that every mask leaves.
 *
 *   npx tsx scripts/make-icons.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { REPO_ROOT } from './lib/browser.ts';

type Rgb = readonly [number, number, number];

const BACKGROUND: Rgb = [47, 91, 211];
const CIRCLE: Rgb = [250, 204, 21];
const TRIANGLE: Rgb = [239, 68, 68];

/** One icon, `size` pixels square; its shapes drawn inside the central `safe` fraction. */
function icon(size: number, shapes: { safe: number; rounded: boolean }): PNG {
  const png = new PNG({ width: size, height: size });
  const { safe, rounded } = shapes;
  // Shapes drawn in the central `safe` fraction of the square.
  const s = (t: number): number => 0.5 + (t - 0.5) * safe;
  const circle = { x: s(0.38), y: s(0.4), r: 0.22 * safe };
  const triangle = { top: [s(0.66), s(0.36)], left: [s(0.42), s(0.8)], right: [s(0.9), s(0.8)] } as const;
  const corner = 0.18;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) / size;
      const y = (py + 0.5) / size;
      let colour: Rgb | undefined = BACKGROUND;
      if (rounded) {
        const cx = Math.min(Math.max(x, corner), 1 - corner);
        const cy = Math.min(Math.max(y, corner), 1 - corner);
        if (Math.hypot(x - cx, y - cy) > corner) colour = undefined;
      }
      if (colour !== undefined && inTriangle(x, y, triangle.top, triangle.left, triangle.right)) colour = TRIANGLE;
      if (colour !== undefined && Math.hypot(x - circle.x, y - circle.y) <= circle.r) colour = CIRCLE;
      const offset = (py * size + px) * 4;
      png.data[offset] = colour?.[0] ?? 0;
      png.data[offset + 1] = colour?.[1] ?? 0;
      png.data[offset + 2] = colour?.[2] ?? 0;
      png.data[offset + 3] = colour === undefined ? 0 : 255;
    }
  }
  return png;
}

function inTriangle(x: number, y: number, a: readonly number[], b: readonly number[], c: readonly number[]): boolean {
  const side = (p: readonly number[], q: readonly number[]): number => (q[0]! - p[0]!) * (y - p[1]!) - (q[1]! - p[1]!) * (x - p[0]!);
  const [ab, bc, ca] = [side(a, b), side(b, c), side(c, a)];
  return (ab >= 0 && bc >= 0 && ca >= 0) || (ab <= 0 && bc <= 0 && ca <= 0);
}

const dir = join(REPO_ROOT, 'public/icons');
mkdirSync(dir, { recursive: true });
const icons = {
  'icon-192.png': icon(192, { safe: 1, rounded: true }),
  'icon-512.png': icon(512, { safe: 1, rounded: true }),
  'maskable-512.png': icon(512, { safe: 0.8, rounded: false }),
};
for (const [name, png] of Object.entries(icons)) {
  writeFileSync(join(dir, name), PNG.sync.write(png));
  console.log(`public/icons/${name}`);
}

/**
 * Image-to-image and inpainting on tiny-shapes, judged: a red square turned into the blue square
 * on red the prompt asks for, and a mask that lets the model change only its own region. On
 * WebGPU (the GPU loop, the blend kernel) and on the CPU backend (the reference loop).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeImage } from '../support/judge.ts';
import type { PageImage, PagePicture, PageRequest } from '../pages/pipeline-page.ts';
import { useBrowserPage } from '../support/browser.ts';
import { drawScene } from '../unit/judge/draw.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';
const GENERATION_MS = 300_000;
const SIZE = 64;

const browser = useBrowserPage('/test/pages/pipeline.html', {
  ready: (page) => page.waitForFunction(() => window.pipelinePage !== undefined),
});

beforeAll(async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    await browser.page.evaluate(([url, b]) => window.pipelinePage!.load(url, b), [MODEL_URL, backend] as const);
  }
}, 240_000);

function generate(backend: 'webgpu' | 'wasm', request: PageRequest): Promise<PageImage> {
  return browser.page.evaluate(([b, r]) => window.pipelinePage!.generate(b, r), [backend, request] as const);
}

function picture(pixels: Uint8ClampedArray): PagePicture {
  return { width: SIZE, height: SIZE, pixels: Array.from(pixels) };
}

const redSquare = picture(drawScene({ color: 'red', shape: 'square', background: 'blue', sizeFraction: 0.5, fx: 0.5, fy: 0.5 }));

/** White (repaint) over the left half, black (keep) elsewhere. */
function leftHalfMask(): PagePicture {
  const pixels = new Uint8ClampedArray(SIZE * SIZE * 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const value = x < SIZE / 2 ? 255 : 0;
      pixels.set([value, value, value, 255], (y * SIZE + x) * 4);
    }
  }
  return picture(pixels);
}

describe('image-to-image', () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    it(
      `${backend}: a red square on blue, prompted "a blue square on a red background" at strength 0.8, becomes a blue square on red`,
      async () => {
        const image = await generate(backend, { prompt: 'a blue square on a red background', seed: 5, image: redSquare, strength: 0.8 });
        expect(judgeImage(new Uint8ClampedArray(image.pixels), image.width, image.height)).toMatchObject({ color: 'blue', shape: 'square', background: 'red' });
        // 20 steps at strength 0.8 run the last 16, and progress counts those.
        expect(image.request).toMatchObject({ strength: 0.8, source: 'image', steps: 20 });
        const denoising = image.progress.filter((p) => p.phase === 'denoising');
        expect(denoising.map((p) => p.step)).toEqual(Array.from({ length: 16 }, (_, k) => k + 1));
        expect(denoising.every((p) => p.steps === 16)).toBe(true);
      },
      GENERATION_MS,
    );
  }

  it(
    'at a low strength keeps the picture much as it was',
    async () => {
      const image = await generate('webgpu', { prompt: 'a blue square on a red background', seed: 5, image: redSquare, strength: 0.1 });
      expect(judgeImage(new Uint8ClampedArray(image.pixels), image.width, image.height)).toMatchObject({ color: 'red', shape: 'square', background: 'blue' });
    },
    GENERATION_MS,
  );
});

describe('inpainting', () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    it(
      `${backend}: changes only the masked region`,
      async () => {
        // A plain white picture; the model may paint only into the left half.
        const source = picture(drawScene({ color: 'white', shape: 'circle', background: 'white', sizeFraction: 0.4, fx: 0.5, fy: 0.5 }));
        const image = await generate(backend, { prompt: 'a black circle on a white background', seed: 2, image: source, mask: leftHalfMask() });
        expect(image.request).toMatchObject({ source: 'inpainting', strength: 1 });
        let outsideMax = 0;
        let insideChanged = 0;
        for (let y = 0; y < SIZE; y++) {
          for (let x = 0; x < SIZE; x++) {
            for (let c = 0; c < 3; c++) {
              const k = (y * SIZE + x) * 4 + c;
              const difference = Math.abs(image.pixels[k]! - source.pixels[k]!);
              if (x >= SIZE / 2) outsideMax = Math.max(outsideMax, difference);
              else if (difference > 64) insideChanged++;
            }
          }
        }
        // Outside the mask: the source, within a small tolerance. Inside: the model drew something.
        expect(outsideMax).toBeLessThanOrEqual(2);
        expect(insideChanged).toBeGreaterThan(50);
      },
      GENERATION_MS,
    );
  }

  it('refuses a mask without a picture, and a strength out of range, before any work', async () => {
    const outcome = await browser.page.evaluate(async () => {
      const attempts: string[] = [];
      for (const request of [
        { prompt: 'a red circle', mask: { width: 1, height: 1, pixels: [0, 0, 0, 255] } },
        { prompt: 'a red circle', image: { width: 1, height: 1, pixels: [0, 0, 0, 255] }, strength: 1.5 },
        { prompt: 'a red circle', strength: 0.5 },
      ]) {
        try {
          await window.pipelinePage!.generate('wasm', request as never);
          attempts.push('ran');
        } catch (error) {
          attempts.push((error as Error).message);
        }
      }
      return attempts;
    });
    expect(outcome[0]).toMatch(/mask must be given with an image/);
    expect(outcome[1]).toMatch(/strength must be a number in \(0, 1\]/);
    expect(outcome[2]).toMatch(/strength must be given with an image/);
  });
});

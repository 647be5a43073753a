/**
 * tiny-shapes-flow, the diffusion transformer trained with rectified flow, through the engine in
 * headless Chromium: judged pictures at the model's defaults (flow Euler, 8 steps), image-to-image
 * (a flow model noises the source by interpolation), a batch, cancel, previews, and the GPU loop
 * (packed patches read and written by our kernels) against the CPU loop. Judged on the CPU
 * backend (fast here), as test/e2e/schedulers.test.ts explains.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeImage } from '../support/judge.ts';
import { fullyCorrect as correct, judgedFraction, maxDifference } from '../support/judged-runs.ts';
import type { PageImage, PagePicture, PageRequest } from '../pages/pipeline-page.ts';
import { useBrowserPage } from '../support/browser.ts';
import { drawScene } from '../unit/judge/draw.ts';

const MODEL_URL = '/models/tiny-shapes-flow/manifest.json';
const GENERATION_MS = 300_000;

const browser = useBrowserPage('/test/pages/pipeline.html', {
  ready: (page) => page.waitForFunction(() => window.pipelinePage !== undefined),
});

beforeAll(async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    await browser.page.evaluate(([url, b]) => window.pipelinePage!.load(url, b), [MODEL_URL, backend] as const);
  }
}, 240_000);

function generate(backend: 'webgpu' | 'wasm', request: PageRequest, previews = false): Promise<PageImage> {
  return browser.page.evaluate(([b, r, p]) => window.pipelinePage!.generate(b, r, p), [backend, request, previews] as const);
}

describe('tiny-shapes-flow at its defaults (flow_turbo, 8 steps, guidance 2)', () => {
  it(
    'draws at least 90% of 24 prompts fully right',
    async () => {
      const fraction = await judgedFraction('tiny-shapes-flow at its defaults', async (prompt, seed) => {
        const image = await generate('wasm', { prompt, seed });
        expect(image.request).toMatchObject({ scheduler: 'flow_turbo', steps: 8 });
        return image;
      });
      expect(fraction).toBeGreaterThanOrEqual(0.9);
    },
    GENERATION_MS,
  );

  it(
    "on WebGPU gives the CPU loop's picture (packed patches in and out of the GPU kernels)",
    async () => {
      const request: PageRequest = { prompt: 'a yellow triangle on a purple background', seed: 3, steps: 4, guidance: 2 };
      const [gpu, cpu] = [await generate('webgpu', request), await generate('wasm', request)];
      expect(maxDifference(gpu.pixels, cpu.pixels)).toBeLessThanOrEqual(3);
      expect(correct(request.prompt, gpu)).toBe(true);
    },
    GENERATION_MS,
  );

  it(
    'sends a preview with each step but the last',
    async () => {
      const image = await generate('wasm', { prompt: 'a red circle on a blue background', seed: 1 }, true);
      const denoising = image.progress.filter((p) => p.phase === 'denoising');
      expect(denoising.map((p) => p.preview !== undefined)).toEqual([true, true, true, true, true, true, true, false]);
    },
    GENERATION_MS,
  );
});

describe('image-to-image on tiny-shapes-flow', () => {
  const picture = (pixels: Uint8ClampedArray): PagePicture => ({ width: 64, height: 64, pixels: Array.from(pixels) });
  const redSquare = picture(drawScene({ color: 'red', shape: 'square', background: 'blue', sizeFraction: 0.5, fx: 0.5, fy: 0.5 }));

  for (const backend of ['webgpu', 'wasm'] as const) {
    it(
      `${backend}: a red square on blue, prompted "a blue square on a red background" at strength 0.8, becomes a blue square on red`,
      async () => {
        const image = await generate(backend, { prompt: 'a blue square on a red background', seed: 5, image: redSquare, strength: 0.8 });
        expect(judgeImage(new Uint8ClampedArray(image.pixels), 64, 64)).toMatchObject({ color: 'blue', shape: 'square', background: 'red' });
        // 8 steps at strength 0.8 run the last 6.
        expect(image.progress.filter((p) => p.phase === 'denoising').map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
      },
      GENERATION_MS,
    );
  }

  // Measured here: with the Euler sampler and no guidance the source stays itself at strength
  // 0.25; guidance 2, or the re-noising sampler (which keeps only its own x0 estimate between
  // steps), already pulls this small model towards the prompt's colour or shape at t = 0.25.
  it(
    'at a low strength keeps the picture (the source noised only a little): flow_euler, no guidance',
    async () => {
      const image = await generate('wasm', {
        prompt: 'a green circle on a white background',
        seed: 5,
        image: redSquare,
        strength: 0.25,
        scheduler: 'flow_euler',
        guidance: 1,
      });
      expect(judgeImage(new Uint8ClampedArray(image.pixels), 64, 64)).toMatchObject({ color: 'red', shape: 'square', background: 'blue' });
    },
    GENERATION_MS,
  );
});

describe('batch and cancel on tiny-shapes-flow', () => {
  it(
    'a batch of 3 gives 3 different pictures, each judged right, seeds seed … seed + 2',
    async () => {
      const prompt = 'a green square on a white background';
      const images = await browser.page.evaluate((r) => window.pipelinePage!.generateBatch('wasm', r), { prompt, seed: 40, n: 3 });
      expect(images.map((image) => image.request.seed)).toEqual([40, 41, 42]);
      for (const image of images) expect(correct(prompt, image)).toBe(true);
      expect(new Set(images.map((image) => image.pixels.join(','))).size).toBe(3);
    },
    GENERATION_MS,
  );

  for (const backend of ['webgpu', 'wasm'] as const) {
    it(
      `${backend}: a cancel after 2 of 8 steps ends with CancelledError and no more steps`,
      async () => {
        const result = await browser.page.evaluate(([b]) => window.pipelinePage!.cancelAfter(b, { prompt: 'a red circle on a blue background', seed: 2 }, 2), [
          backend,
        ] as const);
        expect(result).toMatchObject({ error: 'CancelledError', seen: 2 });
      },
      GENERATION_MS,
    );
  }

  it('refuses a noise-prediction scheduler, naming the flow ones', async () => {
    const message = await browser.page.evaluate(async () => {
      try {
        await window.pipelinePage!.generate('wasm', { prompt: 'a red circle on a blue background', scheduler: 'ddim' });
        return 'ran';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    expect(message).toMatch(/does not fit a flow-matching model; use one of flow_euler, flow_turbo/);
  });
});

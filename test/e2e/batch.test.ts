/**
 * Batches: `generateBatch` with `n` pictures, each from its own seed (seed, seed + 1, …),
 * denoised together as one UNet batch. Judged on the CPU backend (fast here); on WebGPU, a batch
 * must give the very pictures its seeds give one at a time (noise terms included).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import type { PageImage, PageRequest } from '../pages/pipeline-page.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';
const GENERATION_MS = 400_000;

const browser = useBrowserPage('/test/pages/pipeline.html', {
  ready: (page) => page.waitForFunction(() => window.pipelinePage !== undefined),
});

beforeAll(async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    await browser.page.evaluate(([url, b]) => window.pipelinePage!.load(url, b), [MODEL_URL, backend] as const);
  }
}, 240_000);

function batch(backend: 'webgpu' | 'wasm', request: PageRequest): Promise<PageImage[]> {
  return browser.page.evaluate(([b, r]) => window.pipelinePage!.generateBatch(b, r), [backend, request] as const);
}

function single(backend: 'webgpu' | 'wasm', request: PageRequest): Promise<PageImage> {
  return browser.page.evaluate(([b, r]) => window.pipelinePage!.generate(b, r), [backend, request] as const);
}

describe('a batch', () => {
  it(
    'of 4 gives 4 different pictures, each judged correct, with seeds seed … seed + 3',
    async () => {
      const prompt = 'a green square on a white background';
      const images = await batch('wasm', { prompt, seed: 40, n: 4 });
      expect(images.map((image) => image.request.seed)).toEqual([40, 41, 42, 43]);
      for (const image of images) {
        const judged = judgeImage(new Uint8ClampedArray(image.pixels), image.width, image.height);
        expect(scoreJudgement(parsePrompt(prompt), judged).all, JSON.stringify(judged)).toBe(true);
      }
      const distinct = new Set(images.map((image) => image.pixels.join(',')));
      expect(distinct.size).toBe(4);
      // One event per shared step, then each picture's decoding with its index.
      const { progress } = images[0]!;
      expect(progress.filter((p) => p.phase === 'denoising')).toHaveLength(20);
      expect(progress.filter((p) => p.phase === 'decoding').map((p) => p.index)).toEqual([0, 1, 2, 3]);
    },
    GENERATION_MS,
  );

  it(
    'on WebGPU gives the pictures its seeds give alone (an ancestral sampler: per-picture step noise)',
    async () => {
      const request: PageRequest = { prompt: 'a red circle on a blue background', seed: 9, steps: 3, guidance: 2, scheduler: 'euler_a' };
      const [first, second] = await batch('webgpu', { ...request, n: 2 });
      const alone = [await single('webgpu', request), await single('webgpu', { ...request, seed: 10 })];
      for (const [together, apart] of [
        [first!, alone[0]!],
        [second!, alone[1]!],
      ] as const) {
        let max = 0;
        for (let k = 0; k < together.pixels.length; k++) max = Math.max(max, Math.abs(together.pixels[k]! - apart.pixels[k]!));
        expect(max).toBeLessThanOrEqual(2);
      }
    },
    GENERATION_MS,
  );

  it('is refused by generate() beyond one picture, and beyond 8 pictures', async () => {
    const errors = await browser.page.evaluate(async () => {
      const messages: string[] = [];
      for (const [method, n] of [
        ['generate', 2],
        ['generateBatch', 9],
      ] as const) {
        try {
          if (method === 'generate') await window.pipelinePage!.generate('wasm', { prompt: 'p', n });
          else await window.pipelinePage!.generateBatch('wasm', { prompt: 'p', n });
          messages.push('ran');
        } catch (error) {
          messages.push((error as Error).message);
        }
      }
      return messages;
    });
    expect(errors[0]).toMatch(/use generateBatch\(\) for several pictures/);
    expect(errors[1]).toMatch(/n must be an integer from 1 to 8; got 9/);
  });
});

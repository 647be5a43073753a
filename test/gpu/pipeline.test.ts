/**
 * A whole txt2img run on the bundled model in headless Chromium: the GPU-resident loop gives
 * a picture of the model's size, the same bytes for the same seed, and the picture of the CPU
 * reference loop (ONNX Runtime's CPU provider, the scheduler's CPU `step`) within rounding.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useBrowserPage } from '../support/browser.ts';
import type { PageImage, PageRequest } from '../pages/pipeline-page.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';

const browser = useBrowserPage('/test/pages/pipeline.html', {
  ready: (page) => page.waitForFunction(() => window.pipelinePage !== undefined),
});

function generate(backend: 'webgpu' | 'wasm', request: PageRequest): Promise<PageImage> {
  return browser.page.evaluate(([b, r]) => window.pipelinePage!.generate(b, r), [backend, request] as const);
}

/** Largest difference of one channel of one pixel, and the mean over all, in 8-bit levels. */
function difference(a: readonly number[], b: readonly number[]): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

beforeAll(async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    const info = await browser.page.evaluate(([url, b]) => window.pipelinePage!.load(url, b), [MODEL_URL, backend] as const);
    expect(info).toMatchObject({ id: 'tiny-shapes', width: 64, height: 64, backend });
  }
});

describe('txt2img on WebGPU', () => {
  // Few steps: a UNet evaluation takes seconds on SwiftShader. Guidance 4 runs the batch-of-2 path.
  const request: PageRequest = { prompt: 'a red circle on a blue background', seed: 42, steps: 3, guidance: 4 };
  let first: PageImage;

  it('produces a 64x64 RGBA picture, reporting every phase and step', async () => {
    first = await generate('webgpu', request);
    expect(first.width).toBe(64);
    expect(first.height).toBe(64);
    expect(first.pixels).toHaveLength(64 * 64 * 4);
    expect(first.request).toEqual({ ...request, negativePrompt: '', scheduler: 'ddim', width: 64, height: 64 });
    expect(first.progress.map((p) => `${p.phase}:${p.step}/${p.steps}`)).toEqual([
      'encoding:0/3',
      'denoising:1/3',
      'denoising:2/3',
      'denoising:3/3',
      'decoding:0/3',
    ]);
    // Not one flat colour: the decoder made a picture of something.
    expect(new Set(first.pixels).size).toBeGreaterThan(16);
    console.log('webgpu timings (ms)', first.timings);
  });

  it('gives identical bytes for the same request and seed', async () => {
    const again = await generate('webgpu', request);
    expect(again.pixels).toEqual(first.pixels);
  });

  it('matches the CPU reference loop with guidance (batch of 2)', async () => {
    const reference = await generate('wasm', request);
    const { max, mean } = difference(first.pixels, reference.pixels);
    console.log('guided: GPU vs CPU difference in levels', { max, mean });
    expect(max).toBeLessThanOrEqual(2);
    expect(mean).toBeLessThan(0.05);
  });

  it('matches the CPU reference loop without guidance (batch of 1), with Euler', async () => {
    const unguided: PageRequest = { prompt: 'a green triangle on a white background', seed: 7, steps: 2, guidance: 0, scheduler: 'euler' };
    const [gpu, cpu] = [await generate('webgpu', unguided), await generate('wasm', unguided)];
    const { max, mean } = difference(gpu.pixels, cpu.pixels);
    console.log('unguided: GPU vs CPU difference in levels', { max, mean });
    expect(max).toBeLessThanOrEqual(2);
    expect(mean).toBeLessThan(0.05);
  });

  // The kernel's noise and history terms: fresh seeded noise uploaded each step (Euler
  // ancestral, LCM, Turbo) and the previous denoised estimate kept in aux (DPM++ 2M), on the
  // last step too, where aux becomes the decoder's input.
  it.each([
    ['euler_a', 3],
    ['dpmpp_2m_karras', 3],
    ['lcm', 2],
    ['turbo', 2],
  ] as const)('matches the CPU reference loop with %s (%i steps)', async (scheduler, steps) => {
    const stochastic: PageRequest = { prompt: 'a blue square on a yellow background', seed: 11, steps, guidance: 0, scheduler };
    const [gpu, cpu] = [await generate('webgpu', stochastic), await generate('wasm', stochastic)];
    const { max, mean } = difference(gpu.pixels, cpu.pixels);
    console.log(`${scheduler}: GPU vs CPU difference in levels`, { max, mean });
    expect(max).toBeLessThanOrEqual(2);
    expect(mean).toBeLessThan(0.05);
  });
});

describe('previews', () => {
  it('come with every denoising step but the last, at the latent size, and show the picture taking shape', async () => {
    const request: PageRequest = { prompt: 'a yellow square on a purple background', seed: 3, steps: 6, guidance: 2 };
    for (const backend of ['webgpu', 'wasm'] as const) {
      const image = await browser.page.evaluate(([b, r]) => window.pipelinePage!.generate(b, r, true), [backend, request] as const);
      const previews = image.progress.filter((p) => p.preview !== undefined).map((p) => ({ step: p.step, ...p.preview! }));
      expect(previews.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
      expect(previews.every((p) => p.width === 8 && p.height === 8 && p.kind === 'latent' && p.pixels.length === 8 * 8 * 4)).toBe(true);
      // The last preview's corner cell is the picture's background colour, roughly: purple.
      const last = Array.from(previews[previews.length - 1]!.pixels);
      const picture = image.pixels.slice(0, 3);
      for (let c = 0; c < 3; c++) expect(Math.abs(last[c]! - picture[c]!), `${backend} channel ${c}`).toBeLessThan(64);
    }
  }, 600_000);
});

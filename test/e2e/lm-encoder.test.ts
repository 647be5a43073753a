/**
 * tiny-shapes-lm: tiny-shapes-flow's transformer conditioned on a tiny decoder-only language
 * model (models/tiny-shapes-lm: a tokenizer.json of the Qwen2 kind, the chat template, the
 * attention mask, hidden state -2 of an export that gives every layer), through the engine in
 * headless Chromium: judged pictures at the model's defaults, and the GPU loop against the CPU
 * loop. The contract Z-Image and FLUX.2 condition on, proven on a model that draws.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { PageImage, PageRequest } from '../pages/pipeline-page.ts';
import { useBrowserPage } from '../support/browser.ts';
import { fullyCorrect, judgedFraction, maxDifference } from '../support/judged-runs.ts';

const MODEL_URL = '/models/tiny-shapes-lm/manifest.json';
const GENERATION_MS = 300_000;

const browser = useBrowserPage('/test/pages/pipeline.html', {
  ready: (page) => page.waitForFunction(() => window.pipelinePage !== undefined),
});

beforeAll(async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    await browser.page.evaluate(([url, b]) => window.pipelinePage!.load(url, b), [MODEL_URL, backend] as const);
  }
}, 240_000);

function generate(backend: 'webgpu' | 'wasm', request: PageRequest): Promise<PageImage> {
  return browser.page.evaluate(([b, r]) => window.pipelinePage!.generate(b, r, false), [backend, request] as const);
}

describe('tiny-shapes-lm at its defaults (flow_turbo, 8 steps, guidance 2)', () => {
  it(
    'draws at least 90% of 24 prompts fully right',
    async () => {
      const fraction = await judgedFraction('tiny-shapes-lm at its defaults', async (prompt, seed) => {
        const image = await generate('wasm', { prompt, seed });
        expect(image.request).toMatchObject({ scheduler: 'flow_turbo', steps: 8 });
        return image;
      });
      expect(fraction).toBeGreaterThanOrEqual(0.9);
    },
    GENERATION_MS,
  );

  it(
    "on WebGPU gives the CPU loop's picture (the language model's hidden states kept on the GPU)",
    async () => {
      const request: PageRequest = { prompt: 'a green circle on a white background', seed: 4, steps: 4, guidance: 2 };
      const [gpu, cpu] = [await generate('webgpu', request), await generate('wasm', request)];
      expect(maxDifference(gpu.pixels, cpu.pixels)).toBeLessThanOrEqual(3);
      expect(fullyCorrect(request.prompt, gpu)).toBe(true);
    },
    GENERATION_MS,
  );
});

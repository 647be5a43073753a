/**
 * tiny-shapes-lm: tiny-shapes-flow's transformer conditioned on a tiny decoder-only language
 * model (models/tiny-shapes-lm: a tokenizer.json of the Qwen2 kind, the chat template, the
 * attention mask, hidden state -2 of an export that gives every layer), through the engine in
 * headless Chromium: judged pictures at the model's defaults, and the GPU loop against the CPU
 * loop. The contract Z-Image and FLUX.2 condition on, proven on a model that draws.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import type { PageImage, PageRequest } from '../gpu/pipeline-page.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_URL = '/models/tiny-shapes-lm/manifest.json';
const GENERATION_MS = 300_000;
const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'white', 'black'];
const SHAPES = ['circle', 'square', 'triangle'];
/** 24 prompts: every colour as shape and as background, every shape eight times (tiny-shapes-flow's). */
const PROMPTS = Array.from({ length: 24 }, (_, k) => `a ${COLOURS[k % 8]} ${SHAPES[k % 3]} on a ${COLOURS[(k + 1 + (k >> 3)) % 8]} background`);

const browser = useBrowserPage('/test/gpu/pipeline.html', {
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

function correct(prompt: string, image: PageImage): boolean {
  return scoreJudgement(parsePrompt(prompt), judgeImage(new Uint8ClampedArray(image.pixels), image.width, image.height)).all;
}

describe('tiny-shapes-lm at its defaults (flow_turbo, 8 steps, guidance 2)', () => {
  it(
    'draws at least 90% of 24 prompts fully right',
    async () => {
      let right = 0;
      const wrong: string[] = [];
      for (const [i, prompt] of PROMPTS.entries()) {
        const image = await generate('wasm', { prompt, seed: 100 + i });
        expect(image.request).toMatchObject({ scheduler: 'flow_turbo', steps: 8 });
        if (correct(prompt, image)) right++;
        else wrong.push(`  wrong: "${prompt}" → ${JSON.stringify(judgeImage(new Uint8ClampedArray(image.pixels), 64, 64))}`);
      }
      console.info(`tiny-shapes-lm at its defaults: ${right}/${PROMPTS.length} fully correct\n${wrong.join('\n')}`);
      expect(right / PROMPTS.length).toBeGreaterThanOrEqual(0.9);
    },
    GENERATION_MS,
  );

  it(
    "on WebGPU gives the CPU loop's picture (the language model's hidden states kept on the GPU)",
    async () => {
      const request: PageRequest = { prompt: 'a green circle on a white background', seed: 4, steps: 4, guidance: 2 };
      const [gpu, cpu] = [await generate('webgpu', request), await generate('wasm', request)];
      let max = 0;
      for (let k = 0; k < gpu.pixels.length; k++) max = Math.max(max, Math.abs(gpu.pixels[k]! - cpu.pixels[k]!));
      expect(max).toBeLessThanOrEqual(3);
      expect(correct(request.prompt, gpu)).toBe(true);
    },
    GENERATION_MS,
  );
});

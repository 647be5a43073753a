/**
 * The quantized tiny-shapes models from the catalog, on both backends: their MatMulNBits and
 * int8 DequantizeLinear nodes run on onnxruntime-web's WebGPU provider (SwiftShader here) and on
 * its CPU (wasm) one, with the weights in external-data files, and the pictures follow their
 * prompts by the judge. Two prompts each: the full quality figures come from
 * scripts/judge-quantized.ts.
 */
import { describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';

const session = useBrowserPage('/src/cli/page.html', { ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined) });

const PROMPTS = [
  { prompt: 'a red circle on a blue background', seed: 1 },
  { prompt: 'a yellow square on a purple background', seed: 3 },
];

const CASES = [
  ['tiny-shapes-q8', 'q8', 'wasm'],
  ['tiny-shapes-q4', 'q4', 'wasm'],
  ['tiny-shapes-q8', 'q8', 'webgpu'],
  ['tiny-shapes-q4', 'q4', 'webgpu'],
] as const;

describe('quantized tiny-shapes', () => {
  it.each(CASES)(
    '%s (%s) on %s draws what its prompts ask for',
    async (model, precision, backend) => {
      const result = await session.page.evaluate(
        async ({ model, backend, prompts }) => {
          const e = await window.webdiffusion!.engine;
          const info = await e.loadModel(model, { backend });
          const pictures = [];
          for (const request of prompts) {
            const image = await e.generate(request);
            pictures.push({ width: image.width, height: image.height, pixels: Array.from(image.pixels) });
          }
          return { info, pictures };
        },
        { model, backend, prompts: PROMPTS },
      );
      expect(result.info).toMatchObject({ id: model, precision, backend });
      for (const [i, { prompt }] of PROMPTS.entries()) {
        const { width, height, pixels } = result.pictures[i]!;
        const judged = judgeImage(new Uint8ClampedArray(pixels), width, height);
        expect(scoreJudgement(parsePrompt(prompt), judged).all, `${prompt}: ${JSON.stringify(judged)}`).toBe(true);
      }
    },
    400_000,
  );
});

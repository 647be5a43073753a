/**
 * The CPU fallback, in Chromium with WebGPU switched off (`--disable-features=WebGPU`: no
 * adapter is offered, as in a browser without WebGPU or with its GPU blocklisted): the bundled model loads on
 * onnxruntime-web's CPU (WebAssembly) backend with a warning saying so, and generates a picture
 * the judge scores correct; a float16 catalog model is refused before anything is downloaded,
 * with a CapabilityError naming what is missing and the models that would run.
 */
import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../src/api.ts';
import { judgeImage } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';

const GENERATION_MS = 400_000;

const session = useBrowserPage('/src/cli/page.html', {
  webgpu: false,
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

describe('without WebGPU', () => {
  it('the page really has no WebGPU: no adapter is offered', async () => {
    expect(await session.page.evaluate(async () => (await navigator.gpu?.requestAdapter()) ?? null)).toBeNull();
  });

  it(
    'tiny-shapes loads on the CPU backend with a warning, and generates a judged-correct picture',
    async () => {
      const result = await session.page.evaluate(async () => {
        const e = await window.webdiffusion!.engine;
        const info = await e.loadModel('tiny-shapes');
        const image = await e.generate({ prompt: 'a yellow square on a purple background', seed: 3 });
        return { info, width: image.width, height: image.height, pixels: Array.from(image.pixels) };
      });
      const info: ModelInfo = result.info;
      expect(info).toMatchObject({ id: 'tiny-shapes', backend: 'wasm' });
      expect(info.warnings.join(' ')).toMatch(/WebGPU is not available.*CPU \(WebAssembly\)/);
      // The client repeats the warning on the console, where developers look.
      expect(session.consoleLines.some((line) => line.startsWith('[warning]') && line.includes('runs on the CPU'))).toBe(true);
      const verdict = judgeImage(new Uint8ClampedArray(result.pixels), result.width, result.height);
      expect(verdict).toMatchObject({ background: 'purple', color: 'yellow', shape: 'square' });
    },
    GENERATION_MS,
  );

  it('a float16 catalog model is refused before any download, naming what is missing and what would run', async () => {
    const error = await session.page.evaluate(async () => {
      const { api, engine } = window.webdiffusion!;
      try {
        await (await engine).loadModel('sd-turbo-fp16');
        return null;
      } catch (e) {
        const err = e as InstanceType<typeof api.WebDiffusionError>;
        return { capability: err instanceof api.CapabilityError, message: err.message, details: err.details };
      }
    });
    expect(error).not.toBeNull();
    expect(error!.capability).toBe(true);
    expect(error!.message).toMatch(/WebGPU is not available/);
    expect(error!.message).toMatch(/CPU backend runs fp32 models, not fp16/);
    expect(error!.details).toMatchObject({
      model: 'sd-turbo-fp16',
      runnable: ['tiny-shapes', 'tiny-shapes-turbo', 'tiny-shapes-flow', 'tiny-shapes-q8', 'tiny-shapes-q4', 'tiny-shapes-lm'],
    });
  });
});

/**
 * The demo page as a user drives it: fill the form, press Generate, look at the picture; and
 * press Cancel mid-way. Slow on SwiftShader: one page, one model load for the whole file.
 */
import { describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';
import manifest from '../../models/tiny-shapes/manifest.json' with { type: 'json' };

const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 300_000;

const session = useBrowserPage('/', {
  ready: (page) => page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS }),
  readyTimeoutMs: MODEL_LOAD_MS,
  openTimeoutMs: MODEL_LOAD_MS + 30_000,
});

async function canvasPixels(): Promise<{ pixels: Uint8ClampedArray; width: number; height: number }> {
  const { data, width, height } = await session.page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#picture')!;
    const image = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    return { data: Array.from(image.data), width: image.width, height: image.height };
  });
  return { pixels: Uint8ClampedArray.from(data), width, height };
}

describe('demo page', () => {
  it('labels every control and fills in the model defaults', async () => {
    const { page } = session;
    for (const label of ['Model', 'Prompt', 'Negative prompt', 'Seed', 'Random', 'Steps', 'Guidance', 'Scheduler', 'Pictures', 'Live']) {
      await expect(page.getByLabel(label, { exact: true }).count()).resolves.toBe(1);
    }
    // A new seed for every picture unless asked otherwise.
    expect(await page.isChecked('#random-seed')).toBe(true);
    expect(await page.inputValue('#steps')).toBe(String(manifest.defaults.steps));
    expect(await page.inputValue('#guidance')).toBe(String(manifest.defaults.guidance));
    expect(await page.inputValue('#scheduler')).toBe(manifest.defaults.scheduler);
  });

  it(
    'lists runnable models first with their sizes, greys out the rest with why, and loads only on Load',
    async () => {
      const { page } = session;
      await expect(page.getByLabel('Model', { exact: true }).count()).resolves.toBe(1);
      const listed = () =>
        page.$$eval('#model option', (list) =>
          list.map((o) => ({
            id: (o as HTMLOptionElement).value,
            text: o.textContent ?? '',
            disabled: (o as HTMLOptionElement).disabled,
            backend: (o as HTMLElement).dataset.backend,
            cached: (o as HTMLElement).dataset.cached,
          })),
        );
      const options = await listed();
      // SwiftShader has no shader-f16: every real (float16) model is after the bundled ones, and
      // cannot be chosen; the bundled one is cached and runs on the CPU, faster than on a software GPU.
      expect(options.map((o) => o.id)).toEqual([
        'tiny-shapes',
        'tiny-shapes-turbo',
        'tiny-shapes-flow',
        'tiny-shapes-q8',
        'tiny-shapes-q4',
        'tiny-shapes-lm',
        'sd-turbo-fp16',
        'sd-turbo-webnn',
        'sd-1.5-webnn',
        'sdxl-turbo-q4f16',
        'lcm-dreamshaper-v7',
        'z-image-turbo-q4f16',
        'flux2-klein-4b-q4',
      ]);
      expect(options.map((o) => o.disabled)).toEqual([false, false, false, false, false, false, true, true, true, true, true, true, true]);
      expect(options.find((o) => o.id === 'tiny-shapes')).toMatchObject({ backend: 'wasm', cached: 'true' });
      expect(options.find((o) => o.id === 'tiny-shapes')!.text).toMatch(/tiny-shapes · 13 MB · cached · CPU/);
      expect(options.find((o) => o.id === 'sd-turbo-fp16')).toMatchObject({ backend: 'none', cached: 'false' });
      expect(options.find((o) => o.id === 'sd-turbo-fp16')!.text).toMatch(/~2\.5 GB · can't run here: needs shader-f16$/);
      expect(options.find((o) => o.id === 'sdxl-turbo-q4f16')!.text).toMatch(/ · ~3\.5 GB · /);
      expect(options.find((o) => o.id === 'lcm-dreamshaper-v7')!.text).toMatch(/ · ~2\.2 GB · /);
      // The full reasons are listed below the select, for every model that cannot run.
      const unrunnable = await page.textContent('#model-unrunnable');
      expect(unrunnable).toMatch(/7 models can't run on this device/);
      expect(unrunnable).toMatch(/SD-Turbo \(fp16, onnxruntime-web\): the GPU lacks the WebGPU feature "shader-f16"/);
      await expect(page.textContent('#model-storage')).resolves.toMatch(/^Storage: \d+ MB used of [\d.]+ (MB|GB) available/);
      // No service worker in the dev server: the app is not ready offline, and does not say so.
      expect(await page.isHidden('#model-offline')).toBe(true);

      // Walking the list with the arrow keys loads nothing, and stops at the last model that runs.
      await page.focus('#model');
      await page.keyboard.press('ArrowDown');
      expect(await page.inputValue('#model')).toBe('tiny-shapes-turbo');
      expect(await page.getAttribute('body', 'data-state')).toBe('ready');
      for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowDown');
      expect(await page.inputValue('#model')).toBe('tiny-shapes-lm');
      expect(await page.getAttribute('body', 'data-state')).toBe('ready');
      expect(await page.textContent('#status')).toMatch(/^Model tiny-shapes, /);

      // Load loads the chosen one; once stored it can be deleted from the device again.
      await page.selectOption('#model', 'tiny-shapes-q8');
      await page.getByRole('button', { name: 'Load model' }).click();
      await page.waitForFunction(
        () => document.body.dataset.state === 'ready' && /^Model tiny-shapes-q8, /.test(document.querySelector('#status')!.textContent ?? ''),
        undefined,
        {
          timeout: MODEL_LOAD_MS,
        },
      );
      // The list is refreshed once the model is loaded: it is now marked stored.
      await page.waitForSelector('#model option[value="tiny-shapes-q8"][data-cached="true"]', { state: 'attached', timeout: 30_000 });
      expect(await page.getByRole('button', { name: 'Loaded' }).isDisabled()).toBe(true);
      // A stored model: the browser was asked to keep the storage, and its answer is said.
      await page.waitForFunction(() => / · (kept|not kept for sure): /.test(document.querySelector('#model-storage')!.textContent ?? ''), undefined, {
        timeout: 30_000,
      });
      await page.getByRole('button', { name: 'Delete from this device' }).click();
      await page.waitForSelector('#model option[value="tiny-shapes-q8"][data-cached="false"]', { state: 'attached', timeout: 30_000 });
      expect((await listed()).find((o) => o.id === 'tiny-shapes-q8')!.text).toMatch(/tiny-shapes-q8 · 4 MB · download · CPU/);

      // Enter in the list loads too: back to the model the other tests use.
      await page.selectOption('#model', 'tiny-shapes');
      await page.focus('#model');
      await page.keyboard.press('Enter');
      await page.waitForFunction(
        () => document.body.dataset.state === 'ready' && /^Model tiny-shapes, /.test(document.querySelector('#status')!.textContent ?? ''),
        undefined,
        {
          timeout: MODEL_LOAD_MS,
        },
      );
      expect(session.pageErrors).toEqual([]);
    },
    2 * MODEL_LOAD_MS,
  );

  it(
    'generates the picture the prompt asks for',
    async () => {
      const { page } = session;
      const prompt = 'a yellow square on a purple background';
      await page.getByLabel('Prompt', { exact: true }).fill(prompt);
      await page.getByLabel('Seed', { exact: true }).fill('3');
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.waitForSelector('body[data-state="done"]', { timeout: GENERATION_MS });

      expect(await page.textContent('#progress-label')).toBe('Done');
      expect(await page.evaluate(() => document.querySelector<HTMLProgressElement>('#progress')!.value)).toBe(1);
      expect(await page.textContent('#timings')).toMatch(/Seed 3 · 20 steps, \d+ ms\/step · total \d+\.\d\d\u00a0s/);
      expect(await page.isHidden('#error')).toBe(true);

      const { pixels, width, height } = await canvasPixels();
      expect([width, height]).toEqual([64, 64]);
      const expected = parsePrompt(prompt);
      const judged = judgeImage(pixels, width, height);
      expect(scoreJudgement(expected, judged).all, JSON.stringify(judged)).toBe(true);
      expect(session.pageErrors).toEqual([]);
    },
    GENERATION_MS + 10_000,
  );

  it(
    'on WebGPU (?backend=webgpu), stops within one step of Cancel, shows "Stopping…" until the engine is idle, and generates again afterwards',
    async () => {
      const { page } = session;
      await page.goto(`${session.origin}/?backend=webgpu`);
      await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
      expect(await page.textContent('#status')).toMatch(/on WebGPU/);
      // Record every step the page shows, so steps that arrive after the cancel are seen too.
      await page.evaluate(() => {
        const label = document.querySelector<HTMLElement>('#progress-label')!;
        const seen: number[] = [];
        (window as unknown as { stepsSeen: number[] }).stepsSeen = seen;
        new MutationObserver(() => {
          if (label.dataset.phase === 'denoising') seen.push(Number(label.dataset.step));
        }).observe(label, { attributes: true, childList: true, characterData: true, subtree: true });
      });
      await page.getByLabel('Steps', { exact: true }).fill('20');
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#progress-label')!.dataset.step) >= 2, undefined, {
        timeout: GENERATION_MS,
      });
      // Read the step and press Cancel in one go, so no step slips in between.
      const { stepAtCancel, button } = await page.evaluate(() => {
        const step = Number(document.querySelector<HTMLElement>('#progress-label')!.dataset.step);
        const cancel = document.querySelector<HTMLButtonElement>('#cancel')!;
        cancel.click();
        return { stepAtCancel: step, button: cancel.textContent };
      });
      // The steps already queued on the GPU run to their end; then the button is Cancel again.
      expect(button).toBe('Stopping…');
      await page.waitForSelector('body[data-state="cancelled"]', { timeout: 60_000 });
      await page.waitForSelector('#cancel:not([data-stopping])', { timeout: 60_000 });
      expect(await page.textContent('#cancel')).toBe('Cancel');
      expect(await page.getAttribute('#error', 'data-code')).toBe('cancelled');
      expect(await page.getAttribute('#error', 'data-name')).toBe('CancelledError');
      expect(await page.isVisible('#error')).toBe(true);

      // Give a runaway loop time to show itself before judging the steps.
      await page.waitForTimeout(3_000);
      const seen = await page.evaluate(() => (window as unknown as { stepsSeen: number[] }).stepsSeen);
      expect(Math.max(...seen)).toBeLessThanOrEqual(stepAtCancel + 1);
      expect(Math.max(...seen)).toBeLessThan(20);

      await page.getByLabel('Steps', { exact: true }).fill('2');
      await page.keyboard.press('Control+Enter');
      await page.waitForSelector('body[data-state="done"]', { timeout: GENERATION_MS });
      expect(await page.isHidden('#error')).toBe(true);
      expect(session.pageErrors).toEqual([]);
    },
    2 * GENERATION_MS,
  );
});

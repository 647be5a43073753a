/**
 * `<web-diffusion>` from the library build, as an embedding page uses it: dist/lib served from a
 * sub-path by a plain static host, its example page opened, the Generate button pressed; then
 * two elements on a page of another origin that loads the library from the first one, as from a
 * CDN. Pictures are judged. Slow on SwiftShader (one 20-step picture is ~30 s).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { launchChromium } from '../../scripts/lib/browser.ts';
import { buildInto, type Built } from '../support/build.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';

const GENERATION_MS = 300_000;
const SUB_PATH = '/sub/path/';

interface RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly phase?: string;
  readonly step?: number;
  readonly preview?: boolean;
  readonly error?: { name: string; code?: string };
  readonly picture?: { blobType: string; blobSize: number; bitmap: [number, number]; seed: number };
}

declare global {
  interface Window {
    recorded: RecordedEvent[];
  }
}

/** Records every event of every `<web-diffusion>` on the page, from its first script on. */
function recordEvents(): void {
  window.recorded = [];
  for (const type of ['modelprogress', 'progress', 'done', 'error']) {
    document.addEventListener(
      type,
      (event) => {
        const target = event.target as HTMLElement;
        if (target.localName !== 'web-diffusion') return;
        const detail = (event as CustomEvent).detail;
        const error = detail?.error as (Error & { code?: string }) | undefined;
        window.recorded.push({
          id: target.id,
          type,
          ...(type === 'progress' || type === 'modelprogress' ? { phase: detail.phase, step: detail.step, preview: detail.preview !== undefined } : {}),
          ...(error !== undefined ? { error: { name: error.name, code: error.code } } : {}),
          ...(type === 'done'
            ? {
                picture: {
                  blobType: detail.blob.type,
                  blobSize: detail.blob.size,
                  bitmap: [detail.bitmap.width, detail.bitmap.height],
                  seed: detail.image.request.seed,
                },
              }
            : {}),
        });
      },
      true,
    );
  }
}

/** The element's canvas, as RGBA bytes. */
async function canvasOf(page: Page, id: string): Promise<{ pixels: Uint8ClampedArray; width: number; height: number }> {
  const { data, width, height } = await page.evaluate((id) => {
    const canvas = document.getElementById(id)!.shadowRoot!.querySelector('canvas')!;
    const image = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    return { data: Array.from(image.data), width: image.width, height: image.height };
  }, id);
  return { pixels: Uint8ClampedArray.from(data), width, height };
}

function expectJudged(prompt: string, picture: { pixels: Uint8ClampedArray; width: number; height: number }): void {
  const judged = judgeImage(picture.pixels, picture.width, picture.height);
  expect(scoreJudgement(parsePrompt(prompt), judged).all, `${prompt}: ${JSON.stringify(judged)}`).toBe(true);
}

let library: Built;
let cdn: StaticServer;
let browser: Browser;
let log: string[] = [];

beforeAll(async () => {
  library = await buildInto('lib');
  cdn = await startStaticServer({ [SUB_PATH]: library.dir });
  browser = await launchChromium();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await cdn?.close();
  await library?.remove();
});
beforeEach((context) => {
  log = [];
  context.onTestFailed(() => console.error(['--- browser console ---', ...log, '--- end ---'].join('\n')));
});

async function openPage(url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('console', (message) => log.push(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => log.push(`[pageerror] ${error.stack ?? error.message}`));
  await page.addInitScript(recordEvents);
  await page.goto(url);
  return page;
}

describe('<web-diffusion> from the library build', () => {
  let page: Page;

  it(
    'on the example page served from a sub-path: Generate makes the judged picture, events in order',
    async () => {
      page = await openPage(`${cdn.origin}${SUB_PATH}embed.html`);
      await page.waitForFunction(() => document.querySelector('web-diffusion')?.state === 'ready', undefined, { timeout: GENERATION_MS });
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

      const prompt = 'a red circle on a blue background';
      await page.getByRole('button', { name: `Generate: ${prompt}` }).click();
      await page.waitForFunction(() => document.querySelector('web-diffusion')?.state === 'done', undefined, { timeout: GENERATION_MS });
      expectJudged(prompt, await canvasOf(page, 'generator'));
      expect(await page.getByRole('img', { name: `Generated picture: ${prompt}` }).count()).toBe(1);
      expect(await page.getByRole('status').textContent()).toBe(`Done: ${prompt}`);

      const events = await page.evaluate(() => window.recorded);
      const types = events.map((event) => event.type);
      // The model's download first, the generation's progress next, one `done` last.
      const firstProgress = types.indexOf('progress');
      expect(types.slice(0, firstProgress).every((type) => type === 'modelprogress')).toBe(true);
      expect(firstProgress).toBeGreaterThan(0);
      expect(types.at(-1)).toBe('done');
      expect(types.filter((type) => type === 'done')).toHaveLength(1);
      const progress = events.filter((event) => event.type === 'progress');
      expect([...new Set(progress.map((event) => event.phase))]).toEqual(['encoding', 'denoising', 'decoding']);
      const steps = progress.filter((event) => event.phase === 'denoising').map((event) => event.step);
      expect(steps).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
      expect(events.at(-1)!.picture).toEqual({ blobType: 'image/png', blobSize: expect.any(Number), bitmap: [64, 64], seed: 1 });
      expect(events.at(-1)!.picture!.blobSize).toBeGreaterThan(100);
      // Every file came from under the sub-path: nothing assumed the library lives at the root
      // (the browser's own request for /favicon.ico aside).
      expect(cdn.requests.filter((request) => !request.path.startsWith(SUB_PATH) && request.path !== '/favicon.ico')).toEqual([]);
      expect(page.workers()).toHaveLength(1);
    },
    GENERATION_MS * 2,
  );

  it('draws previews as they come, and cancel() ends with CancelledError, "Stopping…" until the engine is idle', async () => {
    // An engine of the page's own (the `engine` property), standing in for the worker so that
    // the preview it sends is known: an 8x8 preview of one colour, scaled over the canvas.
    // A string, so that the test runner leaves this import() alone: the page resolves it.
    await page.evaluate("import('./webdiffusion.js').then((library) => { window.library = library; })");
    const outcome = await page.evaluate(async () => {
      const library = (window as unknown as { library: typeof import('../../src/library.ts') }).library;
      const element = document.createElement('web-diffusion');
      element.id = 'stand-in';
      const colour = [200, 30, 40, 255];
      const previewShown = new Promise<void>((resolve) => element.addEventListener('progress', () => resolve(), { once: true }));
      // The engine's queued GPU steps, still running after the cancel until the test says so.
      let becomeIdle = (): void => undefined;
      const idle = new Promise<void>((resolve) => (becomeIdle = resolve));
      element.engine = {
        idle: () => idle,
        loadModel: async () => ({ id: 'stand-in', width: 64, height: 64, defaults: { steps: 2, guidance: 1, scheduler: 'ddim' }, backend: 'webgpu' }),
        generate: (_request: unknown, options: { onProgress: (p: unknown) => void; signal: AbortSignal }) =>
          new Promise((_, reject) => {
            const pixels = new Uint8ClampedArray(8 * 8 * 4).map((_, index) => colour[index % 4]!);
            options.onProgress({ phase: 'denoising', step: 1, steps: 2, elapsedMs: 1, preview: { width: 8, height: 8, pixels, kind: 'latent' } });
            options.signal.addEventListener('abort', () => reject(new library.CancelledError('stopped by the test')));
          }),
      } as never;
      element.setAttribute('model', 'stand-in/manifest.json');
      document.body.append(element);
      const generation = element.generate().then(
        () => 'resolved',
        (error: Error & { code?: string }) => `${error.name}/${error.code}`,
      );
      await previewShown;
      const canvas = element.shadowRoot!.querySelector('canvas')!;
      const centre = Array.from(canvas.getContext('2d')!.getImageData(32, 32, 1, 1).data);
      const corner = Array.from(canvas.getContext('2d')!.getImageData(0, 0, 1, 1).data);
      const showing = canvas.dataset.showing;
      element.cancel();
      const cancelButton = element.shadowRoot!.querySelector<HTMLButtonElement>('[part~=cancel]')!;
      const result = {
        centre,
        corner,
        showing,
        generation: await generation,
        state: element.state,
        status: element.shadowRoot!.querySelector('[role=status]')!.textContent,
      };
      const whileStopping = cancelButton.textContent;
      becomeIdle();
      await idle;
      await new Promise((resolve) => setTimeout(resolve, 0));
      return { ...result, buttons: [whileStopping, cancelButton.textContent] };
    });
    expect(outcome).toEqual({
      centre: [200, 30, 40, 255],
      corner: [200, 30, 40, 255],
      showing: 'preview',
      generation: 'CancelledError/cancelled',
      state: 'ready',
      status: 'Cancelled.',
      buttons: ['Stopping…', 'Cancel'],
    });
    const events = await page.evaluate(() => window.recorded.filter((event) => event.id === 'stand-in'));
    expect(events).toEqual([
      { id: 'stand-in', type: 'progress', phase: 'denoising', step: 1, preview: true },
      { id: 'stand-in', type: 'error', error: { name: 'CancelledError', code: 'cancelled' } },
    ]);
  });

  it('refuses bad input with typed errors, as a rejection and an error event', async () => {
    const outcomes = await page.evaluate(async () => {
      const settle = async (element: HTMLElement & { generate(): Promise<unknown> }): Promise<string> =>
        element.generate().then(
          () => 'resolved',
          (error: Error & { code?: string }) => `${error.name}/${error.code}`,
        );
      const noModel = document.createElement('web-diffusion');
      noModel.id = 'no-model';
      document.body.append(noModel);
      const badSteps = document.createElement('web-diffusion');
      badSteps.id = 'bad-steps';
      badSteps.setAttribute('model', './models/tiny-shapes/manifest.json');
      badSteps.setAttribute('prompt', 'a red circle on a blue background');
      badSteps.setAttribute('steps', 'many');
      document.body.append(badSteps);
      const outcome = [await settle(noModel), await settle(badSteps), badSteps.state];
      noModel.remove();
      badSteps.remove();
      return outcome;
    });
    expect(outcomes).toEqual(['InvalidRequestError/invalid-request', 'InvalidRequestError/invalid-request', 'error']);
    const events = await page.evaluate(() => window.recorded.filter((event) => event.id === 'no-model' || event.id === 'bad-steps'));
    expect(events).toEqual([
      { id: 'no-model', type: 'error', error: { name: 'InvalidRequestError', code: 'invalid-request' } },
      { id: 'bad-steps', type: 'error', error: { name: 'InvalidRequestError', code: 'invalid-request' } },
    ]);
  });

  it('is styled through custom properties and ::part, keeps its styles in, follows the colour scheme, and is reachable by keyboard', async () => {
    await page.addStyleTag({ content: 'button { color: rgb(255, 0, 0) !important; }' });
    const looks = (): Promise<{
      canvasWidth: string;
      shadow: string;
      buttonColour: string;
      background: string;
      text: string;
      documentSheets: number;
      adopted: number;
    }> =>
      page.evaluate(() => {
        const element = document.getElementById('generator')!;
        const canvas = element.shadowRoot!.querySelector('canvas')!;
        const button = element.shadowRoot!.querySelector('button')!;
        return {
          canvasWidth: getComputedStyle(canvas).width,
          shadow: getComputedStyle(canvas).boxShadow,
          buttonColour: getComputedStyle(button).color,
          background: getComputedStyle(element).backgroundColor,
          text: getComputedStyle(element).color,
          documentSheets: document.styleSheets.length,
          adopted: document.adoptedStyleSheets.length,
        };
      });
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await looks();
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await looks();
    // The page's --webdiffusion-size and ::part(picture) reach in; its button rule does not.
    expect(light.canvasWidth).toBe('320px');
    expect(light.shadow).not.toBe('none');
    expect(light.buttonColour).not.toBe('rgb(255, 0, 0)');
    // Ours stay out: the page has its own <style> and the test's, and nothing adopted.
    expect([light.documentSheets, light.adopted]).toEqual([2, 0]);
    const brightness = (colour: string): number => {
      const [r, g, b] = colour.match(/\d+(\.\d+)?/g)!.map(Number);
      return r! + g! + b!;
    };
    expect(brightness(light.background)).toBeGreaterThan(brightness(dark.background));
    expect(brightness(light.text)).toBeLessThan(brightness(dark.text));

    await page.getByLabel('Prompt').focus();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.getAttribute('aria-label'));
    expect(focused).toBe('Generate: a red circle on a blue background');
    expect(await page.getByRole('progressbar', { name: 'Progress' }).first().getAttribute('aria-valuetext')).toBe('Done');
    expect(await page.locator('#generator').getByRole('status').getAttribute('aria-live')).toBe('polite');
  });
});

describe('two elements on a page of another origin, the library from a CDN', () => {
  let pageServer: StaticServer;
  let pageDir: string;
  beforeAll(async () => {
    pageDir = await mkdtemp(join(tmpdir(), 'webdiffusion-embedder-'));
    const model = `${cdn.origin}${SUB_PATH}models/tiny-shapes/manifest.json`;
    await writeFile(
      join(pageDir, 'index.html'),
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>two</title>
<script type="module" src="${cdn.origin}${SUB_PATH}webdiffusion.js"></script></head><body>
<web-diffusion id="one" model="${model}" prompt="a green square on a white background" seed="4"></web-diffusion>
<web-diffusion id="two" model="${model}" prompt="a yellow triangle on a purple background" seed="5"></web-diffusion>
</body></html>`,
    );
    pageServer = await startStaticServer({ '/': pageDir });
  });
  afterAll(async () => {
    await pageServer?.close();
    await rm(pageDir, { recursive: true, force: true });
  });

  it(
    'share one worker and one download of the model, and both make their own picture',
    async () => {
      const before = cdn.requests.length;
      const page = await openPage(`${pageServer.origin}/`);
      await page.waitForFunction(() => [...document.querySelectorAll('web-diffusion')].every((element) => element.state === 'ready'), undefined, {
        timeout: GENERATION_MS,
      });
      const results = await page.evaluate(async () => {
        const [one, two] = [...document.querySelectorAll('web-diffusion')];
        const pictures = await Promise.all([one!.generate(), two!.generate()]);
        return pictures.map(({ blob, bitmap, image }) => ({ blobType: blob.type, bitmap: [bitmap.width, bitmap.height], prompt: image.request.prompt }));
      });
      expect(results).toEqual([
        { blobType: 'image/png', bitmap: [64, 64], prompt: 'a green square on a white background' },
        { blobType: 'image/png', bitmap: [64, 64], prompt: 'a yellow triangle on a purple background' },
      ]);
      expectJudged('a green square on a white background', await canvasOf(page, 'one'));
      expectJudged('a yellow triangle on a purple background', await canvasOf(page, 'two'));

      expect(page.workers()).toHaveLength(1);
      const unetDownloads = cdn.requests.slice(before).filter((request) => request.path.endsWith('/unet/model.onnx'));
      expect(unetDownloads).toHaveLength(1);
      // Both ran to the end, each with its own progress.
      const events = await page.evaluate(() => window.recorded);
      for (const id of ['one', 'two']) {
        expect(events.filter((event) => event.id === id && event.phase === 'denoising')).toHaveLength(20);
        expect(events.filter((event) => event.id === id && event.type === 'done')).toHaveLength(1);
      }
      expect(log.filter((line) => line.startsWith('[pageerror]'))).toEqual([]);
    },
    GENERATION_MS * 2,
  );
});

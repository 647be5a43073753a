/**
 * The demo page's history, as a user meets it: a generated picture joins the gallery and is still
 * there after a reload; the downloaded PNG carries its parameters; dropping that PNG, or clicking
 * its thumbnail, puts the settings back in the form; with "Keep history" off nothing is kept.
 * Few steps: these pictures are not judged.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readPngParameters } from '../../src/image/generation-parameters.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 120_000;
const PROMPT = 'a red circle on a green background';

const session = useBrowserPage('/', {
  ready: (page) => page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS }),
  readyTimeoutMs: MODEL_LOAD_MS,
  openTimeoutMs: MODEL_LOAD_MS + 30_000,
});

async function generate(prompt: string, seed: number, steps: number): Promise<void> {
  const { page } = session;
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByLabel('Seed', { exact: true }).fill(String(seed));
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForSelector('body[data-state="done"]', { timeout: GENERATION_MS });
}

async function galleryPrompts(): Promise<string[]> {
  return session.page.$$eval('#gallery img', (images) => images.map((image) => (image as HTMLImageElement).alt));
}

async function formValues(): Promise<Record<string, string>> {
  const { page } = session;
  return {
    prompt: await page.inputValue('#prompt'),
    negativePrompt: await page.inputValue('#negative-prompt'),
    seed: await page.inputValue('#seed'),
    steps: await page.inputValue('#steps'),
    guidance: await page.inputValue('#guidance'),
    scheduler: await page.inputValue('#scheduler'),
  };
}

async function scrambleForm(): Promise<void> {
  const { page } = session;
  await page.getByLabel('Prompt', { exact: true }).fill('something else');
  await page.getByLabel('Negative prompt', { exact: true }).fill('');
  await page.getByLabel('Seed', { exact: true }).fill('999');
  await page.getByLabel('Steps', { exact: true }).fill('13');
  await page.getByLabel('Guidance', { exact: true }).fill('7');
  await page.selectOption('#scheduler', 'euler');
}

const EXPECTED_FORM = { prompt: PROMPT, negativePrompt: 'blue', seed: '5', steps: '3', guidance: '2', scheduler: 'ddim' };

describe('demo page history', () => {
  let png: Buffer;

  it('keeps a generated picture in the gallery, and its download carries the parameters', async () => {
    const { page } = session;
    expect(await page.isChecked('#keep-history')).toBe(true);
    expect(await galleryPrompts()).toEqual([]);
    await page.getByLabel('Negative prompt', { exact: true }).fill('blue');
    await generate(PROMPT, 5, 3);
    expect(await galleryPrompts()).toEqual([PROMPT]);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    png = await readFile((await download.path())!);
    const parsed = await readPngParameters(png);
    expect(parsed).toEqual({
      request: { prompt: PROMPT, negativePrompt: 'blue', seed: 5, steps: 3, guidance: 2, scheduler: 'ddim', width: 64, height: 64 },
      modelId: 'tiny-shapes',
      extra: {},
    });
    expect(session.pageErrors).toEqual([]);
  }, GENERATION_MS + 30_000);

  it('still shows the picture after a reload, and a click on it restores its settings', async () => {
    const { page } = session;
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
    await page.waitForSelector('#gallery img');
    expect(await galleryPrompts()).toEqual([PROMPT]);
    await scrambleForm();
    await page.getByRole('button', { name: `Restore the settings of "${PROMPT}" (seed 5)` }).click();
    expect(await formValues()).toEqual(EXPECTED_FORM);
  }, MODEL_LOAD_MS + 30_000);

  it('restores the settings from a dropped PNG, and says so when a file carries none', async () => {
    const { page } = session;
    await scrambleForm();
    const drop = (base64: string, name: string) =>
      page.evaluate(
        ({ base64, name }) => {
          const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, { type: 'image/png' }));
          document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
          document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
        },
        { base64, name },
      );
    await drop(png.toString('base64'), 'picture.png');
    await page.waitForFunction((prompt) => document.querySelector<HTMLTextAreaElement>('#prompt')!.value === prompt, PROMPT);
    expect(await formValues()).toEqual(EXPECTED_FORM);
    expect(await page.textContent('#status')).toContain('picture.png');

    await drop(Buffer.from('not a picture').toString('base64'), 'notes.txt');
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.getAttribute('#error', 'data-code')).toBe('invalid-request');
    expect(await page.inputValue('#prompt')).toBe(PROMPT);
  });

  it('keeps nothing while "Keep history" is off, and remembers the choice', async () => {
    const { page } = session;
    await page.getByLabel('Keep history').uncheck();
    // The choice is written to IndexedDB: reload only once it is there.
    await page.waitForSelector('#keep-history[data-saved="false"]');
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
    await page.waitForSelector('#gallery img');
    expect(await page.isChecked('#keep-history')).toBe(false);
    await generate('a blue square on a yellow background', 6, 1);
    expect(await galleryPrompts()).toEqual([PROMPT]);
    expect(session.pageErrors).toEqual([]);
  }, MODEL_LOAD_MS + GENERATION_MS);
});

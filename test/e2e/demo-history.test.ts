/**
 * The demo page's history, as a user meets it: a generated picture joins the gallery and is still
 * there after a reload; the downloaded PNG carries its parameters; a thumbnail opens the picture
 * large, where it is saved, compared, reused or deleted; the last picture is back in the main view
 * after a reload; dropping a PNG puts the settings back in the form; with "Keep history" off
 * nothing is kept; clearing asks first. Few steps: these pictures are not judged.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readPngParameters } from '../../src/image/generation-parameters.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 120_000;
const PROMPT = 'a red circle on a green background';
const SECOND = 'a blue square on a yellow background';
const EMPTY = 'Nothing yet: pictures you make appear here.';

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

async function reload(): Promise<void> {
  await session.page.reload();
  await session.page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
}

/** Opens the large view of a picture by its thumbnail, as a click would. */
async function open(prompt: string, seed: number): Promise<void> {
  await session.page.getByRole('button', { name: `Open "${prompt}" (seed ${seed})` }).click();
  await session.page.waitForSelector('#history-viewer[open]');
}

/** The large view's title and its details, term by term. */
async function viewer(): Promise<{ title: string; details: Record<string, string> }> {
  return session.page.$eval('#history-viewer', (dialog) => {
    const terms = [...dialog.querySelectorAll('dt')].map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? '']);
    return { title: dialog.querySelector('h2')!.textContent ?? '', details: Object.fromEntries(terms) };
  });
}

function viewerButton(name: string) {
  return session.page.getByRole('dialog').getByRole('button', { name, exact: true });
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

  it(
    'keeps a generated picture in the gallery, and its download carries the parameters',
    async () => {
      const { page } = session;
      expect(await page.isChecked('#keep-history')).toBe(true);
      expect(await galleryPrompts()).toEqual([]);
      expect(await page.locator('.history-empty').textContent()).toBe(EMPTY);
      expect(await page.isVisible('.history-empty')).toBe(true);
      await page.getByLabel('Negative prompt', { exact: true }).fill('blue');
      await generate(PROMPT, 5, 3);
      expect(await galleryPrompts()).toEqual([PROMPT]);
      expect(await page.isVisible('.history-empty')).toBe(false);

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      png = await readFile((await download.path())!);
      const parsed = await readPngParameters(png);
      expect(parsed).toEqual({
        request: { prompt: PROMPT, negativePrompt: 'blue', seed: 5, steps: 3, guidance: 2, scheduler: 'ddim', width: 64, height: 64 },
        modelId: 'tiny-shapes',
        extra: {},
      });
      expect(session.pageErrors).toEqual([]);
    },
    GENERATION_MS + 30_000,
  );

  it(
    'opens a thumbnail large with its parameters, in the main view too; Save PNG downloads it; arrows and Esc move and close',
    async () => {
      const { page } = session;
      await generate(SECOND, 6, 1);
      expect(await galleryPrompts()).toEqual([SECOND, PROMPT]);

      await open(PROMPT, 5);
      expect(await viewer()).toMatchObject({
        title: 'Picture 2 of 2',
        details: { Prompt: PROMPT, Seed: '5', Steps: '3', Scheduler: 'ddim', Model: 'tiny-shapes', Size: '64×64' },
      });
      await page.waitForFunction((prompt) => document.querySelector('#picture')!.getAttribute('aria-label') === `Picture from the history: ${prompt}`, PROMPT);

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('dialog').getByRole('link', { name: 'Save PNG' }).click()]);
      expect(download.suggestedFilename()).toBe('webdiffusion-5.png');
      expect((await readPngParameters(await readFile((await download.path())!)))?.request.prompt).toBe(PROMPT);

      // A phone: nothing of the history wider than the screen, every control a 24x24 px touch target.
      await page.setViewportSize({ width: 390, height: 844 });
      const layout = await page.evaluate(() => ({
        wide: [...document.querySelectorAll('#history *')]
          .filter((part) => part.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map((part) => `${part.tagName}.${part.className}`),
        small: [...document.querySelectorAll<HTMLElement>('#history button, #history a, #history input')]
          .filter((control) => control.offsetParent !== null || control.closest('dialog[open]') !== null)
          .map((control) => ({ name: control.getAttribute('aria-label') ?? control.textContent ?? control.id, box: control.getBoundingClientRect() }))
          .filter(({ box }) => box.width > 0 && (box.width < 24 || box.height < 24))
          .map(({ name, box }) => `${name} ${box.width}x${box.height}`),
      }));
      expect(layout).toEqual({ wide: [], small: [] });
      await page.setViewportSize({ width: 1280, height: 720 });

      await page.keyboard.press('ArrowLeft');
      expect(await viewer()).toMatchObject({ title: 'Picture 1 of 2', details: { Prompt: SECOND, Seed: '6' } });
      await page.keyboard.press('Escape');
      expect(await page.isVisible('#history-viewer')).toBe(false);
      // Focus comes back to the thumbnail of the picture last seen.
      await page.waitForFunction((name) => document.activeElement?.getAttribute('aria-label') === name, `Open "${SECOND}" (seed 6)`, { timeout: 5_000 });
      expect(await page.getAttribute('#picture', 'aria-label')).toBe(`Picture from the history: ${PROMPT}`);
    },
    GENERATION_MS + 30_000,
  );

  it('compares two pictures side by side, their differences highlighted', async () => {
    const { page } = session;
    await open(PROMPT, 5);
    await viewerButton('Compare').click();
    await page.keyboard.press('ArrowLeft');
    await viewerButton('Compare with marked').click();
    const compared = await page.$eval('#history-viewer', (dialog) => ({
      pictures: [...dialog.querySelectorAll<HTMLImageElement>('.viewer-compare img')].map((image) => {
        const box = image.getBoundingClientRect();
        return { alt: image.alt, top: Math.round(box.top), left: Math.round(box.left) };
      }),
      differs: [...dialog.querySelectorAll('tr.differs th')].map((th) => th.firstChild?.textContent),
    }));
    expect(compared.pictures.map(({ alt }) => alt)).toEqual([PROMPT, SECOND]);
    const [a, b] = compared.pictures;
    expect(a!.top).toBe(b!.top);
    expect(a!.left).toBeLessThan(b!.left);
    expect(compared.differs).toEqual(['Prompt', 'Seed', 'Steps']);
    await page.keyboard.press('Escape');
    expect(await page.isVisible('#history-viewer')).toBe(false);
  });

  it(
    'shows the last picture in the main view after a reload; Reuse settings and Reuse seed fill the form',
    async () => {
      const { page } = session;
      await reload();
      await page.waitForSelector('#gallery img');
      expect(await galleryPrompts()).toEqual([SECOND, PROMPT]);
      await page.waitForFunction((prompt) => document.querySelector('#picture')!.getAttribute('aria-label') === `Picture from the history: ${prompt}`, SECOND);
      // The main view holds the very pixels of the newest picture kept (its thumbnail's PNG).
      const same = await page.evaluate(() => {
        const shown = document.querySelector<HTMLCanvasElement>('#picture')!;
        const newest = document.querySelector<HTMLImageElement>('#gallery img')!;
        const drawn = Object.assign(document.createElement('canvas'), { width: newest.naturalWidth, height: newest.naturalHeight });
        drawn.getContext('2d')!.drawImage(newest, 0, 0);
        const [x, y] = [
          shown.getContext('2d')!.getImageData(0, 0, shown.width, shown.height).data,
          drawn.getContext('2d')!.getImageData(0, 0, drawn.width, drawn.height).data,
        ];
        return shown.width === drawn.width && x.length === y.length && x.every((value, i) => value === y[i]);
      });
      expect(same).toBe(true);

      await scrambleForm();
      await open(PROMPT, 5);
      await viewerButton('Reuse settings').click();
      expect(await formValues()).toEqual(EXPECTED_FORM);
      expect(await page.isVisible('#history-viewer')).toBe(false);

      await page.getByLabel('Seed', { exact: true }).fill('999');
      await open(SECOND, 6);
      await viewerButton('Reuse seed').click();
      expect(await page.inputValue('#seed')).toBe('6');
      expect(await page.inputValue('#prompt')).toBe(PROMPT);
    },
    MODEL_LOAD_MS + 30_000,
  );

  it('deletes one picture from the large view', async () => {
    const { page } = session;
    await open(SECOND, 6);
    await viewerButton('Delete').click();
    await page.waitForFunction(() => document.querySelectorAll('#gallery img').length === 1);
    expect(await galleryPrompts()).toEqual([PROMPT]);
    // The next picture takes its place in the large view.
    expect(await viewer()).toMatchObject({ title: 'Picture 1 of 1', details: { Prompt: PROMPT } });
    await page.keyboard.press('Escape');
  });

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

  it(
    'keeps nothing while "Keep history" is off, says so, and remembers the choice (the deleted picture stays gone)',
    async () => {
      const { page } = session;
      expect(await page.isVisible('.history-off')).toBe(false);
      await page.getByLabel('Keep history').uncheck();
      // The choice is written to IndexedDB: reload only once it is there.
      await page.waitForSelector('#keep-history[data-saved="false"]');
      await reload();
      await page.waitForSelector('#gallery img');
      expect(await page.isChecked('#keep-history')).toBe(false);
      expect(await page.locator('.history-off').textContent()).toContain('not kept after a reload');
      expect(await galleryPrompts()).toEqual([PROMPT]);
      await generate('a green triangle on a red background', 7, 1);
      expect(await galleryPrompts()).toEqual([PROMPT]);
      expect(session.pageErrors).toEqual([]);
    },
    MODEL_LOAD_MS + GENERATION_MS,
  );

  it('asks before clearing the history, then shows the empty state', async () => {
    const { page } = session;
    await page.click('#clear-history');
    expect(await page.getByRole('group', { name: 'Delete all pictures?' }).textContent()).toContain('Delete all 1 picture?');
    await page.getByRole('button', { name: 'No', exact: true }).click();
    expect(await galleryPrompts()).toEqual([PROMPT]);
    expect(await page.isVisible('#clear-history')).toBe(true);

    await page.click('#clear-history');
    await page.getByRole('button', { name: 'Yes, delete', exact: true }).click();
    await page.waitForSelector('.history-empty:not([hidden])');
    expect(await galleryPrompts()).toEqual([]);
    expect(await page.locator('.history-empty').textContent()).toBe(EMPTY);
    expect(session.pageErrors).toEqual([]);
  });
});

/**
 * "Start from a picture" as a user drives it, in Chromium: choose a file, paint a mask with the
 * mouse and a finger, erase, invert, clear; at a phone's width, with nothing axe-core objects
 * to. Then with the real engine (tiny-shapes on the CPU backend): a generated picture used as
 * the source, changed by image-to-image and by inpainting, each judged against its prompt.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, PALETTE, scoreJudgement } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';
import { drawScene } from '../unit/judge/draw.ts';
import type { PagePicture } from '../pages/source-picture-page.ts';

const SIZE = 64;

const browser = useBrowserPage('/test/pages/source-picture.html', {
  ready: async (page) => {
    await page.setViewportSize({ width: 390, height: 844 });
    // Past the page's start, nothing here waits long for the user interface: fail fast.
    page.setDefaultTimeout(20_000);
    await page.waitForFunction(() => window.sourcePicturePage !== undefined);
  },
});

/** A 160 x 128 PNG: a red circle on blue in the middle 128 x 128, yellow bands either side. */
function redCirclePng(): Buffer {
  const scene = drawScene({ color: 'red', shape: 'circle', background: 'blue', sizeFraction: 0.5, fx: 0.5, fy: 0.5 }, 128);
  const png = new PNG({ width: 160, height: 128 });
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 160; x++) {
      const inside = x >= 16 && x < 144;
      const rgba = inside ? Array.from(scene.subarray((y * 128 + x - 16) * 4, (y * 128 + x - 16) * 4 + 4)) : [...PALETTE.yellow, 255];
      png.data.set(rgba, (y * 160 + x) * 4);
    }
  }
  return PNG.sync.write(png);
}

function fields(): Promise<{ image?: PagePicture; strength?: number; mask?: PagePicture }> {
  return browser.page.evaluate(() => window.sourcePicturePage!.fields());
}

/** The mask's value (0 keep .. 255 repaint) at model pixel (x, y). */
function maskAt(mask: PagePicture, x: number, y: number): number {
  return mask.pixels[(y * mask.width + x) * 4]!;
}

/** Page coordinates of the centre of model pixel (x, y) on the shown canvas. */
async function onCanvas(x: number, y: number): Promise<{ x: number; y: number }> {
  const box = (await browser.page.locator('.sp-canvas').boundingBox())!;
  return { x: box.x + ((x + 0.5) / SIZE) * box.width, y: box.y + ((y + 0.5) / SIZE) * box.height };
}

/** A fast mouse stroke: one pointermove from start to end, the way a quick flick arrives. */
async function mouseStroke(from: [number, number], to: [number, number]): Promise<void> {
  const { mouse } = browser.page;
  const start = await onCanvas(...from);
  const end = await onCanvas(...to);
  await mouse.move(start.x, start.y);
  await mouse.down();
  await mouse.move(end.x, end.y, { steps: 1 });
  await mouse.up();
}

/** A picture at the plain image-to-image strength, and no mask. */
async function expectNoMask(): Promise<void> {
  const { image, ...rest } = await fields();
  expect(image).toBeDefined();
  expect(rest).toEqual({ strength: 0.8 });
}

async function axeViolations(): Promise<string[]> {
  const { page } = browser;
  if (!(await page.evaluate(() => 'axe' in window))) {
    const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.addScriptTag({ content: source });
  }
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Element): Promise<{ violations: { id: string; nodes: { html: string }[] }[] }> } }).axe;
    const { violations } = await axe.run(document.querySelector('#source')!);
    return violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`);
  });
}

/** Controls narrower or lower than 24 CSS px (WCAG 2.5.8), and whether the page scrolls sideways. */
function layoutAtPhoneWidth(): Promise<{ overflow: number; small: string[]; canvasWidth: number }> {
  return browser.page.evaluate(() => {
    const small: string[] = [];
    for (const control of document.querySelectorAll<HTMLElement>('#source summary, #source button, #source input')) {
      const box = control.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue; // hidden
      if (box.width < 24 || box.height < 24) small.push(`${control.outerHTML.slice(0, 60)} ${box.width}x${box.height}`);
    }
    return {
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      small,
      canvasWidth: document.querySelector('.sp-canvas')?.getBoundingClientRect().right ?? 0,
    };
  });
}

describe('start from a picture', () => {
  it('offers a labelled file picker in a collapsed section, usable at 390 px', async () => {
    const { page } = browser;
    await expect(page.getByLabel('Picture to start from', { exact: true }).isVisible()).resolves.toBe(false);
    await page.getByText('Start from a picture').click();
    await expect(page.getByLabel('Picture to start from', { exact: true }).isVisible()).resolves.toBe(true);
    expect(await fields()).toEqual({});
    expect(await axeViolations()).toEqual([]);
    expect(await layoutAtPhoneWidth()).toMatchObject({ overflow: 0, small: [] });
  });

  it('says so when the file is no picture, and stays as it was', async () => {
    const { page } = browser;
    await page
      .getByLabel('Picture to start from', { exact: true })
      .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await page.waitForFunction(() => window.sourcePicturePage!.errors.length > 0);
    expect(await page.evaluate(() => window.sourcePicturePage!.errors)).toEqual([expect.stringMatching(/notes\.txt is not a picture this browser can open/)]);
    expect(await fields()).toEqual({});
  });

  it('shows a chosen PNG, cropped to the model size, and offers it at strength 0.8 without a mask', async () => {
    const { page } = browser;
    await page.getByLabel('Picture to start from', { exact: true }).setInputFiles({ name: 'circle.png', mimeType: 'image/png', buffer: redCirclePng() });
    await page.getByRole('button', { name: 'Remove picture' }).waitFor();
    const { image, strength, mask } = await fields();
    expect([image?.width, image?.height, strength, mask]).toEqual([SIZE, SIZE, 0.8, undefined]);
    // The yellow side bands were cropped away, not squeezed in: the border is the blue background.
    expect(judgeImage(Uint8ClampedArray.from(image!.pixels), SIZE, SIZE)).toMatchObject({ color: 'red', shape: 'circle', background: 'blue' });
    expect(await page.getByLabel(/^Strength/).inputValue()).toBe('0.8');
    expect(await page.locator('.sp-strength-value').textContent()).toBe('0.80');
    // The canvas shows it: red in the middle, blue in a corner.
    const shown = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('.sp-canvas')!;
      const at = (x: number, y: number) =>
        Array.from(
          canvas
            .getContext('2d')!
            .getImageData(x * canvas.width, y * canvas.height, 1, 1)
            .data.slice(0, 3),
        );
      return { middle: at(0.5, 0.5), corner: at(0.05, 0.05) };
    });
    expect(shown.middle[0]).toBeGreaterThan(180);
    expect(shown.corner[2]).toBeGreaterThan(180);
  });

  it('paints the mask along a fast mouse stroke, and only there; the eraser takes it away', async () => {
    const { page } = browser;
    await mouseStroke([8, 32], [56, 32]);
    const { mask, strength } = await fields();
    expect(mask).toBeDefined();
    expect([mask!.width, mask!.height]).toEqual([SIZE, SIZE]);
    // White all along the stroke (one pointermove: the line between was filled in), black away from it.
    for (let x = 8; x <= 56; x++) expect(maskAt(mask!, x, 32), `x = ${x}`).toBe(255);
    for (const [x, y] of [
      [32, 4],
      [32, 60],
      [2, 32],
      [62, 32],
      [32, 20],
      [32, 44],
    ] as const)
      expect(maskAt(mask!, x, y), `(${x}, ${y})`).toBe(0);
    // Inpainting's strength: the painted area is drawn afresh.
    expect(strength).toBe(1);
    expect(await page.locator('.sp-strength-value').textContent()).toBe('1.00');
    // The overlay shows the mask over the picture: the stroke's pixels are tinted, pink over blue.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
    const tint = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('.sp-canvas')!;
      return Array.from(
        canvas
          .getContext('2d')!
          .getImageData(canvas.width * (12 / 64), canvas.height * (32.5 / 64), 1, 1)
          .data.slice(0, 3),
      );
    });
    expect(tint[0]).toBeGreaterThan(120);

    // A bigger eraser (the slider, by keyboard) over the same line leaves nothing painted.
    await page.getByRole('button', { name: 'Eraser' }).click();
    expect(await page.getByRole('button', { name: 'Eraser' }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByRole('button', { name: 'Brush' }).getAttribute('aria-pressed')).toBe('false');
    await page.getByLabel(/^Brush size/).focus();
    for (let k = 0; k < 8; k++) await page.keyboard.press('ArrowRight');
    expect(await page.locator('.sp-brush-value').textContent()).toBe('20%');
    await mouseStroke([4, 32], [60, 32]);
    await expectNoMask();
  });

  it('paints with a finger too', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Brush' }).click();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 1 });
    const points = await Promise.all([onCanvas(32, 6), onCanvas(32, 30), onCanvas(32, 58)]);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [points[0]!] });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [points[1]!] });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [points[2]!] });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: false });
    await cdp.detach();
    const { mask } = await fields();
    for (let y = 6; y <= 58; y++) expect(maskAt(mask!, 32, y), `y = ${y}`).toBe(255);
    for (const [x, y] of [
      [4, 32],
      [60, 32],
      [20, 32],
      [44, 32],
    ] as const)
      expect(maskAt(mask!, x, y), `(${x}, ${y})`).toBe(0);
  });

  it('inverts and clears the mask', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Invert mask' }).click();
    const inverted = (await fields()).mask!;
    expect(maskAt(inverted, 32, 32)).toBe(0);
    expect(maskAt(inverted, 4, 32)).toBe(255);
    await page.getByRole('button', { name: 'Clear mask' }).click();
    await expectNoMask();
    // An empty mask inverted: the whole picture is repainted.
    await page.getByRole('button', { name: 'Invert mask' }).click();
    const whole = (await fields()).mask!;
    expect(whole.pixels.every((value, k) => k % 4 === 3 || value === 255)).toBe(true);
  });

  it('fits a 390 px wide screen with controls large enough to touch, and nothing axe-core objects to', async () => {
    const layout = await layoutAtPhoneWidth();
    expect(layout).toMatchObject({ overflow: 0, small: [] });
    expect(layout.canvasWidth).toBeLessThanOrEqual(390);
    expect(await axeViolations()).toEqual([]);
  });

  it('removes the picture: requests are text-to-image again', async () => {
    await browser.page.getByRole('button', { name: 'Remove picture' }).click();
    expect(await fields()).toEqual({});
    await expect(browser.page.getByLabel('Picture to start from', { exact: true }).isVisible()).resolves.toBe(true);
  });
});

describe('dropping a file', () => {
  it('takes a picture dropped on the section, and the page behind it is not handed the drop', async () => {
    const { page } = browser;
    const png = redCirclePng().toString('base64');
    const bodySawDrop = await page.evaluate(async (base64) => {
      let seen = false;
      document.body.addEventListener('drop', () => (seen = true), { once: true });
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      const target = document.querySelector('.source-picture')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      return seen;
    }, png);
    expect(bodySawDrop).toBe(false);
    await page.getByRole('button', { name: 'Remove picture' }).waitFor();
    const { image } = await fields();
    expect(judgeImage(Uint8ClampedArray.from(image!.pixels), SIZE, SIZE)).toMatchObject({ color: 'red', shape: 'circle', background: 'blue' });
  });
});

describe('with the engine (tiny-shapes, CPU backend)', () => {
  const judged = (picture: PagePicture) => judgeImage(Uint8ClampedArray.from(picture.pixels), picture.width, picture.height);
  const asked = (prompt: string, picture: PagePicture) => scoreJudgement(parsePrompt(prompt), judged(picture)).all;

  it('changes a generated picture used as the source, by image-to-image and by inpainting, as the prompts say', async () => {
    const { page } = browser;
    await page.evaluate(() => window.sourcePicturePage!.load());
    if (await page.getByRole('button', { name: 'Remove picture' }).isVisible()) await page.getByRole('button', { name: 'Remove picture' }).click();
    const first = 'a red circle on a blue background';
    const generated = await page.evaluate((prompt) => window.sourcePicturePage!.generate({ prompt, seed: 1 }), first);
    expect(generated.source).toBe('text');
    expect(asked(first, generated), JSON.stringify(judged(generated))).toBe(true);

    await page.getByRole('button', { name: 'Use as source' }).click();
    await page.getByRole('button', { name: 'Remove picture' }).waitFor();
    const taken = await fields();
    expect(taken.strength).toBe(0.8);
    expect(taken.image!.pixels).toEqual(generated.pixels);

    // Image-to-image at 0.8: the circle stays, the background turns green.
    const recoloured = 'a red circle on a green background';
    const changed = await page.evaluate((prompt) => window.sourcePicturePage!.generate({ prompt, seed: 5 }), recoloured);
    expect([changed.source, changed.strength]).toEqual(['image', 0.8]);
    expect(asked(recoloured, changed), JSON.stringify(judged(changed))).toBe(true);

    // Inpainting with the whole picture masked: anything may change, at strength 1.
    await page.getByRole('button', { name: 'Invert mask' }).click();
    const repainted = 'a yellow square on a purple background';
    const inpainted = await page.evaluate((prompt) => window.sourcePicturePage!.generate({ prompt, seed: 3 }), repainted);
    expect([inpainted.source, inpainted.strength]).toEqual(['inpainting', 1]);
    expect(asked(repainted, inpainted), JSON.stringify(judged(inpainted))).toBe(true);
    expect(browser.pageErrors).toEqual([]);
  });
});

/**
 * The demo's LoRA panel as a user drives it: add the pink LoRA by URL, generate, the picture is
 * pink; switch it off, and the same seed is the base model's picture again. The models panel
 * lists the stored LoRA, and deletes it.
 */
import { describe, expect, it } from 'vitest';
import { judgeImage } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 300_000;

const session = useBrowserPage('/?backend=wasm', {
  ready: (page) => page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS }),
  readyTimeoutMs: MODEL_LOAD_MS,
  openTimeoutMs: MODEL_LOAD_MS + 30_000,
});

async function generated(): Promise<{ color: string | null; pixels: number[] }> {
  const { page } = session;
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForSelector('body[data-state="done"]', { timeout: GENERATION_MS });
  const pixels = await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#picture')!;
    return Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data);
  });
  return { color: judgeImage(Uint8ClampedArray.from(pixels), 64, 64).color, pixels };
}

describe('demo page LoRA panel', () => {
  it(
    'adds a LoRA by URL, applies it, and switches it off again',
    async () => {
      const { page } = session;
      await page.getByText('LoRAs', { exact: true }).click();
      await page.getByLabel('LoRA URL').fill(new URL('/models/tiny-shapes-lora-pink/manifest.json', page.url()).href);
      await page.getByRole('button', { name: 'Add' }).click();
      await page.getByText('tiny-shapes-lora-pink (rank 8)').waitFor({ timeout: 60_000 });
      await page.getByLabel('Prompt', { exact: true }).fill('a pink circle on a blue background');
      await page.getByLabel('Random', { exact: true }).uncheck();
      await page.getByLabel('Seed', { exact: true }).fill('101');
      const pink = await generated();
      expect(pink.color).toBe('pink');
      await page.getByLabel('tiny-shapes-lora-pink (rank 8)').uncheck();
      const off = await generated();
      expect(off.pixels).not.toEqual(pink.pixels);

      // The models panel lists it as stored on this device, with its size, and deletes it.
      const stored = page.locator('#model-loras');
      await stored.getByText('1 LoRA stored on this device').click();
      await expect.poll(() => stored.locator('li').innerText()).toMatch(/tiny-shapes-lora-pink\/lora\.safetensors · [\d.]+ (kB|MB)/);
      await stored.getByRole('button', { name: 'Delete tiny-shapes-lora-pink/lora.safetensors from this device' }).click();
      await expect.poll(() => stored.isHidden()).toBe(true);
      // Listed again from the store after the delete: nothing of it is left there.
      await page.reload();
      await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
      expect(await stored.isHidden()).toBe(true);
      expect(session.pageErrors).toEqual([]);
    },
    GENERATION_MS * 2,
  );
});

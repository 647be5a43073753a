/**
 * The README's screenshots of the demo page: its main states at 1280x800 and 390x844, made in
 * headless Chromium with the bundled model. `npm run screenshots` writes docs/screenshots/*.png.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, REPO_ROOT, serveProject } from './lib/browser.ts';

const OUT = join(REPO_ROOT, 'docs', 'screenshots');
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
const TIMEOUT_MS = 180_000;

async function generate(page: Page, prompt: string, pictures = 1): Promise<void> {
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByLabel('Pictures', { exact: true }).fill(String(pictures));
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForSelector('body[data-state="done"]', { timeout: TIMEOUT_MS });
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const served = await serveProject();
  const browser = await launchChromium({ webgpu: true });
  try {
    for (const [name, viewport] of Object.entries(SIZES)) {
      const page = await browser.newPage({ viewport, colorScheme: name === 'phone' ? 'dark' : 'light' });
      await page.goto(`${served.origin}/`);
      await page.waitForSelector('body[data-state="ready"]', { timeout: TIMEOUT_MS });
      await generate(page, 'a red circle on a blue background');
      await page.screenshot({ path: join(OUT, `${name}-picture.png`) });

      // The queue: three requests made at once, caught while they run.
      await page.getByLabel('Steps', { exact: true }).fill('60');
      for (const prompt of ['a yellow square on a purple background', 'a white triangle on a green background', 'a black circle on a orange background']) {
        await page.getByLabel('Prompt', { exact: true }).fill(prompt);
        await page.keyboard.press('Control+Enter');
      }
      await page.waitForFunction(() => document.querySelector('#queue-list li[data-status="running"]') !== null);
      await page.locator('#queue').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(OUT, `${name}-queue.png`) });
      await page.waitForSelector('body[data-state="done"]', { timeout: TIMEOUT_MS });
      await page.getByLabel('Steps', { exact: true }).fill('20');

      await generate(page, 'a green square on a white background', 4);
      await page.locator('#results').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(OUT, `${name}-batch.png`) });
      await page.getByLabel('Pictures', { exact: true }).fill('1');

      await page.locator('#history').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(OUT, `${name}-history.png`) });
      await page.close();
    }
  } finally {
    await browser.close();
    await served.close();
  }
  console.log(`screenshots written to ${OUT}`);
}

await main();

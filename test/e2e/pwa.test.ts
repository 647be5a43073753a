/**
 * The demo as a PWA, built (`vite build`) and served by a plain static host with the isolation
 * headers: what makes it installable, the offline start after one online visit, and the update
 * path. The checks a Lighthouse PWA audit makes that matter here are asserted directly.
 *
 * Offline is the browser context's offline mode (Playwright `setOffline`, so `navigator.onLine`
 * is false) and the server shut down (the browser's own check for a new service worker is not
 * held back by that mode): the page, its scripts and ONNX Runtime's wasm can come only from the
 * service worker's cache, the model's weights only from the engine's weight store.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { launchChromium } from '../../scripts/lib/browser.ts';
import { buildInto, type Built } from '../support/build.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';

const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 300_000;

let first: Built;
let second: Built;
let browser: Browser;
let log: string[] = [];

beforeAll(async () => {
  // Two versions of the app, as two deployments would be.
  first = await buildInto('app', { define: { __WEBDIFFUSION_VERSION__: JSON.stringify('1.0.0-first') } });
  second = await buildInto('app', { define: { __WEBDIFFUSION_VERSION__: JSON.stringify('1.0.0-second') } });
  browser = await launchChromium();
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await first?.remove();
  await second?.remove();
});
beforeEach((context) => {
  log = [];
  context.onTestFailed(() => console.error(['--- browser console ---', ...log, '--- end ---'].join('\n')));
});

async function open(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => log.push(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => log.push(`[pageerror] ${error.stack ?? error.message}`));
  await page.goto(url);
  return page;
}

/** Until the service worker controls the page and the demo has loaded its model. */
async function untilReady(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: MODEL_LOAD_MS });
  await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
}

describe('the demo as a PWA', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await startStaticServer({ '/': first.dir });
  });
  afterAll(() => server?.close());

  it('is installable: a linked web app manifest with name, start URL, standalone display and real icons', async () => {
    const html = await (await fetch(`${server.origin}/`)).text();
    const link = /<link rel="manifest" href="([^"]+)"/.exec(html);
    expect(link).not.toBeNull();
    expect(html).toMatch(/<meta name="theme-color" content="#[0-9a-f]{6}"/);
    const manifestUrl = new URL(link![1]!, `${server.origin}/`);
    const response = await fetch(manifestUrl);
    expect(response.status).toBe(200);
    const manifest = (await response.json()) as {
      name: string;
      short_name: string;
      start_url: string;
      display: string;
      theme_color: string;
      background_color: string;
      icons: { src: string; sizes: string; type: string; purpose: string }[];
    };
    expect(manifest).toMatchObject({ name: 'webdiffusion', short_name: 'webdiffusion', display: 'standalone' });
    expect(new URL(manifest.start_url, manifestUrl).href).toBe(`${server.origin}/`);
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/);
    // The icons the install prompt needs: 192 and 512 pixels, and one that survives masking.
    const icons = await Promise.all(
      manifest.icons.map(async (icon) => {
        const bytes = Buffer.from(await (await fetch(new URL(icon.src, manifestUrl))).arrayBuffer());
        const png = PNG.sync.read(bytes);
        return { sizes: icon.sizes, purpose: icon.purpose, actual: `${png.width}x${png.height}` };
      }),
    );
    for (const icon of icons) expect(icon.actual).toBe(icon.sizes);
    expect(icons.map((icon) => `${icon.sizes} ${icon.purpose}`).sort()).toEqual(['192x192 any', '512x512 any', '512x512 maskable']);
  });

  it(
    'after one online visit, starts and generates with the network off; the weights come from the weight store, not the service worker',
    async () => {
      const context = await browser.newContext();
      const host = await startStaticServer({ '/': first.dir });
      try {
        const page = await open(context, `${host.origin}/`);
        await untilReady(page);
        expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
        // What the service worker keeps: the shell, the wasm, the model's manifest; no weights.
        const cached = await page.evaluate(async () => {
          const urls: string[] = [];
          for (const name of await caches.keys()) for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
          return urls;
        });
        expect(cached).toEqual(expect.arrayContaining(['/index.html', '/manifest.webmanifest', '/models/tiny-shapes/manifest.json']));
        expect(cached.some((path) => /\/assets\/ort-wasm-simd-threaded\..*\.wasm$/.test(path))).toBe(true);
        expect(cached.some((path) => /\/assets\/worker-.*\.js$/.test(path))).toBe(true);
        expect(cached.filter((path) => path.endsWith('.onnx'))).toEqual([]);

        await context.setOffline(true);
        await host.close();
        await page.reload();
        await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
        expect(await page.evaluate(() => [navigator.onLine, navigator.serviceWorker.controller !== null])).toEqual([false, true]);
        // The models panel says so: the app is the service worker's, the model is in the weight store.
        await page.waitForSelector('#model-offline:not([hidden])', { timeout: 30_000 });
        expect(await page.textContent('#model-offline')).toBe('Ready offline');

        const prompt = 'a blue triangle on a yellow background';
        await page.getByLabel('Prompt', { exact: true }).fill(prompt);
        await page.getByLabel('Seed', { exact: true }).fill('2');
        await page.getByRole('button', { name: 'Generate' }).click();
        await page.waitForSelector('body[data-state="done"]', { timeout: GENERATION_MS });
        const { data, width, height } = await page.evaluate(() => {
          const canvas = document.querySelector<HTMLCanvasElement>('#picture')!;
          const image = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
          return { data: Array.from(image.data), width: image.width, height: image.height };
        });
        const judged = judgeImage(Uint8ClampedArray.from(data), width, height);
        expect(scoreJudgement(parsePrompt(prompt), judged).all, JSON.stringify(judged)).toBe(true);
        const stored = await page.evaluate(async () => {
          const root = await navigator.storage.getDirectory();
          const names: string[] = [];
          for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
          return names;
        });
        expect(stored.length).toBeGreaterThan(0);
        // All of it under the built page's Content-Security-Policy, which refused nothing.
        expect(await page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]') !== null)).toBe(true);
        expect(log.filter((line) => /Content Security Policy/i.test(line))).toEqual([]);
      } finally {
        await context.close();
        await host.close().catch(() => undefined); // closed already, unless the test failed first
      }
    },
    MODEL_LOAD_MS * 2 + GENERATION_MS,
  );
});

describe('updates', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await startStaticServer({ '/': first.dir });
  });
  afterAll(() => server?.close());

  it(
    'a new deployment is offered as "Reload to update", not applied half-way; accepting reloads into it',
    async () => {
      const context = await browser.newContext();
      try {
        const page = await open(context, `${server.origin}/`);
        await untilReady(page);
        const version = (): Promise<string | undefined> => page.evaluate(() => document.documentElement.dataset.version);
        expect(await version()).toBe('1.0.0-first');
        const prompt = page.getByRole('button', { name: 'Reload to update' });
        expect(await prompt.count()).toBe(0);

        server.mount('/', second.dir);
        // A navigation makes the browser check the service worker's script: the new one installs and waits.
        await page.reload();
        await prompt.waitFor({ timeout: MODEL_LOAD_MS });
        expect(await page.getByRole('status').filter({ hasText: 'A new version' }).count()).toBe(1);
        // Still the first version, whole: the page and its scripts from the first build's cache.
        expect(await version()).toBe('1.0.0-first');

        await Promise.all([page.waitForEvent('load', { timeout: MODEL_LOAD_MS }), prompt.click()]);
        await page.waitForFunction(() => document.documentElement.dataset.version !== undefined);
        expect(await version()).toBe('1.0.0-second');
        expect(await prompt.count()).toBe(0);
        await page.waitForSelector('body[data-state="ready"]', { timeout: MODEL_LOAD_MS });
        expect(log.filter((line) => line.startsWith('[pageerror]'))).toEqual([]);
      } finally {
        await context.close();
      }
    },
    MODEL_LOAD_MS * 3,
  );
});

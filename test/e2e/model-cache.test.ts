/**
 * The model cache through the public API, in headless Chromium: download progress on the
 * loading channel, prefetch / list / delete / purge, and the offline visit — model cached,
 * network off, page reloaded, picture generated.
 *
 * The model comes from a test file server on another origin (as from a CDN), which counts the
 * bytes it sends. What "offline" simulates, exactly: the browser context is put offline
 * (Playwright `setOffline`: `navigator.onLine` is false and every request that reaches the
 * network fails, the model server's included); the page's own files (HTML, scripts, ONNX
 * Runtime's wasm) are answered by a route handler that fetches them from the dev server through
 * Node, standing in for the HTTP cache or service worker a deployed page would use. The route
 * handler refuses the dev server's /models/: model files can come only from the weight store.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CachedModel, Progress } from '../../src/api.ts';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';
import { useBrowserPage } from '../support/browser.ts';
import { fileSource, startFileServer, type FileServer } from '../support/file-server.ts';

const MODEL_DIR = join(REPO_ROOT, 'models/tiny-shapes');
const manifestText = readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8');
const manifest = JSON.parse(manifestText) as { id: string; variants: { files: { path: string; size: number; sha256: string }[] }[] };
const DISTINCT = manifest.variants[0]!.files.filter((file, index) => manifest.variants[0]!.files.findIndex((other) => other.sha256 === file.sha256) === index);
const MODEL_BYTES = DISTINCT.reduce((sum, file) => sum + file.size, 0);
const UNET = manifest.variants[0]!.files.find((file) => file.path === 'unet/model.onnx')!;
const GENERATION_MS = 300_000;

const session = useBrowserPage('/src/cli/page.html', {
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

let server: FileServer;
beforeAll(async () => {
  // The same files under two manifests: "tiny-shapes", and a copy that calls itself "twin".
  const files: Record<string, ReturnType<typeof fileSource>> = {
    '/tiny-shapes/manifest.json': fileSource(join(MODEL_DIR, 'manifest.json')),
  };
  const twin = Buffer.from(JSON.stringify({ ...manifest, id: 'twin' }));
  files['/twin/manifest.json'] = { size: twin.byteLength, read: (offset, length) => twin.subarray(offset, offset + length) };
  for (const file of manifest.variants[0]!.files) {
    files[`/tiny-shapes/${file.path}`] = fileSource(join(MODEL_DIR, file.path));
    files[`/twin/${file.path}`] = files[`/tiny-shapes/${file.path}`]!;
  }
  server = await startFileServer(files);
});
afterAll(() => server?.close());

const modelUrl = (name: 'tiny-shapes' | 'twin'): string => `${server.origin}/${name}/manifest.json`;
const bytesServed = (): number => server.requests.reduce((sum, request) => sum + request.bytesSent, 0);

interface Outcome<T> {
  readonly ok: boolean;
  readonly value?: T;
  readonly error?: { name: string; code?: string; message: string; ours: boolean };
  readonly progress: Progress[];
}

/** Runs one engine call in the page; errors come back with their name and code. */
function call<T>(
  method: 'loadModel' | 'prefetchModel' | 'listCachedModels' | 'deleteCachedModel' | 'purgeCachedModels',
  ...args: string[]
): Promise<Outcome<T>> {
  return session.page.evaluate(
    async ({ method, args }) => {
      const { api, engine } = window.webdiffusion!;
      const progress: Progress[] = [];
      const onProgress = (p: Progress): void => void progress.push(p);
      try {
        const e = (await engine) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        const withProgress = method === 'loadModel' || method === 'prefetchModel';
        const value = await e[method]!(...args, ...(withProgress ? [{ onProgress }] : []));
        return { ok: true, value: value as T, progress };
      } catch (error) {
        const e = error as Error & { code?: string };
        return { ok: false, error: { name: e.name, code: e.code, message: e.message, ours: error instanceof api.WebDiffusionError }, progress };
      }
    },
    { method, args },
  );
}

describe('model cache through the engine', () => {
  it('downloads once with progress on the loading channel, asking for persistent storage, and lists the model', async () => {
    const { page } = session;
    // Counts persist() calls from the page's first script on: installed, then the page reloaded.
    await page.addInitScript(() => {
      const persist = StorageManager.prototype.persist;
      (window as unknown as { persistCalls: number }).persistCalls = 0;
      StorageManager.prototype.persist = function (this: StorageManager) {
        (window as unknown as { persistCalls: number }).persistCalls += 1;
        return persist.call(this);
      };
    });
    await page.reload();
    await page.waitForFunction(() => window.webdiffusion !== undefined);
    expect(await call('purgeCachedModels')).toMatchObject({ ok: true });

    const before = Date.now();
    const loaded = await call<{ id: string }>('loadModel', modelUrl('tiny-shapes'));
    expect(loaded).toMatchObject({ ok: true, value: { id: 'tiny-shapes' } });
    expect(bytesServed()).toBe(Buffer.byteLength(manifestText) + MODEL_BYTES);

    const events = loaded.progress;
    expect(new Set(events.map((event) => event.phase))).toEqual(new Set(['loading']));
    const downloads = events.filter((event) => event.download !== undefined);
    expect(downloads.length).toBeGreaterThanOrEqual(DISTINCT.length);
    for (const [index, event] of downloads.entries()) {
      expect(event.steps).toBe(DISTINCT.length);
      expect(event.download).toMatchObject({ modelTotal: MODEL_BYTES });
      expect(event.download!.loaded).toBeLessThanOrEqual(event.download!.total);
      expect(event.download!.modelLoaded).toBeGreaterThanOrEqual(downloads[index - 1]?.download!.modelLoaded ?? 0);
      expect(Object.keys(event.download!).sort()).toEqual(['bytesPerSecond', 'etaSeconds', 'file', 'loaded', 'modelLoaded', 'modelTotal', 'total']);
    }
    expect(downloads.at(-1)!.download!.modelLoaded).toBe(MODEL_BYTES);
    expect(events.at(-1)).toMatchObject({ phase: 'loading', step: DISTINCT.length, steps: DISTINCT.length });
    expect(events.at(-1)!.download).toBeUndefined();
    expect(await page.evaluate(() => (window as unknown as { persistCalls: number }).persistCalls)).toBe(1);

    const listed = await call<CachedModel[]>('listCachedModels');
    expect(listed.value).toEqual([
      {
        id: 'tiny-shapes',
        key: modelUrl('tiny-shapes'),
        manifestUrl: modelUrl('tiny-shapes'),
        totalBytes: MODEL_BYTES,
        storedBytes: MODEL_BYTES,
        complete: true,
        lastUsed: expect.any(Number),
      },
    ]);
    expect(listed.value![0]!.lastUsed).toBeGreaterThanOrEqual(before);

    // Loaded again: the manifest is revalidated, no file is fetched; one 'loading' event per stage
    // says so, every file already there from the first.
    server.reset();
    const again = await call('loadModel', modelUrl('tiny-shapes'));
    expect(again).toMatchObject({ ok: true });
    expect(server.requests.map((request) => request.path)).toEqual(['/tiny-shapes/manifest.json']);
    const done = { phase: 'loading', step: DISTINCT.length, steps: DISTINCT.length };
    expect(again.progress).toMatchObject([
      { ...done, stage: 'download' },
      { ...done, stage: 'sessions' },
      { ...done, stage: 'warm-up' },
    ]);
  });

  it('prefetches without loading, deletes one model keeping the files another uses, stops a download on delete, purges all', async () => {
    server.reset();
    const twin = await call<CachedModel>('prefetchModel', modelUrl('twin'));
    // Same files, stored once: only the manifest crosses the network.
    expect(twin).toMatchObject({ ok: true, value: { id: 'twin', complete: true, storedBytes: MODEL_BYTES } });
    expect(server.requests.map((request) => request.path)).toEqual(['/twin/manifest.json']);

    expect(await call('deleteCachedModel', 'tiny-shapes')).toMatchObject({ ok: true });
    const afterDelete = await call<CachedModel[]>('listCachedModels');
    expect(afterDelete.value).toMatchObject([{ id: 'twin', complete: true, storedBytes: MODEL_BYTES }]);

    expect(await call('purgeCachedModels')).toMatchObject({ ok: true });
    expect((await call<CachedModel[]>('listCachedModels')).value).toEqual([]);

    // A prefetch under way, stopped by deleting its model.
    server.reset();
    server.misbehave(`/twin/${UNET.path}`, { bytesPerSecond: 2 * 1024 * 1024 });
    const stopped = await session.page.evaluate(async (url) => {
      const engine = await window.webdiffusion!.engine;
      let deleting: Promise<void> | undefined;
      const prefetch = engine.prefetchModel(url, {
        onProgress: (p) => {
          if (p.download?.file === 'unet/model.onnx' && p.download.loaded > 0) deleting ??= engine.deleteCachedModel('twin');
        },
      });
      const outcome = await prefetch.then(
        () => ({ ok: true }),
        (error: Error & { code?: string }) => ({ ok: false, name: error.name, code: error.code }),
      );
      await deleting;
      return { outcome, list: await engine.listCachedModels() };
    }, modelUrl('twin'));
    expect(stopped.outcome).toEqual({ ok: false, name: 'CancelledError', code: 'cancelled' });
    expect(stopped.list).toEqual([]);
    const unet = server.requests.find((request) => request.path === `/twin/${UNET.path}`)!;
    expect(unet.bytesSent).toBeLessThan(UNET.size);
  });

  it(
    'offline, after a reload, loads the cached model and generates a picture',
    async () => {
      const { page } = session;
      expect(await call('loadModel', modelUrl('tiny-shapes'))).toMatchObject({ ok: true });
      const origin = session.origin;
      const context = page.context();
      // The page's files through Node, as a cache would hand them out; never the model's.
      let routed = 0;
      const fromDevServer = async (route: Route): Promise<void> => {
        const request = route.request();
        routed += 1;
        // The catalog's own modules (a bundled model's manifest.json imported by the dev server) are the page's.
        const url = new URL(request.url());
        if (url.pathname.startsWith('/models/') && !url.searchParams.has('import')) return route.abort('internetdisconnected');
        const response = await fetch(request.url(), { method: request.method(), headers: request.headers() });
        const headers = Object.fromEntries(
          [...response.headers].filter(([name]) => !['content-encoding', 'content-length', 'transfer-encoding'].includes(name)),
        );
        return route.fulfill({ status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) });
      };
      await context.route(`${origin}/**`, fromDevServer);
      await context.setOffline(true);
      try {
        server.reset();
        await page.reload();
        await page.waitForFunction(() => window.webdiffusion !== undefined);
        expect(await page.evaluate(() => navigator.onLine)).toBe(false);
        expect(routed).toBeGreaterThan(0);

        const notCached = await call('loadModel', '/models/tiny-shapes/manifest.json');
        expect(notCached.error).toMatchObject({ name: 'NetworkError', code: 'network', ours: true });

        const loaded = await call<{ id: string }>('loadModel', modelUrl('tiny-shapes'));
        expect(loaded).toMatchObject({ ok: true, value: { id: 'tiny-shapes' } });
        const picture = await page.evaluate(async () => {
          const image = await (await window.webdiffusion!.engine).generate({ prompt: 'a red circle on a blue background', seed: 3, steps: 2 });
          return { width: image.width, height: image.height, colours: new Set(image.pixels).size };
        });
        expect(picture.width).toBe(64);
        expect(picture.height).toBe(64);
        expect(picture.colours).toBeGreaterThan(16);
        expect(server.requests).toEqual([]);
      } finally {
        await context.setOffline(false);
        await context.unroute(`${origin}/**`, fromDevServer);
      }
    },
    GENERATION_MS,
  );
});

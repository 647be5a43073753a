/**
 * The weight store in headless Chromium, on the bundled tiny-shapes model: served by the project's
 * dev server (same origin, no Range support) and by a test file server on another origin that can
 * drop, stall and corrupt transfers. What a user would notice: the model downloads once, comes back
 * verified and offline, resumes after an interruption or a reload instead of starting over, and
 * every failure is a typed error that says what to do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';
import { useBrowserPage } from '../support/browser.ts';
import { fileSource, startFileServer, type FileServer } from '../support/file-server.ts';
import type { FileListSource } from '../../src/storage/weight-store.ts';
import type { StoreSettings } from '../pages/storage-page.ts';

const MODEL_DIR = join(REPO_ROOT, 'models/tiny-shapes');
const manifest = JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')) as {
  id: string;
  variants: { files: { path: string; size: number; sha256: string }[] }[];
};
const UNET = manifest.variants[0]!.files.find((file) => file.path === 'unet/model.onnx')!;
/** The model's distinct files (two configs are identical): what the store keeps. */
const DISTINCT = manifest.variants[0]!.files.filter((file, index) => manifest.variants[0]!.files.findIndex((other) => other.sha256 === file.sha256) === index);
const MODEL_BYTES = DISTINCT.reduce((sum, file) => sum + file.size, 0);
const MiB = 1024 * 1024;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const browser = useBrowserPage('/test/pages/storage.html', {
  ready: (page) => page.waitForFunction(() => window.storagePage !== undefined),
});

let server: FileServer;
beforeAll(async () => {
  const files = Object.fromEntries([
    ['/tiny-shapes/manifest.json', fileSource(join(MODEL_DIR, 'manifest.json'))],
    ...manifest.variants[0]!.files.map((file) => [`/tiny-shapes/${file.path}`, fileSource(join(MODEL_DIR, file.path))]),
    // The same UNet from a host that reports its SHA-256 (X-Linked-ETag), and a file from one that does not.
    ['/reported/unet/model.onnx', { ...fileSource(join(MODEL_DIR, UNET.path)), reportedSha256: UNET.sha256 }],
    ['/reported/vae_decoder/config.json', fileSource(join(MODEL_DIR, 'vae_decoder/config.json'))],
    // An empty file (an external-data file with nothing in it), digest reported.
    ['/reported/empty.bin', { size: 0, read: () => new Uint8Array(0), reportedSha256: EMPTY_SHA256 }],
  ]);
  server = await startFileServer(files);
});
afterAll(() => server?.close());
beforeEach(() => server.reset());

const manifestUrl = (): string => `${server.origin}/tiny-shapes/manifest.json`;
const UNET_URL_PATH = `/tiny-shapes/${UNET.path}`;

/** A store in its own OPFS directory; 1 MiB parts so that the 10 MB UNet has ten of them. */
function settings(root: string, more: Partial<StoreSettings> = {}): StoreSettings {
  return { root, partSize: MiB, retryDelayMs: 50, ...more };
}

function ensure(source: string | FileListSource, store: StoreSettings, cancelAtBytes?: number) {
  return browser.page.evaluate(([s, o, c]) => window.storagePage!.ensure(s, o, c), [source, store, cancelAtBytes] as const);
}

/** The store's key of the one model stored under `id` (its manifest's URL, or a file list's id). */
async function keyOf(store: StoreSettings, id: string): Promise<string> {
  const listed = await browser.page.evaluate((s) => window.storagePage!.list(s), store);
  return listed.find((model) => model.id === id)!.key;
}

async function expectModelIntact(store: StoreSettings, id = manifest.id, files = manifest.variants[0]!.files): Promise<void> {
  const key = await keyOf(store, id);
  for (const file of files) {
    const stored = await browser.page.evaluate(([s, k, p]) => window.storagePage!.digest(s, k, p), [store, key, file.path] as const);
    expect({ path: file.path, sha256: stored.sha256, size: stored.size }).toEqual({ path: file.path, sha256: file.sha256, size: file.size });
  }
}

function unetRequests(): { range: string | null; status: number; bytesSent: number }[] {
  return server.requests.filter((request) => request.path === UNET_URL_PATH).map(({ range, status, bytesSent }) => ({ range, status, bytesSent }));
}

describe('weight store', () => {
  it('stores the bundled model from the dev server, verified, and serves it again without the network', async () => {
    const store = settings('dev-server', { partSize: 4 * MiB });
    const first = await ensure('/models/tiny-shapes/manifest.json', store);
    expect(first).toMatchObject({ ok: true, id: 'tiny-shapes', downloadedBytes: MODEL_BYTES, offline: false });
    await expectModelIntact(store);

    const events = first.progress;
    expect(events.length).toBeGreaterThanOrEqual(DISTINCT.length);
    expect(new Set(events.map((event) => event.file))).toEqual(new Set(DISTINCT.map((file) => file.path)));
    for (const [index, event] of events.entries()) {
      expect(event).toMatchObject({ phase: 'downloading', modelTotal: MODEL_BYTES });
      expect(event.loaded).toBeLessThanOrEqual(event.total);
      expect(event.modelLoaded).toBeGreaterThanOrEqual(events[index - 1]?.modelLoaded ?? 0);
      expect(event.etaSeconds === null || event.etaSeconds >= 0).toBe(true);
    }
    expect(events.at(-1)).toMatchObject({ loaded: events.at(-1)!.total, modelLoaded: MODEL_BYTES });

    const fetched: string[] = [];
    const onRequest = (request: { url(): string }): void => {
      if (request.url().includes('/models/')) fetched.push(new URL(request.url()).pathname);
    };
    browser.page.on('request', onRequest);
    const again = await ensure('/models/tiny-shapes/manifest.json', store);
    browser.page.off('request', onRequest);
    expect(again).toMatchObject({ ok: true, downloadedBytes: 0, offline: false, progress: [] });
    expect(fetched).toEqual(['/models/tiny-shapes/manifest.json']);

    const context = browser.page.context();
    await context.setOffline(true);
    try {
      const offline = await ensure('/models/tiny-shapes/manifest.json', store);
      expect(offline).toMatchObject({ ok: true, id: 'tiny-shapes', downloadedBytes: 0, offline: true });
      await expectModelIntact(store, manifest.id, [UNET]);
      const never = await ensure('/models/not-stored/manifest.json', store);
      expect(never.error).toMatchObject({ code: 'network', classes: ['WebDiffusionError', 'NetworkError'] });
    } finally {
      await context.setOffline(false);
    }
  });

  it('resumes a transfer that drops, stalls or restarts from the byte where it stopped', async () => {
    const store = settings('interrupted', { stallTimeoutMs: 1_500 });
    // Dropped at 2 MiB; the resumed request stalls at 6 MiB; the next is answered 200 (whole file).
    server.misbehave(UNET_URL_PATH, { dropAfter: 2 * MiB }, { stallAfter: 6 * MiB }, { ignoreRange: true });
    const result = await ensure(manifestUrl(), store);
    expect(result).toMatchObject({ ok: true });
    const [dropped, stalled, whole] = unetRequests();
    expect(dropped).toEqual({ range: null, status: 200, bytesSent: 2 * MiB });
    // A reset connection loses what was still in flight: the store resumes from what it received.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(stalled!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(MiB);
    expect(resumedAt).toBeLessThanOrEqual(2 * MiB);
    expect(stalled).toEqual({ range: `bytes=${resumedAt}-`, status: 206, bytesSent: 6 * MiB - resumedAt });
    expect(whole).toEqual({ range: `bytes=${6 * MiB}-`, status: 200, bytesSent: UNET.size });
    expect(unetRequests()).toHaveLength(3);
    await expectModelIntact(store, manifest.id, [UNET]);
  });

  it('resumes after a reload from the last part committed', async () => {
    const store = settings('reloaded');
    const stallAt = 5.5 * MiB;
    server.misbehave(UNET_URL_PATH, { stallAfter: stallAt });
    const page = browser.page;
    const interrupted = ensure(manifestUrl(), store).catch((error: unknown) => error);
    // (waitForFunction takes a returned promise for success: poll from here instead.)
    await expect
      .poll(() => page.evaluate(([root, sha]) => window.storagePage!.committedParts(root, sha), [store.root, UNET.sha256] as const), {
        interval: 100,
        timeout: 60_000,
      })
      .toBe(5);
    await page.reload();
    await page.waitForFunction(() => window.storagePage !== undefined);
    expect(String(await interrupted)).toMatch(/context was destroyed|Target closed|navigat/i);

    server.reset();
    const resumed = await ensure(manifestUrl(), store);
    expect(resumed).toMatchObject({ ok: true });
    expect(unetRequests()).toEqual([{ range: `bytes=${5 * MiB}-`, status: 206, bytesSent: UNET.size - 5 * MiB }]);
    expect(resumed.progress.find((event) => event.file === UNET.path)!.loaded).toBeGreaterThan(5 * MiB);
    await expectModelIntact(store, manifest.id, [UNET]);
  });

  it('fetches a corrupted file once more, and ends a second corruption with IntegrityError keeping nothing of it', async () => {
    const store = settings('corrupted');
    server.misbehave(UNET_URL_PATH, { corruptAt: 1_234_567 });
    const healed = await ensure(manifestUrl(), store);
    expect(healed).toMatchObject({ ok: true, downloadedBytes: MODEL_BYTES + UNET.size });
    expect(unetRequests()).toEqual([
      { range: null, status: 200, bytesSent: UNET.size },
      { range: null, status: 200, bytesSent: UNET.size },
    ]);
    await expectModelIntact(store, manifest.id, [UNET]);

    const again = settings('corrupted-twice');
    server.reset();
    server.misbehave(UNET_URL_PATH, { corruptAt: 1_234_567 }, { corruptAt: 7_654_321 });
    const corrupted = await ensure(manifestUrl(), again);
    expect(corrupted.error).toMatchObject({
      name: 'IntegrityError',
      code: 'integrity',
      classes: ['WebDiffusionError', 'IntegrityError'],
      details: { path: UNET.path, expected: UNET.sha256, attempts: 2 },
    });
    expect(corrupted.error!.details.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(corrupted.error!.details.actual).not.toBe(UNET.sha256);
    expect(unetRequests()).toHaveLength(2);
    const blobs = await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), again);
    expect(blobs).not.toContain(UNET.sha256);
    expect(await browser.page.evaluate(([r, sha]) => window.storagePage!.committedParts(r, sha), [again.root, UNET.sha256] as const)).toBe(0);
    const opened = await browser.page.evaluate(([s, i, p]) => window.storagePage!.openError(s, i, p), [
      again,
      await keyOf(again, manifest.id),
      UNET.path,
    ] as const);
    expect(opened).toMatchObject({ code: 'model-load' });

    server.reset();
    const retried = await ensure(manifestUrl(), again);
    expect(retried).toMatchObject({ ok: true, downloadedBytes: UNET.size });
    expect(unetRequests()).toEqual([{ range: null, status: 200, bytesSent: UNET.size }]);
    await expectModelIntact(again, manifest.id, [UNET]);
  });

  it('starts a file over when the server says it changed (another ETag) since the stored bytes came', async () => {
    const store = settings('changed');
    server.misbehave(UNET_URL_PATH, { dropAfter: 3 * MiB }, { etag: '"changed"' });
    const result = await ensure(manifestUrl(), store);
    expect(result).toMatchObject({ ok: true });
    const [dropped, refused, whole] = unetRequests();
    expect(dropped).toMatchObject({ range: null, status: 200 });
    // The resumed response carries the new ETag: what it would append belongs to another file.
    expect(refused!.range).toMatch(/^bytes=\d+-$/);
    expect(refused!.bytesSent).toBeLessThan(UNET.size);
    expect(whole).toEqual({ range: null, status: 200, bytesSent: UNET.size });
    expect(unetRequests()).toHaveLength(3);
    const unetEvents = result.progress.filter((event) => event.file === UNET.path).map((event) => event.loaded);
    expect(unetEvents).toContain(0);
    await expectModelIntact(store, manifest.id, [UNET]);
  });

  it('refuses with QuotaError before downloading when the browser says the model will not fit, keeping the models stored', async () => {
    const store = settings('too-small');
    const configs = manifest.variants[0]!.files.filter((file) => file.path.endsWith('/config.json'));
    const other = { id: 'configs', baseUrl: `${server.origin}/tiny-shapes/`, files: configs };
    expect(await ensure(other, store)).toMatchObject({ ok: true });
    server.reset();
    const result = await ensure(manifestUrl(), { ...store, fakeAvailable: 1_000_000 });
    const needed = MODEL_BYTES - configs[0]!.size;
    expect(result.error).toMatchObject({
      code: 'quota',
      classes: ['WebDiffusionError', 'QuotaError'],
      details: { needed, available: 1_000_000, missing: needed - 1_000_000 },
    });
    expect(new Set(result.error!.details.files as string[])).toEqual(
      new Set(DISTINCT.filter((file) => file.sha256 !== configs[0]!.sha256).map((file) => file.path)),
    );
    expect(server.requests.map((request) => request.path)).toEqual(['/tiny-shapes/manifest.json']);
    expect(await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), store)).toEqual([configs[0]!.sha256]);
    await expectModelIntact(store, 'configs', configs);
  });

  it('turns a write the browser refuses into QuotaError, and resumes once there is room', async () => {
    const page = browser.page;
    await page.evaluate(() => window.storagePage!.clear());
    const cdp = await page.context().newCDPSession(page);
    const origin = new URL(page.url()).origin;
    const { usage } = await page.evaluate(() => window.storagePage!.estimate());
    const store = settings('quota');
    // Chromium's estimate() ignores the override (it reports usage + ~10 GiB here), so the check
    // before downloading passes and the refusal comes from a write, as with a real full disk.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 4 * MiB });
    let refused;
    try {
      refused = await ensure(manifestUrl(), store);
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      await cdp.detach();
    }
    expect(refused.error).toMatchObject({ code: 'quota', classes: ['WebDiffusionError', 'QuotaError'] });
    const { needed, available, missing, files } = refused.error!.details as { needed: number; available: number; missing: number; files: string[] };
    expect(needed).toBeGreaterThan(MODEL_BYTES - 4 * MiB - MiB);
    expect(needed).toBeLessThan(MODEL_BYTES);
    expect(available).toBeGreaterThanOrEqual(0);
    expect(available).toBeLessThanOrEqual(MiB);
    expect(missing).toBe(needed - available);
    expect(files).toContain(UNET.path);

    const resumed = await ensure(manifestUrl(), store);
    expect(resumed).toMatchObject({ ok: true });
    expect(resumed.downloadedBytes).toBe(needed);
    await expectModelIntact(store, manifest.id, [UNET]);
  });

  it('cancels on abort, says offline what is missing, and resumes afterwards', async () => {
    const store = settings('cancelled');
    // Slowly enough that progress events (one per 100 ms) come while the UNet is under way.
    server.misbehave(UNET_URL_PATH, { bytesPerSecond: 16 * MiB });
    const cancelled = await ensure(manifestUrl(), store, 6 * MiB);
    expect(cancelled.error).toMatchObject({ code: 'cancelled', classes: ['WebDiffusionError', 'CancelledError'] });
    const parts = await browser.page.evaluate(([r, s]) => window.storagePage!.committedParts(r, s), [store.root, UNET.sha256] as const);
    expect(parts).toBeGreaterThan(0);

    const context = browser.page.context();
    await context.setOffline(true);
    let offline;
    try {
      offline = await ensure(manifestUrl(), store);
    } finally {
      await context.setOffline(false);
    }
    expect(offline.error).toMatchObject({ code: 'network', classes: ['WebDiffusionError', 'NetworkError'] });
    expect(offline.error!.details.files).toContain(UNET.path);

    server.reset();
    const resumed = await ensure(manifestUrl(), store);
    expect(resumed).toMatchObject({ ok: true });
    expect(unetRequests()).toEqual([{ range: `bytes=${parts * MiB}-`, status: 206, bytesSent: UNET.size - parts * MiB }]);
    await expectModelIntact(store, manifest.id, [UNET]);
  });

  it('keeps a file once for every model that lists it, and deletes only what no model uses', async () => {
    const store = settings('shared');
    expect(await ensure(manifestUrl(), store)).toMatchObject({ ok: true });
    // vae_decoder/config.json and vae_encoder/config.json: two paths, one file.
    const configs = manifest.variants[0]!.files.filter((file) => file.path.endsWith('/config.json'));
    const fileList = { id: 'configs', baseUrl: `${server.origin}/tiny-shapes/`, files: configs };
    server.reset();
    expect(await ensure(fileList, store)).toMatchObject({ ok: true, downloadedBytes: 0 });
    expect(server.requests).toEqual([]);

    const list = await browser.page.evaluate((s) => window.storagePage!.list(s), store);
    const lastUsed = expect.any(Number) as unknown as number;
    expect(list.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'configs', key: 'configs', manifestUrl: null, totalBytes: configs[0]!.size, storedBytes: configs[0]!.size, complete: true, lastUsed },
      { id: 'tiny-shapes', key: manifestUrl(), manifestUrl: manifestUrl(), totalBytes: MODEL_BYTES, storedBytes: MODEL_BYTES, complete: true, lastUsed },
    ]);

    await browser.page.evaluate((s) => window.storagePage!.remove(s, 'tiny-shapes'), store);
    const blobs = await browser.page.evaluate((root) => window.storagePage!.listDirectory(root, ['blobs']), store.root);
    expect(blobs).toEqual([configs[0]!.sha256]);
    await expectModelIntact(store, 'configs', configs);

    await browser.page.evaluate((s) => window.storagePage!.purge(s), store);
    expect(await browser.page.evaluate((s) => window.storagePage!.list(s), store)).toEqual([]);
    expect(await browser.page.evaluate((root) => window.storagePage!.listDirectory(root, ['blobs']), store.root)).toEqual([]);
  });

  it('keeps a complete version until a new one is complete: an unfinished download evicts nothing', async () => {
    const store = settings('versions', { retries: 0 });
    const byPath = (path: string) => manifest.variants[0]!.files.find((file) => file.path === path)!;
    const v1 = { id: 'model', baseUrl: `${server.origin}/tiny-shapes/`, files: [byPath('tokenizer/vocab.json'), byPath('text_encoder/model.onnx')] };
    const v2 = { ...v1, files: [byPath('tokenizer/vocab.json'), UNET] };
    expect(await ensure(v1, store)).toMatchObject({ ok: true });
    const v1Bytes = v1.files.reduce((sum, file) => sum + file.size, 0);

    server.misbehave(UNET_URL_PATH, { dropAfter: 3 * MiB });
    const failed = await ensure(v2, store);
    expect(failed.error).toMatchObject({ code: 'network' });
    // Deleting another model sweeps unused files: the old version's are still in use.
    await browser.page.evaluate((s) => window.storagePage!.remove(s, 'nothing-by-that-name'), store);
    const list = await browser.page.evaluate((s) => window.storagePage!.list(s), store);
    expect(list).toMatchObject([{ id: 'model', totalBytes: v1Bytes, storedBytes: v1Bytes, complete: true }]);
    await expectModelIntact(store, 'model', v1.files);

    server.reset();
    const updated = await ensure(v2, store);
    expect(updated).toMatchObject({ ok: true });
    expect(unetRequests()[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    await expectModelIntact(store, 'model', v2.files);
    const digests = await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), store);
    expect(digests.sort()).toEqual(v2.files.map((file) => file.sha256).sort());
  });

  it('takes the SHA-256 (and size) the host reports where a file list gives none, and pins it', async () => {
    const store = settings('reported');
    const source = { id: 'reported', baseUrl: `${server.origin}/reported/`, files: [{ path: UNET.path, size: UNET.size }] };
    expect(await ensure(source, store)).toMatchObject({ ok: true, downloadedBytes: UNET.size });
    expect(server.requests.map(({ method, path, bytesSent }) => ({ method, path, bytesSent }))).toEqual([
      { method: 'HEAD', path: `/reported/${UNET.path}`, bytesSent: 0 },
      { method: 'GET', path: `/reported/${UNET.path}`, bytesSent: UNET.size },
    ]);
    await expectModelIntact(store, 'reported', [UNET]);

    // Pinned: the host is not asked again (offline it could not be), the stored file serves.
    server.reset();
    expect(await ensure(source, store)).toMatchObject({ ok: true, downloadedBytes: 0 });
    expect(server.requests).toEqual([]);

    // Without a size in the list, the size the host reports; an empty file is stored like any other.
    server.reset();
    const sized = { ...source, id: 'sized', files: [{ path: UNET.path }, { path: 'empty.bin' }] };
    expect(await ensure(sized, store)).toMatchObject({ ok: true });
    await expectModelIntact(store, 'sized', [UNET, { path: 'empty.bin', size: 0, sha256: EMPTY_SHA256 }]);

    const config = manifest.variants[0]!.files.find((file) => file.path === 'vae_decoder/config.json')!;
    const unreported = await ensure({ ...source, id: 'unreported', files: [{ path: config.path, size: config.size }] }, store);
    expect(unreported.error).toMatchObject({ name: 'ManifestError', code: 'bad-manifest', details: { path: config.path } });
    expect(unreported.error!.message).toMatch(/no sha256/);
  });

  it('keeps files in the Cache API where OPFS is missing: stores, resumes, reads back, deletes', async () => {
    const store = settings('cache-fallback', { backend: 'cache' });
    expect(await browser.page.evaluate((s) => window.storagePage!.backend(s), store)).toBe('cache');
    server.misbehave(UNET_URL_PATH, { bytesPerSecond: 16 * MiB });
    const first = await ensure(manifestUrl(), store, 5 * MiB);
    expect(first.error).toMatchObject({ code: 'cancelled' });
    const parts = await browser.page.evaluate(([r, sha]) => window.storagePage!.committedParts(r, sha), [store.root, UNET.sha256] as const);
    expect(parts).toBeGreaterThan(0);

    server.reset();
    const resumed = await ensure(manifestUrl(), store);
    expect(resumed).toMatchObject({ ok: true });
    expect(unetRequests()).toEqual([{ range: `bytes=${parts * MiB}-`, status: 206, bytesSent: UNET.size - parts * MiB }]);
    await expectModelIntact(store);
    expect(await browser.page.evaluate((root) => window.storagePage!.listDirectory(root, ['blobs']), store.root)).toEqual([]);
    expect((await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), store)).sort()).toEqual(DISTINCT.map((file) => file.sha256).sort());

    await browser.page.evaluate(([s, id]) => window.storagePage!.remove(s, id), [store, manifest.id] as const);
    expect(await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), store)).toEqual([]);
    expect(await browser.page.evaluate((s) => window.storagePage!.list(s), store)).toEqual([]);
  });

  it('works in a dedicated worker, where the engine runs it', async () => {
    const reply = await browser.page.evaluate((request) => window.storagePage!.inWorker(request), {
      manifestUrl: manifestUrl(),
      root: 'worker',
      path: UNET.path,
    });
    expect(reply).toMatchObject({ ok: true, downloadedBytes: MODEL_BYTES, sha256: UNET.sha256 });
    expect(reply.ok && reply.events).toBeGreaterThan(0);
  }, 60_000);
});

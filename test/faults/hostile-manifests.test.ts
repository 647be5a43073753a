/**
 * The weight store against hostile or unlucky servers, in headless Chromium: a manifest that lies
 * about a stored file's size, one that declares another model's id, one that points outside its
 * folder, servers that stall before the headers or in the body, a download that stops fitting,
 * and a second tab deleting a model while the first downloads it. What a user would notice: the
 * model stored first keeps working, every call settles with a typed error, nothing is left behind.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';
import { useBrowserPage } from '../support/browser.ts';
import { bytesSource, fileSource, startFileServer, syntheticSource, type FileServer, type FileSource } from '../support/file-server.ts';
import type { StoreSettings } from '../pages/storage-page.ts';

const MODEL_DIR = join(REPO_ROOT, 'models/tiny-shapes');
const MANIFEST_TEXT = readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8');
interface ManifestJson {
  id: string;
  variants: { files: { path: string; size: number; sha256: string }[]; models: { unet: { file: string } } }[];
}
const manifest = JSON.parse(MANIFEST_TEXT) as ManifestJson;
const UNET = manifest.variants[0]!.files.find((file) => file.path === 'unet/model.onnx')!;
const SCHEDULER = manifest.variants[0]!.files.find((file) => file.path === 'scheduler/scheduler_config.json')!;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BIG = syntheticSource(10 * GiB);

/** The tiny-shapes manifest changed by `change`, as a served document. */
function variant(change: (copy: ManifestJson) => void): FileSource {
  const copy = JSON.parse(MANIFEST_TEXT) as ManifestJson;
  change(copy);
  return bytesSource(JSON.stringify(copy));
}

/** Points the descriptor's UNet (its file entry and its network) at `path`. */
function moveUnet(m: ManifestJson, path: string): void {
  m.variants[0]!.files.find((f) => f.path === UNET.path)!.path = path;
  m.variants[0]!.models.unet.file = path;
}

/** tiny-shapes' files under `folder`. */
function modelFiles(folder: string): [string, FileSource][] {
  return manifest.variants[0]!.files.map((file) => [`${folder}/${file.path}`, fileSource(join(MODEL_DIR, file.path))]);
}

const EDITED_SCHEDULER = `${readFileSync(join(MODEL_DIR, SCHEDULER.path), 'utf8')} `;

const browser = useBrowserPage('/test/pages/storage.html', {
  ready: (page) => page.waitForFunction(() => window.storagePage !== undefined),
});

let server: FileServer;
beforeAll(async () => {
  server = await startFileServer(
    Object.fromEntries([
      ['/tiny-shapes/manifest.json', bytesSource(MANIFEST_TEXT)],
      ...modelFiles('/tiny-shapes'),
      // The UNet's digest with one byte more: a file that cannot exist.
      ['/liar/manifest.json', variant((m) => ((m.id = 'liar'), (m.variants[0]!.files.find((f) => f.path === UNET.path)!.size += 1)))],
      ...modelFiles('/liar'),
      // Another origin's model that calls itself tiny-shapes, with a scheduler file of its own.
      [
        '/squatter/manifest.json',
        variant((m) => {
          const file = m.variants[0]!.files.find((f) => f.path === SCHEDULER.path)!;
          file.size = Buffer.byteLength(EDITED_SCHEDULER);
          file.sha256 = createHash('sha256').update(EDITED_SCHEDULER).digest('hex');
        }),
      ],
      ...modelFiles('/squatter'),
      ['/squatter/scheduler/scheduler_config.json', bytesSource(EDITED_SCHEDULER)],
      // Files outside the manifest's folder: another model's, by "..", and by an absolute URL.
      ['/outside/nested/manifest.json', variant((m) => moveUnet(m, `../../tiny-shapes/${UNET.path}`))],
      ['/absolute/manifest.json', variant((m) => moveUnet(m, `http://127.0.0.1:1/${UNET.path}`))],
      ['/big/file.bin', BIG],
    ]),
  );
});
afterAll(() => server?.close());
beforeEach(async () => {
  server.reset();
  await browser.page.evaluate(() => window.storagePage!.clear());
});

const url = (path: string): string => `${server.origin}${path}`;
const settings = (root: string, more: Partial<StoreSettings> = {}): StoreSettings => ({ root, partSize: MiB, retryDelayMs: 50, ...more });

function ensure(source: Parameters<NonNullable<Window['storagePage']>['ensure']>[0], store: StoreSettings) {
  return browser.page.evaluate(([s, o]) => window.storagePage!.ensure(s, o), [source, store] as const);
}

/** Every file of the tiny-shapes model stored under `key` reads back with its listed digest. */
async function expectIntact(store: StoreSettings, key: string): Promise<void> {
  for (const file of manifest.variants[0]!.files) {
    const stored = await browser.page.evaluate(([s, k, p]) => window.storagePage!.digest(s, k, p), [store, key, file.path] as const);
    expect({ path: file.path, sha256: stored.sha256 }).toEqual({ path: file.path, sha256: file.sha256 });
  }
}

describe('hostile manifests', () => {
  it("refuses a manifest that lists a stored file's digest with another size, and leaves the stored file alone", async () => {
    const store = settings('size-lie');
    const first = await ensure(url('/tiny-shapes/manifest.json'), store);
    expect(first.ok).toBe(true);
    const liar = await ensure(url('/liar/manifest.json'), store);
    expect(liar.error).toMatchObject({ code: 'integrity', details: { path: UNET.path, expectedSize: UNET.size + 1, storedSize: UNET.size } });
    // Opening the liar's UNet (as a load would) must not damage the shared file either.
    const opened = await browser.page.evaluate(([s, k]) => window.storagePage!.openError(s, k, 'unet/model.onnx'), [store, liar.key ?? 'liar'] as const);
    expect(opened?.code).toBe('model-load');
    await expectIntact(store, first.key ?? first.id!);
  });

  it("keys models by where they come from: another origin's manifest with the same id takes nothing over", async () => {
    const store = settings('id-collision');
    const first = await ensure(url('/tiny-shapes/manifest.json'), store);
    const squatter = await ensure(url('/squatter/manifest.json'), store);
    expect([first.ok, squatter.ok]).toEqual([true, true]);
    expect(first.key).toBe(url('/tiny-shapes/manifest.json'));
    expect(squatter.key).toBe(url('/squatter/manifest.json'));
    await expectIntact(store, first.key!);
    const listed = await browser.page.evaluate((s) => window.storagePage!.list(s), store);
    expect(listed.map(({ id, key, complete }) => ({ id, key, complete })).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { id: 'tiny-shapes', key: squatter.key, complete: true },
      { id: 'tiny-shapes', key: first.key, complete: true },
    ]);
  });

  it.each([
    ['a ".." path to another model', '/outside/nested/manifest.json'],
    ['an absolute URL', '/absolute/manifest.json'],
  ])('refuses %s with ManifestError, fetching none of the files', async (_, path) => {
    const outcome = await ensure(url(path), settings('outside'));
    expect(outcome.error).toMatchObject({ code: 'bad-manifest', details: { field: expect.stringMatching(/^files\[\d+\]\.path$/) } });
    expect(server.requests.map((request) => request.path)).toEqual([path]);
  });

  it.each([
    ['before the headers', { stallHeaders: true }],
    ['in the body', { stallAfter: 200 }],
  ])(
    'ends a manifest server that stalls %s with NetworkError, and serves a stored copy instead',
    async (where, misbehaviour) => {
      // A store of its own per case: clearing the origin removes the OPFS folder an open store holds.
      const store = settings(`manifest-stall-${where.length}`, { stallTimeoutMs: 1_000 });
      const first = await ensure(url('/tiny-shapes/manifest.json'), store);
      expect(first.ok).toBe(true);
      // Stored, then the manifest server stalls: the stored copy is used, marked offline.
      server.misbehave('/tiny-shapes/manifest.json', misbehaviour);
      const again = await ensure(url('/tiny-shapes/manifest.json'), store);
      expect(again).toMatchObject({ ok: true, offline: true, downloadedBytes: 0 });
      // Nothing stored for it: a typed error after the stall timeout, not a call that never settles.
      server.misbehave('/liar/manifest.json', misbehaviour);
      const stalled = await ensure(url('/liar/manifest.json'), settings(`manifest-stall-none-${where.length}`, { stallTimeoutMs: 1_000 }));
      expect(stalled.error).toMatchObject({ code: 'network', message: expect.stringMatching(/1000 ms/) });
      expect(stalled.ms).toBeLessThan(20_000);
    },
    60_000,
  );

  it("lets a delete in another tab stop this tab's download cleanly: a CancelledError here, nothing left behind", async () => {
    const store = settings('two-tabs');
    // The other tab: the same page in an iframe, a realm of its own on the same origin (its own
    // store, the origin's storage and Web Locks), as a second tab is.
    await browser.page.evaluate((src) => {
      const frame = document.createElement('iframe');
      frame.id = 'other-tab';
      frame.src = src;
      document.body.append(frame);
    }, browser.page.url());
    const other = (await (await browser.page.waitForSelector('#other-tab')).contentFrame())!;
    try {
      await other.waitForFunction(() => window.storagePage !== undefined);
      // ~10 s for the UNet: the delete lands mid-download.
      server.misbehave(`/tiny-shapes/${UNET.path}`, { bytesPerSecond: 1_000_000 });
      const downloading = ensure(url('/tiny-shapes/manifest.json'), store);
      await expect
        .poll(() => server.requests.find((request) => request.path === `/tiny-shapes/${UNET.path}`)?.bytesSent ?? 0, { timeout: 20_000 })
        .toBeGreaterThan(1_000_000);
      await other.evaluate(([s, key]) => window.storagePage!.remove(s, key), [store, url('/tiny-shapes/manifest.json')] as const);
      const outcome = await downloading;
      expect(outcome.error).toMatchObject({ code: 'cancelled', classes: expect.arrayContaining(['CancelledError']) });
      for (const tab of [browser.page, other]) {
        expect(await tab.evaluate((s) => window.storagePage!.list(s), store)).toEqual([]);
      }
      expect(await browser.page.evaluate((s) => window.storagePage!.storedDigests(s), store)).toEqual([]);
      // And the model stores again from scratch.
      expect((await ensure(url('/tiny-shapes/manifest.json'), store)).ok).toBe(true);
      await expectIntact(store, url('/tiny-shapes/manifest.json'));
    } finally {
      await browser.page.evaluate(() => document.getElementById('other-tab')?.remove());
    }
  }, 60_000);

  it('stops with QuotaError before writing a part that no longer fits, though the estimate allowed the download', async () => {
    const store = settings('quota-shrinks', { fakeAvailable: [12 * GiB, 12 * GiB, 12 * GiB, MiB / 2] });
    const source = { id: 'big', baseUrl: url('/big/'), files: [{ path: 'file.bin', size: BIG.size, sha256: '0'.repeat(64) }] };
    const outcome = await ensure(source, store);
    expect(outcome.error).toMatchObject({ code: 'quota', classes: expect.arrayContaining(['QuotaError']), details: { files: ['file.bin'] } });
    const parts = await browser.page.evaluate(() => window.storagePage!.committedParts('quota-shrinks', '0'.repeat(64)));
    expect(parts).toBe(2);
  });
});

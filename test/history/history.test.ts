/**
 * The picture history in headless Chromium (real IndexedDB): pictures come back newest first and
 * after a reload, with their PNG and parameters intact; delete and clear remove them (and the count
 * follows); and with the setting off nothing is written, a choice that itself survives the reload.
 */
import { describe, expect, it } from 'vitest';
import { useBrowserPage } from '../support/browser.ts';

const browser = useBrowserPage('/test/pages/history.html', {
  ready: (page) => page.waitForFunction(() => window.historyPage !== undefined),
});

async function reload(): Promise<void> {
  await browser.page.reload();
  await browser.page.waitForFunction(() => window.historyPage !== undefined);
}

/** Adds pictures with prompts `prompts`, created one second apart in that order from `start`. */
function addPictures(name: string, prompts: string[], start = 1_700_000_000_000): Promise<(string | null)[]> {
  return browser.page.evaluate(
    async ({ name, prompts, start }) => {
      const history = window.historyPage!.open(name);
      const ids: (string | null)[] = [];
      for (const [index, prompt] of prompts.entries()) {
        const request = { prompt, negativePrompt: '', seed: index, steps: 4, guidance: 2, scheduler: 'ddim' as const, width: 8, height: 8 };
        const image = {
          width: 8,
          height: 8,
          pixels: new Uint8ClampedArray(8 * 8 * 4).fill(index * 40),
          request,
          droppedTokens: { prompt: 0, negativePrompt: 0 },
          timings: { encodeMs: 1, denoiseMs: 2, decodeMs: 3, totalMs: 6 },
        };
        const png = await window.historyPage!.encodePngWithParameters(image, 'tiny-shapes');
        const entry = await history.add({ modelId: 'tiny-shapes', request, timings: image.timings, width: 8, height: 8, png, createdAt: start + index * 1000 });
        ids.push(entry?.id ?? null);
      }
      return ids;
    },
    { name, prompts, start },
  );
}

function listPrompts(name: string, limit?: number): Promise<string[]> {
  return browser.page.evaluate(
    async ({ name, limit }) => (await window.historyPage!.open(name).list(limit ?? undefined)).map((entry) => entry.request.prompt),
    { name, limit: limit ?? null },
  );
}

describe('picture history', () => {
  it('lists pictures newest first, with a limit, and keeps them across a reload with their parameters', async () => {
    const ids = await addPictures('keeps', ['first', 'second', 'third']);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(await listPrompts('keeps')).toEqual(['third', 'second', 'first']);
    expect(await listPrompts('keeps', 2)).toEqual(['third', 'second']);

    await reload();
    expect(await listPrompts('keeps')).toEqual(['third', 'second', 'first']);
    const restored = await browser.page.evaluate(async (id) => {
      const entry = await window.historyPage!.open('keeps').get(id);
      if (entry === undefined) return null;
      const parsed = await window.historyPage!.readPngParameters(new Uint8Array(await entry.png.arrayBuffer()));
      return { createdAt: entry.createdAt, modelId: entry.modelId, type: entry.png.type, timings: entry.timings, parsed };
    }, ids[1]!);
    expect(restored).toEqual({
      createdAt: 1_700_000_001_000,
      modelId: 'tiny-shapes',
      type: 'image/png',
      timings: { encodeMs: 1, denoiseMs: 2, decodeMs: 3, totalMs: 6 },
      parsed: {
        request: { prompt: 'second', seed: 1, steps: 4, guidance: 2, scheduler: 'ddim', width: 8, height: 8 },
        modelId: 'tiny-shapes',
        extra: {},
      },
    });
  });

  it('deletes one picture, and clears them all', async () => {
    const count = () => browser.page.evaluate(() => window.historyPage!.open('removes').count());
    const ids = await addPictures('removes', ['a', 'b', 'c']);
    expect(await count()).toBe(3);
    await browser.page.evaluate((id) => window.historyPage!.open('removes').delete(id), ids[1]!);
    expect(await listPrompts('removes')).toEqual(['c', 'a']);
    expect(await count()).toBe(2);
    expect(await browser.page.evaluate((id) => window.historyPage!.open('removes').get(id), ids[1]!)).toBeUndefined();
    await browser.page.evaluate(() => window.historyPage!.open('removes').clear());
    expect(await listPrompts('removes')).toEqual([]);
    expect(await count()).toBe(0);
  });

  it('writes nothing while turned off, and stays off after a reload', async () => {
    await addPictures('private', ['kept']);
    await browser.page.evaluate(() => window.historyPage!.open('private').setEnabled(false));
    expect(await addPictures('private', ['not kept'])).toEqual([null]);
    await reload();
    expect(await browser.page.evaluate(() => window.historyPage!.open('private').isEnabled())).toBe(false);
    expect(await addPictures('private', ['still not kept'])).toEqual([null]);
    expect(await listPrompts('private')).toEqual(['kept']);
    // No database work left behind either: the store holds exactly the one picture.
    const count = await browser.page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const open = indexedDB.open('private');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const request = open.result.transaction('pictures').objectStore('pictures').count();
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
          };
        }),
    );
    expect(count).toBe(1);

    await browser.page.evaluate(() => window.historyPage!.open('private').setEnabled(true));
    expect((await addPictures('private', ['kept again'], 1_800_000_000_000))[0]).toEqual(expect.any(String));
    expect(await listPrompts('private')).toEqual(['kept again', 'kept']);
  });
});

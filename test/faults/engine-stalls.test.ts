/**
 * A model server that never answers, seen through the engine (wasm backend): a load stuck on it
 * must not hold up generations with the model already loaded, and it still settles (here by
 * cancelling; on its own after the stall timeout, see hostile-manifests.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSource, startFileServer, type FileServer } from '../support/file-server.ts';
import { useBrowserPage } from '../support/browser.ts';

const session = useBrowserPage('/src/cli/page.html', {
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

let server: FileServer;
beforeAll(async () => {
  server = await startFileServer({ '/stuck/manifest.json': bytesSource('{}') });
});
afterAll(() => server?.close());

describe('engine and stalled servers', () => {
  it('generates with the loaded model while another load waits on a server that never answers', async () => {
    server.misbehave('/stuck/manifest.json', { stallHeaders: true });
    const outcome = await session.page.evaluate(async (stuckUrl) => {
      const engine = await window.webdiffusion!.engine;
      await engine.loadModel('/models/tiny-shapes/manifest.json', { backend: 'wasm' });
      const controller = new AbortController();
      const stuck = engine.loadModel(stuckUrl, { backend: 'wasm', signal: controller.signal }).then(
        () => 'loaded',
        (error: { code?: string }) => error.code,
      );
      const generated = await Promise.race([
        engine.generate({ prompt: 'a red circle on a blue background', steps: 2, seed: 1 }).then((image) => `generated ${image.width}x${image.height}`),
        // Shorter than the store's 30 s stall timeout, which would end the load and free the queue.
        new Promise<string>((resolve) => setTimeout(() => resolve('blocked behind the load'), 20_000)),
      ]);
      controller.abort();
      return { generated, stuck: await stuck };
    }, `${server.origin}/stuck/manifest.json`);
    expect(outcome).toEqual({ generated: 'generated 64x64', stuck: 'cancelled' });
  }, 120_000);
});

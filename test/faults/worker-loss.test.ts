/**
 * The engine's worker dying under it, in headless Chromium (wasm backend: the probe is about the
 * worker, not the GPU): terminated mid-step, or failing with an uncaught error mid-step. What a
 * user would notice: every pending call settles at once with a typed error, the failed worker
 * runs no further steps, and the next call works on a fresh worker.
 */
import { describe, expect, it } from 'vitest';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';

const session = useBrowserPage('/src/cli/page.html', {
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

interface Outcome {
  /** The codes the two pending generations settled with. */
  readonly codes: (string | undefined)[];
  readonly settledMs: number;
  /** Progress events that arrived after the first call settled (a worker still running). */
  readonly progressAfter: number;
  readonly workers: number;
  /** The fresh worker's load and generation afterwards. */
  readonly after: { loaded: string; width: number };
}

/** Kills the engine's worker (`how`) at denoising step 3 of a 20-step generation, with a second one queued. */
function killMidStep(how: 'terminate' | 'crash'): Promise<Outcome> {
  return session.page.evaluate(
    async ({ how, url }) => {
      const { api } = window.webdiffusion!;
      const workers: Worker[] = [];
      const Original = window.Worker;
      window.Worker = class extends Original {
        constructor(...args: ConstructorParameters<typeof Worker>) {
          super(...args);
          workers.push(this);
        }
      };
      const engine = await api.createEngine();
      await engine.loadModel(url, { backend: 'wasm' });
      let progress = 0;
      let killedAt = 0;
      const onProgress = (p: { phase: string; step: number }): void => {
        progress += 1;
        if (p.phase !== 'denoising' || p.step !== 3 || killedAt !== 0) return;
        killedAt = performance.now();
        const worker = workers.at(-1)!;
        // An uncaught error inside the worker reaches the page as this event.
        if (how === 'terminate') worker.terminate();
        else worker.dispatchEvent(new ErrorEvent('error', { message: 'probe: uncaught error in the worker' }));
      };
      const code = (error: unknown) => (error as { code?: string }).code;
      const request = { prompt: 'a red circle on a blue background', steps: 20, seed: 1 };
      const pending = [engine.generate(request, { onProgress }), engine.generate(request)].map((call) => call.then(() => 'resolved', code));
      const first = await pending[0]!;
      const settledMs = performance.now() - killedAt;
      const atSettle = progress;
      const codes = [first, await pending[1]!];
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const progressAfter = progress - atSettle;
      const info = await engine.loadModel(url, { backend: 'wasm' });
      const image = await engine.generate({ ...request, steps: 2 });
      await engine.dispose();
      window.Worker = Original;
      return { codes, settledMs, progressAfter, workers: workers.length, after: { loaded: info.id, width: image.width } };
    },
    { how, url: MODEL_URL },
  );
}

describe('worker loss', () => {
  it.each([
    ['terminated', 'terminate', 'worker-lost'],
    ['failing with an uncaught error', 'crash', 'worker-failed'],
  ] as const)(
    'settles every pending call when the worker is %s mid-step, stops it, and starts a fresh one',
    async (_, how, code) => {
      const outcome = await killMidStep(how);
      expect(outcome.codes).toEqual([code, code]);
      expect(outcome.progressAfter).toBe(0);
      expect(outcome.workers).toBe(2);
      expect(outcome.after).toEqual({ loaded: 'tiny-shapes', width: 64 });
    },
    120_000,
  );
});

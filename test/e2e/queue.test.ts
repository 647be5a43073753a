/**
 * The generation queue over the real engine in headless Chromium: cancelling the running request
 * mid-loop stops it within a step, and the queue goes on to the next request, whose picture is
 * what its prompt asks for.
 */
import { describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';
const MODEL_LOAD_MS = 180_000;
const GENERATION_MS = 300_000;

const session = useBrowserPage('/src/cli/page.html', {
  ready: async (page) => {
    await page.waitForFunction(() => window.webdiffusion !== undefined);
    await page.evaluate(async (url) => {
      await (await window.webdiffusion!.engine).loadModel(url);
    }, MODEL_URL);
  },
  readyTimeoutMs: MODEL_LOAD_MS,
  openTimeoutMs: MODEL_LOAD_MS + 30_000,
});

describe('generation queue in the browser', () => {
  it(
    'cancels the running request mid-loop and goes on to a correct picture for the next',
    async () => {
      const next = 'a yellow square on a purple background';
      const outcome = await session.page.evaluate(
        async ({ next }) => {
          const { api, engine } = window.webdiffusion!;
          const queue = new api.GenerationQueue(await engine);
          const log: { type: string; id: string; step?: number }[] = [];
          let stepAtCancel = -1;
          const first = queue.submit({ prompt: 'a green triangle on a red background', seed: 1, steps: 20 });
          const second = queue.submit({ prompt: next, seed: 3 });
          queue.on('*', (event) => {
            log.push({ type: event.type, id: event.id, ...(event.type === 'progress' ? { step: event.progress.step } : {}) });
            if (event.type === 'progress' && event.id === first && event.progress.phase === 'denoising' && event.progress.step === 2) {
              stepAtCancel = event.progress.step;
              queue.cancel(first);
            }
          });
          const [firstResult, secondResult] = await Promise.allSettled([queue.result(first), queue.result(second)]);
          // Progress straggling in after the cancel would show here.
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          let pixels = '';
          if (secondResult.status === 'fulfilled') {
            const bytes = secondResult.value.pixels;
            for (let i = 0; i < bytes.length; i += 0x8000) pixels += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          }
          return {
            first,
            second,
            log,
            stepAtCancel,
            statuses: [queue.status(first), queue.status(second)],
            firstError: firstResult.status === 'rejected' ? (firstResult.reason as Error).name : null,
            secondError: secondResult.status === 'rejected' ? String(secondResult.reason) : null,
            pixelsBase64: btoa(pixels),
          };
        },
        { next },
      );

      expect(outcome.statuses).toEqual(['cancelled', 'done']);
      expect(outcome.firstError).toBe('CancelledError');
      expect(outcome.secondError).toBeNull();
      const firstSteps = outcome.log.filter((e) => e.id === outcome.first && e.type === 'progress' && e.step !== undefined).map((e) => e.step!);
      expect(Math.max(...firstSteps)).toBeLessThanOrEqual(outcome.stepAtCancel + 1);
      // The second request reached the engine only once the first had stopped.
      const cancelledAt = outcome.log.findIndex((e) => e.id === outcome.first && e.type === 'cancelled');
      const startedAt = outcome.log.findIndex((e) => e.id === outcome.second && e.type === 'started');
      expect(cancelledAt).toBeGreaterThanOrEqual(0);
      expect(startedAt).toBeGreaterThan(cancelledAt);

      const pixels = Uint8ClampedArray.from(Buffer.from(outcome.pixelsBase64, 'base64'));
      const judged = judgeImage(pixels, 64, 64);
      expect(scoreJudgement(parsePrompt(next), judged).all, JSON.stringify(judged)).toBe(true);
      expect(session.pageErrors).toEqual([]);
    },
    GENERATION_MS,
  );
});

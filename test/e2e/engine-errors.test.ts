/**
 * Cancel and bad input through the public API, in a real browser: the error classes must
 * survive the worker boundary (`instanceof` in the page), bad requests must be refused before any
 * GPU work (no progress at all), and the engine must go on working afterwards.
 */
import { describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../src/api.ts';
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

interface Attempt {
  readonly ok: boolean;
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  /** Which of the library's classes the error is an instance of, checked in the page. */
  readonly classes?: string[];
  readonly progress: { phase: string; step: number }[];
}

/** Runs one generate() in the page; `cancelAfterStep` aborts its signal once that step is reported. */
function attempt(request: Omit<GenerateRequest, 'image' | 'mask'>, cancelAfterStep?: number): Promise<Attempt> {
  return session.page.evaluate(
    async ({ request, cancelAfterStep }) => {
      const { api, engine } = window.webdiffusion!;
      const progress: { phase: string; step: number }[] = [];
      const controller = new AbortController();
      try {
        await (
          await engine
        ).generate(request, {
          signal: controller.signal,
          onProgress: (p) => {
            progress.push({ phase: p.phase, step: p.step });
            if (p.phase === 'denoising' && p.step === cancelAfterStep) controller.abort();
          },
        });
        return { ok: true, progress };
      } catch (error) {
        // Progress that straggles in after the rejection would mean work went on: let it show.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const e = error as Error & { code?: string };
        const classes = (['WebDiffusionError', 'InvalidRequestError', 'CancelledError', 'UnknownSchedulerError'] as const).filter(
          (name) => name in api && error instanceof (api as unknown as Record<string, new () => Error>)[name]!,
        );
        return { ok: false, name: e.name, code: e.code, message: e.message, classes, progress };
      }
    },
    { request, cancelAfterStep },
  );
}

describe('engine errors in the browser', () => {
  it.each([
    ['generate(null)', 'generate'],
    ['generateBatch(null)', 'generateBatch'],
  ] as const)('refuses %s with InvalidRequestError, not a TypeError', async (_, method) => {
    const result = await session.page.evaluate(async (m) => {
      const { api, engine } = window.webdiffusion!;
      try {
        await (await engine)[m](null as never);
        return { ok: true };
      } catch (error) {
        return { ok: false, code: (error as { code?: string }).code, typed: error instanceof api.InvalidRequestError };
      }
    }, method);
    expect(result).toEqual({ ok: false, code: 'invalid-request', typed: true });
  });

  it.each([
    ['width not a multiple of 8', { width: 60 }, /width/i],
    ['zero steps', { steps: 0 }, /steps/i],
    ['a fractional step count', { steps: 2.5 }, /steps/i],
    ['a negative seed', { seed: -1 }, /seed/i],
    ['more LCM steps than its distillation schedule has', { scheduler: 'lcm', steps: 60 }, /steps.*1 to 50.*lcm/i],
  ] as const)('refuses %s with InvalidRequestError before any work', async (_, fields, mentions) => {
    const result = await attempt({ prompt: 'a red circle on a blue background', ...fields });
    expect(result.ok).toBe(false);
    expect(result.code).toBe('invalid-request');
    expect(result.classes).toContain('InvalidRequestError');
    expect(result.message).toMatch(mentions);
    expect(result.progress).toEqual([]);
  });

  it('refuses an unknown scheduler with a typed error', async () => {
    const result = await attempt({ prompt: 'a red circle on a blue background', scheduler: 'plms' as 'ddim' });
    expect(result.ok).toBe(false);
    expect(result.code).toBe('unknown-scheduler');
    expect(result.classes).toContain('UnknownSchedulerError');
    expect(result.message).toMatch(/plms/);
    expect(result.progress).toEqual([]);
  });

  it('refuses an unknown model with a typed error, keeping the loaded one', async () => {
    const failure = await session.page.evaluate(async () => {
      try {
        await (await window.webdiffusion!.engine).loadModel('/models/no-such-model/manifest.json');
        return undefined;
      } catch (error) {
        const e = error as Error & { code?: string };
        return { name: e.name, code: e.code, message: e.message, ours: error instanceof window.webdiffusion!.api.WebDiffusionError };
      }
    });
    expect(failure).toBeDefined();
    expect(failure!.ours).toBe(true);
    expect(failure!.code).toBe('unknown-model');
    expect(failure!.message).toMatch(/no-such-model/);
  });

  it(
    'stops within one step of the abort with CancelledError',
    async () => {
      const result = await attempt({ prompt: 'a green triangle on a white background', seed: 5, steps: 20 }, 3);
      expect(result.ok).toBe(false);
      expect(result.code).toBe('cancelled');
      expect(result.classes).toContain('CancelledError');
      const steps = result.progress.filter((p) => p.phase === 'denoising').map((p) => p.step);
      expect(Math.max(...steps)).toBeLessThanOrEqual(4);
      expect(result.progress.some((p) => p.phase === 'decoding')).toBe(false);
    },
    GENERATION_MS,
  );

  it(
    "counts a prompt's tokens as generate cuts them, and refuses to count without a model",
    async () => {
      // 15 times 7 words and the commas between: 119 tokens, more than CLIP's 75 between start and end.
      const long = Array(15).fill('a red circle on a blue background').join(', ');
      const result = await session.page.evaluate(async (long) => {
        const { api, engine } = window.webdiffusion!;
        const loaded = await engine;
        const short = await loaded.countTokens('a red circle');
        const counted = await loaded.countTokens(long);
        const image = await loaded.generate({ prompt: long, seed: 1, steps: 1 });
        const fresh = await api.createEngine();
        try {
          await fresh.countTokens('a red circle');
          return { short, counted, dropped: image.droppedTokens.prompt, refused: undefined };
        } catch (error) {
          const refused = { code: (error as { code?: string }).code, typed: error instanceof api.InvalidRequestError };
          return { short, counted, dropped: image.droppedTokens.prompt, refused };
        } finally {
          await fresh.dispose();
        }
      }, long);
      expect(result.short).toEqual({ tokens: 5, limit: 77 });
      expect(result.counted).toEqual({ tokens: 121, limit: 77 });
      expect(result.dropped).toBe(result.counted.tokens - result.counted.limit);
      expect(result.refused).toEqual({ code: 'invalid-request', typed: true });
    },
    GENERATION_MS,
  );

  it(
    'still generates after all of the above',
    async () => {
      const result = await attempt({ prompt: 'a red circle on a blue background', seed: 1, steps: 4 });
      expect(result).toMatchObject({ ok: true });
      expect(result.progress.filter((p) => p.phase === 'denoising').map((p) => p.step)).toEqual([1, 2, 3, 4]);
      expect(session.pageErrors).toEqual([]);
    },
    GENERATION_MS,
  );
});

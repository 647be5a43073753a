/**
 * Pacing on WebGPU (SwiftShader here, asked for with `backend: 'webgpu'`): progress arrives as
 * the GPU finishes steps, not as they are queued; a cancel rejects at once, queues nothing more,
 * and leaves the engine idle once the steps already queued are done, so the next request is not
 * delayed; the warm-up at load makes the first picture cost what the next ones do.
 *
 * Timing on a loaded 2-core machine varies a lot, so each check compares figures of the same run
 * (the steps' own measured times) with wide margins, against what the unpaced loop did: all
 * progress within 3 % of the run, the GPU busy for the remaining steps after a cancel.
 */
import { describe, expect, it } from 'vitest';
import type { Engine, GeneratedImage, Progress } from '../../src/index.ts';
import { STEPS_IN_FLIGHT } from '../../src/pipeline/pacing.ts';
import { useBrowserPage } from '../support/browser.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';
const PROMPT = 'a red circle on a blue background';

const session = useBrowserPage('/src/cli/page.html', {
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

/** Loads tiny-shapes on WebGPU in a fresh engine of the page, kept as `window.pacing`; the load's stages in order. */
async function loadOnWebGpu(): Promise<string[]> {
  return session.page.evaluate(async (url) => {
    const engine = await window.webdiffusion!.api.createEngine();
    (window as unknown as { pacing: Engine }).pacing = engine;
    const stages: string[] = [];
    const info = await engine.loadModel(url, { backend: 'webgpu', onProgress: (p) => stages[stages.length - 1] !== p.stage && stages.push(String(p.stage)) });
    if (info.backend !== 'webgpu') throw new Error(`loaded on ${info.backend}`);
    return stages;
  }, MODEL_URL);
}

describe('pacing on WebGPU', () => {
  it('loads in stages (download, sessions, warm-up), and the first picture costs what the next ones do', async () => {
    expect(await loadOnWebGpu()).toEqual(['download', 'sessions', 'warm-up']);
    const totals = await session.page.evaluate(async (prompt) => {
      const engine = (window as unknown as { pacing: Engine }).pacing;
      const totals: number[] = [];
      for (let k = 0; k < 4; k++) totals.push((await engine.generate({ prompt, seed: k, steps: 3 })).timings.totalMs);
      return totals;
    }, PROMPT);
    const [first, ...rest] = totals as [number, ...number[]];
    const median = [...rest].sort((a, b) => a - b)[1]!;
    console.log('first and warm pictures (ms)', totals.map(Math.round));
    // Without the warm-up the first took 1.3-1.4x the second at 20 steps, more at 3. With it, a
    // loaded CI machine once measured 1.19x (4340 vs 4190 ms), so the bar sits between the two.
    expect(first).toBeLessThanOrEqual(1.25 * median);
  }, 600_000);

  it('reports a 10-step run as its steps finish: spaced like the steps, each with its measured time', async () => {
    const run = await session.page.evaluate(async (prompt) => {
      const engine = (window as unknown as { pacing: Engine }).pacing;
      const events: { step: number; stepMs: number; at: number }[] = [];
      const image = await engine.generate(
        { prompt, seed: 1, steps: 10, guidance: 0 },
        { onProgress: (p) => p.phase === 'denoising' && events.push({ step: p.step, stepMs: p.stepMs!, at: performance.now() }) },
      );
      return { events, denoiseMs: image.timings.denoiseMs };
    }, PROMPT);
    expect(run.events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const meanStep = run.denoiseMs / 10;
    const gaps = run.events.slice(1).map((e, k) => e.at - run.events[k]!.at);
    console.log(
      'step times (ms)',
      run.events.map((e) => Math.round(e.stepMs)),
      'gaps between events (ms)',
      gaps.map(Math.round),
    );
    // The steps' measured times add up to the denoising phase (the time from its start to the last step's end).
    const sum = run.events.reduce((total, e) => total + e.stepMs, 0);
    expect(sum).toBeGreaterThan(0.8 * run.denoiseMs);
    expect(sum).toBeLessThanOrEqual(run.denoiseMs * 1.01);
    // Events come a step apart (unpaced, nine of the gaps were ~0): no burst beyond the steps in flight.
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThan(0.3 * meanStep);
    expect(gaps.filter((gap) => gap < 0.1 * meanStep).length).toBeLessThan(STEPS_IN_FLIGHT);
  }, 600_000);

  it('after an abort mid-loop, rejects at once, is idle within the steps in flight, and the next encoding is not delayed', async () => {
    const outcome = await session.page.evaluate(async (prompt) => {
      const engine = (window as unknown as { pacing: Engine }).pacing;
      const reference = await engine.generate({ prompt, seed: 2, steps: 2, guidance: 0 });
      const controller = new AbortController();
      const stepMs: number[] = [];
      let abortedAt = 0;
      const run = engine.generate(
        { prompt, seed: 3, steps: 20, guidance: 0 },
        {
          signal: controller.signal,
          onProgress: (p: Progress) => {
            if (p.phase !== 'denoising') return;
            stepMs.push(p.stepMs!);
            if (p.step === 3) {
              abortedAt = performance.now();
              controller.abort();
            }
          },
        },
      );
      const error = await run.then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      const rejectedMs = performance.now() - abortedAt;
      await engine.idle();
      const idleMs = performance.now() - abortedAt;
      const next: GeneratedImage = await engine.generate({ prompt, seed: 4, steps: 2, guidance: 0 });
      return {
        error,
        rejectedMs,
        idleMs,
        stepMs,
        stepsSeen: stepMs.length,
        referenceEncodeMs: reference.timings.encodeMs,
        nextEncodeMs: next.timings.encodeMs,
      };
    }, PROMPT);
    console.log('abort mid-loop', outcome);
    expect(outcome.error).toBe('CancelledError');
    expect(outcome.stepsSeen).toBe(3);
    const longestStep = Math.max(...outcome.stepMs);
    // At once: before another step could finish.
    expect(outcome.rejectedMs).toBeLessThan(Math.min(...outcome.stepMs));
    // Unpaced, the 17 steps left were all queued: the GPU was busy for them.
    expect(outcome.idleMs).toBeLessThan((STEPS_IN_FLIGHT + 1) * longestStep + 1_000);
    expect(outcome.nextEncodeMs).toBeLessThan(3 * outcome.referenceEncodeMs + 500);
  }, 600_000);

  it('a 1000-step request cancelled after a few steps does not delay the next', async () => {
    const outcome = await session.page.evaluate(async (prompt) => {
      const engine = (window as unknown as { pacing: Engine }).pacing;
      const started = performance.now();
      await engine.generate({ prompt, seed: 5, steps: 2, guidance: 0 });
      const referenceMs = performance.now() - started;
      const controller = new AbortController();
      const stepMs: number[] = [];
      const run = engine.generate(
        { prompt, seed: 6, steps: 1000, guidance: 0 },
        {
          signal: controller.signal,
          onProgress: (p: Progress) => {
            if (p.phase !== 'denoising') return;
            stepMs.push(p.stepMs!);
            if (p.step === 2) controller.abort();
          },
        },
      );
      const abortedAt = await run.then(
        () => NaN,
        () => performance.now(),
      );
      await engine.generate({ prompt, seed: 7, steps: 2, guidance: 0 });
      return { referenceMs, nextMs: performance.now() - abortedAt, stepMs };
    }, PROMPT);
    console.log('1000 steps cancelled', outcome);
    const longestStep = Math.max(...outcome.stepMs);
    // Unpaced, the next request waited for all 1000 steps (~15 min here).
    expect(outcome.nextMs).toBeLessThan(3 * outcome.referenceMs + (STEPS_IN_FLIGHT + 1) * longestStep + 1_000);
  }, 600_000);
});

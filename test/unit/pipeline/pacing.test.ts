/**
 * The step pacer over a fake GPU queue that finishes queued steps one at a time: never more than
 * the limit queued, every step reported only once its work is done, in order, with its time.
 */
import { describe, expect, it } from 'vitest';
import { STEPS_IN_FLIGHT, StepPacer, type FinishedStep } from '../../../src/pipeline/pacing.ts';

/** A GPU queue: `submit()` queues a step; `onSubmittedWorkDone()` resolves once those queued before it are done. */
class FakeQueue {
  submitted = 0;
  done = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];

  submit(): void {
    this.submitted++;
  }

  onSubmittedWorkDone(): Promise<void> {
    const upTo = this.submitted;
    return upTo <= this.done ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }

  /** Finishes the oldest queued step, if any. */
  finishOne(): void {
    if (this.done === this.submitted) return;
    this.done++;
    for (const waiter of this.waiters.filter((w) => w.upTo <= this.done)) waiter.resolve();
    this.waiters = this.waiters.filter((w) => w.upTo > this.done);
  }
}

async function runLoop(steps: number, limit?: number): Promise<{ maxQueued: number; reports: (FinishedStep & { doneWhenReported: number })[] }> {
  const gpu = new FakeQueue();
  const timer = setInterval(() => gpu.finishOne(), 1);
  try {
    const pacer = new StepPacer(() => gpu.onSubmittedWorkDone(), limit);
    let maxQueued = 0;
    const reports: (FinishedStep & { doneWhenReported: number })[] = [];
    const report = (finished: FinishedStep[]) => reports.push(...finished.map((f) => ({ ...f, doneWhenReported: gpu.done })));
    for (let i = 0; i < steps; i++) {
      gpu.submit();
      maxQueued = Math.max(maxQueued, gpu.submitted - gpu.done);
      report(await pacer.submitted(i));
    }
    report(await pacer.drain());
    return { maxQueued, reports };
  } finally {
    clearInterval(timer);
  }
}

describe('StepPacer', () => {
  it(`keeps at most ${STEPS_IN_FLIGHT} steps queued and reports each once its work is done, in order`, async () => {
    const { maxQueued, reports } = await runLoop(10);
    expect(maxQueued).toBeLessThanOrEqual(STEPS_IN_FLIGHT);
    expect(reports.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of reports) expect(r.doneWhenReported).toBeGreaterThanOrEqual(r.step + 1);
    expect(reports.every((r) => r.stepMs >= 0)).toBe(true);
  });

  it('with a limit of 1 waits for each step before the next is queued', async () => {
    const { maxQueued } = await runLoop(5, 1);
    expect(maxQueued).toBe(1);
  });

  it('unpaced (Infinity) queues every step and reports them all at the end', async () => {
    const { maxQueued, reports } = await runLoop(6, Infinity);
    expect(maxQueued).toBe(6);
    expect(reports.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

/**
 * Pacing: at most a few steps of GPU work in flight. On WebGPU `session.run()` returns once its
 * work is submitted, so a loop that never waits queues every step in well under a second, its
 * progress runs ahead of the GPU and a cancel leaves the queue full. Waiting on the queue's
 * `onSubmittedWorkDone()` after each step (no readback) keeps the GPU busy with the next step
 * while the loop learns when the previous one finished.
 */

/** Steps of GPU work queued at once: one running, one ready, so the GPU never waits for us. */
export const STEPS_IN_FLIGHT = 2;

/** A step whose GPU work is done. */
export interface FinishedStep {
  /** The index the loop gave it. */
  readonly step: number;
  /** Milliseconds between the previous step's end (or the pacer's start) and this one's. */
  readonly stepMs: number;
}

export class StepPacer {
  private readonly inFlight: { readonly step: number; readonly done: Promise<number> }[] = [];
  private lastDone: number;

  /**
   * @param settle resolves once the work submitted before the call has finished (the GPU
   *   queue's `onSubmittedWorkDone`; at once on the CPU, whose runs finish before they return)
   * @param limit steps in flight before `submitted` waits (Infinity: never, as before pacing)
   */
  constructor(
    private readonly settle: () => Promise<void>,
    private readonly limit: number = STEPS_IN_FLIGHT,
  ) {
    this.lastDone = performance.now();
  }

  /** Marks the work submitted since the last call as step `step`; waits while `limit` steps are in flight. */
  async submitted(step: number): Promise<FinishedStep[]> {
    this.inFlight.push({ step, done: this.settle().then(() => performance.now()) });
    const finished: FinishedStep[] = [];
    while (this.inFlight.length >= this.limit) finished.push(await this.next());
    return finished;
  }

  /** Waits for every step in flight. */
  async drain(): Promise<FinishedStep[]> {
    const finished: FinishedStep[] = [];
    while (this.inFlight.length > 0) finished.push(await this.next());
    return finished;
  }

  private async next(): Promise<FinishedStep> {
    const { step, done } = this.inFlight.shift()!;
    const at = await done;
    const stepMs = at - this.lastDone;
    this.lastDone = at;
    return { step, stepMs };
  }
}

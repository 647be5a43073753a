/**
 * The generation queue over a fake engine whose steps we release by hand (or let run on timers):
 * order, priority, cancel of waiting and running requests, latest-wins, errors, and a stress run
 * of 50 requests with random cancels where every request must end exactly once.
 */
import { describe, expect, it } from 'vitest';
import type { GeneratedImage, GenerateRequest } from '../../../src/api.ts';
import type { Engine, GenerateOptions } from '../../../src/engine.ts';
import { CancelledError, InvalidRequestError } from '../../../src/errors.ts';
import { GenerationQueue, type QueueEvent } from '../../../src/queue/generation-queue.ts';

/**
 * An engine that "generates" `steps` steps, each one waiting for `step()` (manual mode) or a timer
 * (auto mode), checking the signal between steps as the real one does. A prompt of "fail" throws.
 */
class FakeEngine implements Engine {
  readonly started: string[] = [];
  /** The `previews` option of each call, in order. */
  readonly previewsAsked: boolean[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly auto: boolean) {}

  /** Releases one step of the running generation (manual mode); resolves once it has gone on. */
  async step(): Promise<void> {
    for (let i = 0; i < 10 && this.waiters.length === 0; i++) await Promise.resolve();
    this.waiters.shift()?.();
    await settleMicrotasks();
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    this.started.push(request.prompt);
    this.previewsAsked.push(options.previews === true);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (request.prompt === 'fail') throw new InvalidRequestError('this prompt fails on purpose', { field: 'prompt', got: request.prompt });
      const steps = request.steps ?? 3;
      for (let step = 1; step <= steps; step++) {
        if (options.signal?.aborted === true) throw new CancelledError('Generation cancelled');
        await (this.auto ? new Promise<void>((resolve) => setTimeout(resolve, Math.random() * 2)) : new Promise<void>((resolve) => this.waiters.push(resolve)));
        options.onProgress?.({ phase: 'denoising', step, steps, elapsedMs: 0 });
      }
      const { loras: _loras, ...asked } = request;
      const full = { negativePrompt: '', seed: 1, steps, guidance: 2, scheduler: 'ddim', width: 8, height: 8, ...asked } as const;
      return {
        width: 8,
        height: 8,
        pixels: new Uint8ClampedArray(8 * 8 * 4),
        request: full,
        droppedTokens: { prompt: 0, negativePrompt: 0 },
        timings: { encodeMs: 0, denoiseMs: 0, decodeMs: 0, totalMs: 0 },
      };
    } finally {
      this.inFlight--;
    }
  }

  loadModel(): never {
    throw new Error('not used');
  }
  prefetchModel(): never {
    throw new Error('not used');
  }
  loadLora(): never {
    throw new Error('not used');
  }
  registerLora(): never {
    throw new Error('not used');
  }
  /** A batch as the real engine makes it: n pictures with seeds seed, seed + 1, … */
  async generateBatch(request: GenerateRequest, options: GenerateOptions = {}): Promise<GeneratedImage[]> {
    const first = await this.generate({ ...request, n: 1 }, options);
    const seed = request.seed ?? 1;
    return Array.from({ length: request.n ?? 1 }, (_, i) => ({ ...first, request: { ...first.request, seed: seed + i } }));
  }
  idle(): never {
    throw new Error('not used');
  }
  countTokens(): never {
    throw new Error('not used');
  }
  listCatalogModels(): never {
    throw new Error('not used');
  }
  listCachedModels(): never {
    throw new Error('not used');
  }
  deleteCachedModel(): never {
    throw new Error('not used');
  }
  purgeCachedModels(): never {
    throw new Error('not used');
  }
  async dispose(): Promise<void> {}
}

async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function recordEvents(queue: GenerationQueue): QueueEvent[] {
  const events: QueueEvent[] = [];
  queue.on('*', (event) => events.push(event));
  return events;
}

/** Each request's events, as type names, e.g. { r1: ['queued', 'started', 'progress', 'done'] }. */
function eventsById(events: readonly QueueEvent[]): Record<string, string[]> {
  const byId: Record<string, string[]> = {};
  for (const event of events) (byId[event.id] ??= []).push(event.type);
  return byId;
}

/** Runs the manual engine to the end of everything queued. */
async function drain(engine: FakeEngine, queue: GenerationQueue): Promise<void> {
  for (let i = 0; i < 1000 && queue.pending().length > 0; i++) await engine.step();
  expect(queue.pending()).toEqual([]);
}

describe('GenerationQueue', () => {
  it('runs requests one at a time in the order submitted, with events in order per request', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const ids = ['a', 'b', 'c'].map((prompt) => queue.submit({ prompt, steps: 2 }));
    expect(ids.map((id) => queue.status(id))).toEqual(['queued', 'queued', 'queued']);
    await settleMicrotasks();
    expect(ids.map((id) => queue.status(id))).toEqual(['running', 'queued', 'queued']);
    await drain(engine, queue);

    expect(engine.started).toEqual(['a', 'b', 'c']);
    expect(engine.maxInFlight).toBe(1);
    expect(ids.map((id) => queue.status(id))).toEqual(['done', 'done', 'done']);
    for (const id of ids) expect(eventsById(events)[id]).toEqual(['queued', 'started', 'progress', 'progress', 'done']);
    expect((await queue.result(ids[1]!)).request.prompt).toBe('b');
  });

  it('runs higher priority first, first come first served within a priority, and setPriority moves a waiting request', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    queue.submit({ prompt: 'low-1' }, { priority: 0 });
    queue.submit({ prompt: 'high-1' }, { priority: 5 });
    const low2 = queue.submit({ prompt: 'low-2' }, { priority: 0 });
    queue.submit({ prompt: 'high-2' }, { priority: 5 });
    const low3 = queue.submit({ prompt: 'low-3' });
    await settleMicrotasks();
    // high-1 has started; low-3 now jumps everything still waiting; low-2 joins priority 5 and,
    // submitted before high-2, keeps its place in line ahead of it.
    expect(queue.setPriority(low3, 9)).toBe(true);
    expect(queue.setPriority(low2, 5)).toBe(true);
    await drain(engine, queue);
    expect(engine.started).toEqual(['high-1', 'low-3', 'low-2', 'high-2', 'low-1']);
    expect(queue.setPriority(low3, 0)).toBe(false);
  });

  it('removes a cancelled waiting request without the engine ever seeing it', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const first = queue.submit({ prompt: 'first' });
    const second = queue.submit({ prompt: 'second' });
    const third = queue.submit({ prompt: 'third' });
    expect(queue.cancel(second)).toBe(true);
    expect(queue.status(second)).toBe('cancelled');
    await expect(queue.result(second)).rejects.toBeInstanceOf(CancelledError);
    await drain(engine, queue);
    expect(engine.started).toEqual(['first', 'third']);
    expect(eventsById(events)[second]).toEqual(['queued', 'cancelled']);
    expect([queue.status(first), queue.status(third)]).toEqual(['done', 'done']);
    expect(queue.cancel(first)).toBe(false);
  });

  it('aborts the running request at the next step and goes on with the next one', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const long = queue.submit({ prompt: 'long', steps: 10 });
    const next = queue.submit({ prompt: 'next', steps: 2 });
    await engine.step();
    await engine.step();
    expect(queue.cancel(long)).toBe(true);
    // No second request in the engine while the first is still stopping.
    expect(queue.status(next)).toBe('queued');
    await drain(engine, queue);

    expect(queue.status(long)).toBe('cancelled');
    await expect(queue.result(long)).rejects.toBeInstanceOf(CancelledError);
    const longEvents = eventsById(events)[long]!;
    expect(longEvents.filter((type) => type === 'progress').length).toBeLessThanOrEqual(3);
    expect(longEvents.at(-1)).toBe('cancelled');
    expect(queue.status(next)).toBe('done');
    expect(engine.maxInFlight).toBe(1);
  });

  it("in 'latest' mode, a new request supersedes the waiting one but lets the running one finish", async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const typed = ['a', 'a r', 'a re', 'a red'];
    const first = queue.submit({ prompt: typed[0]! }, { mode: 'latest' });
    await engine.step();
    const middle = typed.slice(1, 3).map((prompt) => queue.submit({ prompt }, { mode: 'latest' }));
    const plain = queue.submit({ prompt: 'queued normally' });
    const last = queue.submit({ prompt: typed[3]! }, { mode: 'latest' });
    await drain(engine, queue);

    expect(engine.started).toEqual(['a', 'queued normally', 'a red']);
    expect(middle.map((id) => queue.status(id))).toEqual(['cancelled', 'cancelled']);
    const superseded = events.filter((event) => event.type === 'cancelled').map((event) => (event.type === 'cancelled' ? event.reason : ''));
    expect(superseded).toEqual(['superseded', 'superseded']);
    expect([first, plain, last].map((id) => queue.status(id))).toEqual(['done', 'done', 'done']);
  });

  it('reports a failing request as failed and goes on with the rest', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const ok1 = queue.submit({ prompt: 'ok-1' });
    const bad = queue.submit({ prompt: 'fail' });
    const ok2 = queue.submit({ prompt: 'ok-2' });
    await drain(engine, queue);
    expect([queue.status(ok1), queue.status(bad), queue.status(ok2)]).toEqual(['done', 'failed', 'done']);
    await expect(queue.result(bad)).rejects.toBeInstanceOf(InvalidRequestError);
    const failed = events.find((event) => event.type === 'failed');
    expect(failed?.type === 'failed' && failed.error).toBeInstanceOf(InvalidRequestError);
    expect(eventsById(events)[bad]).toEqual(['queued', 'started', 'failed']);
  });

  it('runs a request with n > 1 as one batch and gives every picture; passes previews on', async () => {
    const engine = new FakeEngine(true);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const batch = queue.submit({ prompt: 'four', seed: 10, n: 4, steps: 1 }, { previews: true });
    const single = queue.submit({ prompt: 'one', steps: 1 });
    const pictures = await queue.results(batch);
    expect(pictures.map((picture) => picture.request.seed)).toEqual([10, 11, 12, 13]);
    expect((await queue.result(batch)).request.seed).toBe(10);
    expect(await queue.results(single)).toHaveLength(1);
    expect(engine.started).toEqual(['four', 'one']);
    expect(engine.previewsAsked).toEqual([true, false]);
    const done = events.find((event) => event.type === 'done' && event.id === batch);
    expect(done?.type === 'done' ? done.images.length : 0).toBe(4);
    expect(queue.request(batch)?.n).toBe(4);
  });

  it('refuses unknown ids and bad priorities with a typed error', () => {
    const queue = new GenerationQueue(new FakeEngine(false));
    expect(() => queue.status('nope')).not.toThrow();
    expect(queue.status('nope')).toBeUndefined();
    expect(() => queue.cancel('nope')).toThrow(InvalidRequestError);
    expect(() => queue.result('nope')).toThrow(InvalidRequestError);
    expect(() => queue.submit({ prompt: 'x' }, { priority: Number.NaN })).toThrow(InvalidRequestError);
    const id = queue.submit({ prompt: 'x' });
    expect(() => queue.setPriority(id, Infinity)).toThrow(/priority/);
    queue.cancelAll();
  });

  it('keeps a listener that throws from stopping the others or the queue', async () => {
    const engine = new FakeEngine(false);
    const queue = new GenerationQueue(engine);
    const reported: unknown[] = [];
    const original = globalThis.reportError;
    globalThis.reportError = (error: unknown) => reported.push(error);
    try {
      queue.on('done', () => {
        throw new Error('listener bug');
      });
      const done: string[] = [];
      const off = queue.on('done', (event) => done.push(event.id));
      const id = queue.submit({ prompt: 'x', steps: 1 });
      await drain(engine, queue);
      expect(done).toEqual([id]);
      expect(reported).toHaveLength(1);
      off();
      queue.submit({ prompt: 'y', steps: 1 });
      await drain(engine, queue);
      expect(done).toEqual([id]);
    } finally {
      globalThis.reportError = original;
    }
  });

  it('ends each of 50 requests with random cancels exactly once, done or cancelled, none lost or duplicated', async () => {
    const engine = new FakeEngine(true);
    const queue = new GenerationQueue(engine);
    const events = recordEvents(queue);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(queue.submit({ prompt: `p${i}`, steps: 1 + (i % 4) }, { priority: i % 3, mode: i % 7 === 0 ? 'latest' : 'queue' }));
    }
    expect(new Set(ids).size).toBe(50);
    // Cancel about a third at random moments, some waiting, some running, some already finished.
    const toCancel = ids.filter(() => Math.random() < 0.35);
    for (const id of toCancel) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      queue.cancel(id);
    }
    const outcomes = await Promise.allSettled(ids.map((id) => queue.result(id)));

    const byId = eventsById(events);
    expect(Object.keys(byId).sort()).toEqual([...ids].sort());
    for (const [index, id] of ids.entries()) {
      const types = byId[id]!;
      const endings = types.filter((type) => type === 'done' || type === 'cancelled' || type === 'failed');
      expect(endings, `${id}: ${types.join(' ')}`).toHaveLength(1);
      expect(types.at(-1)).toBe(endings[0]);
      expect(types[0]).toBe('queued');
      expect(types.filter((type) => type === 'started').length).toBeLessThanOrEqual(1);
      expect(['done', 'cancelled']).toContain(queue.status(id));
      expect(queue.status(id)).toBe(endings[0]);
      const outcome = outcomes[index]!;
      if (outcome.status === 'fulfilled') {
        expect(queue.status(id)).toBe('done');
        expect(outcome.value.request.prompt).toBe(`p${index}`);
      } else {
        expect(queue.status(id)).toBe('cancelled');
        expect(outcome.reason).toBeInstanceOf(CancelledError);
      }
      // A request the engine ran shows in its log exactly once; one that never started, never.
      const runs = engine.started.filter((prompt) => prompt === `p${index}`).length;
      expect(runs).toBe(types.includes('started') ? 1 : 0);
    }
    // Every request not cancelled by us or superseded was done.
    const cancelledByUs = new Set(toCancel);
    for (const id of ids) if (!cancelledByUs.has(id) && queue.status(id) === 'cancelled') expect(byId[id]).not.toContain('started');
    expect(engine.maxInFlight).toBe(1);
    expect(queue.pending()).toEqual([]);
  });
});

/**
 * A queue of generation requests in front of an engine: ids, status, cancel and priority per
 * request, and events as each one moves along.
 *
 * The queue hands the engine one request at a time and starts the next only once the engine has
 * settled the last. The engine would queue requests itself, but a request already handed over
 * can no longer be reordered or dropped without a round trip to the worker: keeping the waiting
 * ones here is what makes priority and cancel of a waiting request immediate.
 */
import type { GeneratedImage, GenerateRequest, Progress } from '../api.ts';
import type { Engine, GenerateOptions } from '../engine.ts';
import { CancelledError, InvalidRequestError } from '../errors.ts';

/** Where a request is: waiting, in the engine, or finished one of three ways. */
export type RequestStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/**
 * 'queue': every request runs in its turn. 'latest' (generate-as-you-type): a new latest-mode
 * request supersedes (cancels) every latest-mode request still waiting; the one already running
 * is left to finish, so that someone typing steadily still sees pictures, never more than one
 * request behind what they typed.
 */
export type SubmitMode = 'queue' | 'latest';

export interface SubmitOptions {
  /** Higher runs first; equal priorities run in the order submitted. Default 0. */
  readonly priority?: number;
  /** Default 'queue'. */
  readonly mode?: SubmitMode;
  /** Asks the engine for a preview with each denoising step's progress (`GenerateOptions.previews`). */
  readonly previews?: boolean;
}

/** Why a request was cancelled: `cancel(id)`, or a newer latest-mode request took its place. */
export type CancelReason = 'cancelled' | 'superseded';

/**
 * What happens to a request, in this order: queued, then started, progress (any number) and one of
 * done / failed / cancelled; or queued then cancelled, when it never started.
 */
export type QueueEvent =
  | { readonly type: 'queued'; readonly id: string; readonly request: GenerateRequest; readonly priority: number }
  | { readonly type: 'started'; readonly id: string }
  | { readonly type: 'progress'; readonly id: string; readonly progress: Progress }
  | {
      readonly type: 'done';
      readonly id: string;
      /** The first picture; `images` holds all of them (`request.n` > 1 makes a batch). */
      readonly image: GeneratedImage;
      readonly images: readonly GeneratedImage[];
    }
  | { readonly type: 'failed'; readonly id: string; readonly error: unknown }
  | { readonly type: 'cancelled'; readonly id: string; readonly reason: CancelReason };

export type QueueEventType = QueueEvent['type'];
export type QueueEventOf<T extends QueueEventType> = Extract<QueueEvent, { type: T }>;

export interface GenerationQueueOptions {
  /**
   * Finished requests whose status and result stay available; older ones are forgotten (their
   * pictures may be large). Default 100.
   */
  readonly keepFinished?: number;
}

interface Entry {
  readonly id: string;
  readonly request: GenerateRequest;
  readonly mode: SubmitMode;
  readonly previews: boolean;
  /** Submission order: the tie-break within a priority. */
  readonly order: number;
  priority: number;
  status: RequestStatus;
  cancelReason?: CancelReason;
  readonly controller: AbortController;
  readonly result: Promise<GeneratedImage[]>;
  settle(outcome: Outcome): void;
}

/** A request's end: its pictures (one, or a batch's), or why there are none. */
type Outcome = { images: GeneratedImage[] } | { error: unknown };

type Listener = (event: QueueEvent) => void;

export class GenerationQueue {
  private readonly engine: Engine;
  private readonly keepFinished: number;
  private readonly entries = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private readonly finished: string[] = [];
  private readonly listeners = new Map<QueueEventType | '*', Set<Listener>>();
  private running: Entry | undefined;
  private pumpScheduled = false;
  private nextOrder = 0;

  constructor(engine: Engine, options: GenerationQueueOptions = {}) {
    this.engine = engine;
    this.keepFinished = options.keepFinished ?? 100;
  }

  /**
   * Queues a request and returns its id at once. It starts no earlier than the next microtask, so
   * requests submitted together are ordered by priority before the first one starts.
   * @throws InvalidRequestError when `priority` is not a finite number or `mode` is unknown
   *   (the request's own fields are checked by the engine when it runs: a bad one ends 'failed')
   */
  submit(request: GenerateRequest, options: SubmitOptions = {}): string {
    const priority = checkPriority(options.priority ?? 0);
    const mode = options.mode ?? 'queue';
    if (mode !== 'queue' && mode !== 'latest') {
      throw new InvalidRequestError(`mode must be 'queue' or 'latest'; got ${JSON.stringify(mode)}`, { field: 'mode', got: mode });
    }
    if (mode === 'latest') {
      for (const older of this.waiting.filter((entry) => entry.mode === 'latest')) this.drop(older, 'superseded');
    }
    let settle!: Entry['settle'];
    const result = new Promise<GeneratedImage[]>((resolve, reject) => {
      settle = (outcome) => ('images' in outcome ? resolve(outcome.images) : reject(outcome.error));
    });
    // Nobody has to ask for a result: a failure is reported through events and status too.
    result.catch(() => undefined);
    const order = this.nextOrder++;
    const entry: Entry = {
      id: `r${order + 1}`,
      request,
      mode,
      previews: options.previews === true,
      order,
      priority,
      status: 'queued',
      controller: new AbortController(),
      result,
      settle,
    };
    this.entries.set(entry.id, entry);
    this.waiting.push(entry);
    this.emit({ type: 'queued', id: entry.id, request, priority });
    this.schedulePump();
    return entry.id;
  }

  /** The request's status; undefined for an id never submitted, or finished and since forgotten. */
  status(id: string): RequestStatus | undefined {
    return this.entries.get(id)?.status;
  }

  /**
   * The request's picture, once it is done.
   * @throws CancelledError when it was cancelled or superseded
   * @throws whatever the engine threw when it failed (InvalidRequestError, GpuDeviceLostError, …)
   * @throws InvalidRequestError at once when the id is unknown (or finished and forgotten)
   */
  result(id: string): Promise<GeneratedImage> {
    return this.entry(id).result.then((images) => images[0]!);
  }

  /**
   * Every picture of the request, once it is done: `request.n` of them (a request with n > 1 runs
   * as one batch, `Engine.generateBatch`), one otherwise.
   * @throws as `result`
   */
  results(id: string): Promise<GeneratedImage[]> {
    return this.entry(id).result;
  }

  /** The request as submitted; undefined for an unknown (or forgotten) id. */
  request(id: string): GenerateRequest | undefined {
    return this.entries.get(id)?.request;
  }

  /**
   * Cancels a request: a waiting one is removed at once ('cancelled' is emitted before this
   * returns); the running one is aborted: the engine rejects it at once and queues no further
   * step (its status stays 'running' until that rejection arrives; a picture the engine finished
   * anyway ends 'done'). The next request is handed to the engine then, and starts there once the
   * steps already queued on the GPU are done (`Engine.idle()` resolves at that point).
   * @returns false when the request had already finished
   * @throws InvalidRequestError when the id is unknown
   */
  cancel(id: string): boolean {
    const entry = this.entry(id);
    if (entry.status === 'queued') {
      this.drop(entry, 'cancelled');
      return true;
    }
    if (entry.status === 'running') {
      entry.cancelReason = 'cancelled';
      entry.controller.abort();
      return true;
    }
    return false;
  }

  /** Cancels every waiting request and the running one. */
  cancelAll(): void {
    for (const entry of [...this.waiting]) this.drop(entry, 'cancelled');
    if (this.running !== undefined) this.cancel(this.running.id);
  }

  /**
   * Moves a waiting request: it runs before every waiting request of lower priority, and among
   * those of its new priority keeps its place by submission time.
   * @returns false when the request has already started or finished (nothing changes)
   * @throws InvalidRequestError when the id is unknown or `priority` is not a finite number
   */
  setPriority(id: string, priority: number): boolean {
    const entry = this.entry(id);
    checkPriority(priority);
    if (entry.status !== 'queued') return false;
    entry.priority = priority;
    return true;
  }

  /** Requests waiting and running, in the order they will run (the running one first). */
  pending(): { readonly id: string; readonly status: RequestStatus; readonly priority: number }[] {
    const waiting = [...this.waiting].sort(runsBefore);
    return [...(this.running !== undefined ? [this.running] : []), ...waiting].map(({ id, status, priority }) => ({ id, status, priority }));
  }

  /**
   * Calls `listener` for every event of `type` ('*': every event). Listeners run synchronously,
   * in the order added; one that throws does not stop the others (the error is reported as an
   * uncaught one, as EventTarget does).
   * @returns a function that removes the listener
   */
  on<T extends QueueEventType>(type: T, listener: (event: QueueEventOf<T>) => void): () => void;
  on(type: '*', listener: (event: QueueEvent) => void): () => void;
  on(type: QueueEventType | '*', listener: Listener): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    // A wrapper, so the same function added twice is called twice and removed once per `off`.
    const wrapped: Listener = (event) => listener(event);
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      throw new InvalidRequestError(`No request with id ${JSON.stringify(id)} in this queue (never submitted, or finished long ago)`, { id });
    }
    return entry;
  }

  /** Takes a waiting request out and ends it as cancelled. */
  private drop(entry: Entry, reason: CancelReason): void {
    this.waiting.splice(this.waiting.indexOf(entry), 1);
    entry.cancelReason = reason;
    this.finish(entry, { error: cancelledError(entry) });
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.running !== undefined) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      void this.runNext();
    });
  }

  private async runNext(): Promise<void> {
    if (this.running !== undefined || this.waiting.length === 0) return;
    const entry = this.waiting.reduce((best, candidate) => (runsBefore(candidate, best) < 0 ? candidate : best));
    this.waiting.splice(this.waiting.indexOf(entry), 1);
    this.running = entry;
    entry.status = 'running';
    this.emit({ type: 'started', id: entry.id });
    let outcome: Outcome;
    try {
      const options: GenerateOptions = {
        signal: entry.controller.signal,
        previews: entry.previews,
        onProgress: (progress) => {
          // The engine may report a step that was under way when the request was settled.
          if (entry.status === 'running') this.emit({ type: 'progress', id: entry.id, progress });
        },
      };
      const batch = entry.request.n !== undefined && entry.request.n !== 1;
      outcome = { images: batch ? await this.engine.generateBatch(entry.request, options) : [await this.engine.generate(entry.request, options)] };
    } catch (error) {
      outcome = { error };
    }
    this.running = undefined;
    this.finish(entry, outcome);
    this.schedulePump();
  }

  private finish(entry: Entry, outcome: Outcome): void {
    if ('images' in outcome) {
      // Cancelled too late to matter: the picture is made, and it is what the caller gets.
      entry.status = 'done';
      this.emit({ type: 'done', id: entry.id, image: outcome.images[0]!, images: outcome.images });
    } else if (outcome.error instanceof CancelledError) {
      entry.status = 'cancelled';
      this.emit({ type: 'cancelled', id: entry.id, reason: entry.cancelReason ?? 'cancelled' });
    } else {
      entry.status = 'failed';
      this.emit({ type: 'failed', id: entry.id, error: outcome.error });
    }
    entry.settle(outcome);
    this.finished.push(entry.id);
    while (this.finished.length > this.keepFinished) this.entries.delete(this.finished.shift()!);
  }

  private emit(event: QueueEvent): void {
    for (const set of [this.listeners.get(event.type), this.listeners.get('*')]) {
      for (const listener of set ?? []) {
        try {
          listener(event);
        } catch (error) {
          reportListenerError(error);
        }
      }
    }
  }
}

/** Negative when `a` runs before `b`: higher priority first, then the earlier submitted. */
function runsBefore(a: Entry, b: Entry): number {
  return b.priority - a.priority || a.order - b.order;
}

function checkPriority(priority: number): number {
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new InvalidRequestError(`priority must be a finite number; got ${String(priority)}`, { field: 'priority', got: priority });
  }
  return priority;
}

function cancelledError(entry: Entry): CancelledError {
  return entry.cancelReason === 'superseded'
    ? new CancelledError(`Request ${entry.id} was superseded by a newer latest-mode request`, { id: entry.id, reason: 'superseded' })
    : new CancelledError(`Request ${entry.id} was cancelled before it started`, { id: entry.id, reason: 'cancelled' });
}

/** A listener's bug is the listener's: report it the way the platform reports uncaught errors, and go on. */
function reportListenerError(error: unknown): void {
  if (typeof globalThis.reportError === 'function') {
    globalThis.reportError(error);
  } else {
    setTimeout(() => {
      throw error;
    });
  }
}

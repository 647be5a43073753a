/**
 * Download progress: the event the weight store reports, and the transfer rate and time left
 * it carries.
 */

/** What `ensureModel` reports while it transfers a model's files. */
export interface DownloadProgress {
  readonly phase: 'downloading';
  /** The file being transferred, as the manifest names it. */
  readonly file: string;
  /** Bytes of `file` stored so far (an earlier, interrupted download's included), and its size. */
  readonly loaded: number;
  readonly total: number;
  /** Bytes of the whole model stored so far (files stored earlier included), and its size. */
  readonly modelLoaded: number;
  readonly modelTotal: number;
  /** Transfer rate over the last few seconds; 0 until there is enough to measure. */
  readonly bytesPerSecond: number;
  /** Seconds left at that rate; null while the rate is unknown. */
  readonly etaSeconds: number | null;
}

/**
 * Bytes per second over a sliding window. A window rather than the average since the start, so
 * that the figure (and the time left) follows a connection that speeds up or slows down.
 */
export class RateMeter {
  /** [time in ms, bytes counted up to then], oldest first; the first may lie before the window. */
  private readonly samples: [number, number][];
  private counted = 0;

  /**
   * @param windowMs how far back the rate looks
   * @param now the clock, in milliseconds (injected by tests)
   */
  constructor(
    private readonly windowMs = 5_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.samples = [[now(), 0]];
  }

  add(bytes: number): void {
    this.counted += bytes;
    const time = this.now();
    this.samples.push([time, this.counted]);
    // Keep one sample at or before the window's start, so the window is always fully covered.
    while (this.samples.length > 2 && this.samples[1]![0] <= time - this.windowMs) this.samples.shift();
  }

  /** 0 until a quarter of a second has been measured: a rate from one chunk would be noise. */
  bytesPerSecond(): number {
    const [startTime, startBytes] = this.samples[0]!;
    const elapsedMs = this.now() - startTime;
    return elapsedMs < 250 ? 0 : ((this.counted - startBytes) * 1000) / elapsedMs;
  }
}

/**
 * Turns stored bytes into `DownloadProgress` events: at most one every `intervalMs` per file (a
 * callback across a worker boundary costs a message each), plus the first and the last of each file.
 */
export class ProgressReporter {
  private lastFile = '';
  private lastReport = -Infinity;

  constructor(
    private readonly onProgress: ((progress: DownloadProgress) => void) | undefined,
    private readonly modelTotal: number,
    private modelLoaded: number,
    private readonly meter = new RateMeter(),
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `added` more bytes of `file` are stored, `loaded` of its `total` in all. */
  stored(file: string, loaded: number, total: number, added: number): void {
    this.modelLoaded += added;
    this.meter.add(added);
    if (this.onProgress === undefined) return;
    const time = this.now();
    const due = file !== this.lastFile || loaded === total || time - this.lastReport >= this.intervalMs;
    if (!due) return;
    this.lastFile = file;
    this.lastReport = time;
    const bytesPerSecond = this.meter.bytesPerSecond();
    this.onProgress({
      phase: 'downloading',
      file,
      loaded,
      total,
      modelLoaded: this.modelLoaded,
      modelTotal: this.modelTotal,
      bytesPerSecond,
      etaSeconds: bytesPerSecond > 0 ? (this.modelTotal - this.modelLoaded) / bytesPerSecond : null,
    });
  }
}

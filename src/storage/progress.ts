/**
 * Download progress: the event the weight store reports, and the transfer rate and time left
 * it carries.
 */

/** What `ensureModel` reports while it transfers a model's files. */
export interface DownloadProgress {
  readonly phase: 'downloading';
  /** The file being transferred (or just verified), as the manifest names it. */
  readonly file: string;
  /** Bytes of `file` stored so far (an earlier, interrupted download's included), and its size. */
  readonly loaded: number;
  readonly total: number;
  /** Bytes of the whole model stored so far (files stored earlier included), and its size. */
  readonly modelLoaded: number;
  readonly modelTotal: number;
  /** The model's files stored and verified so far, and how many it has (distinct files). */
  readonly filesDone: number;
  readonly fileCount: number;
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
 * Turns stored bytes into `DownloadProgress` events: at most one every `intervalMs` (a callback
 * across a worker boundary costs a message each), plus each file's first, its verification, and
 * its start over when it has to.
 * Files download in parallel, so the events of several files interleave.
 */
export class ProgressReporter {
  private readonly loaded = new Map<string, number>();
  private readonly reported = new Set<string>();
  private modelLoaded: number;
  private filesDone: number;
  private lastReport = -Infinity;

  /** @param files the model's distinct files, each with the bytes stored before this call */
  constructor(
    private readonly onProgress: ((progress: DownloadProgress) => void) | undefined,
    private readonly files: readonly { readonly path: string; readonly size: number; readonly stored: number }[],
    private readonly meter = new RateMeter(),
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const file of files) this.loaded.set(file.path, file.stored);
    this.modelLoaded = files.reduce((sum, file) => sum + file.stored, 0);
    this.filesDone = files.filter((file) => file.stored === file.size).length;
  }

  /** `loaded` bytes of `file` are stored in all (fewer than before when the file started over). */
  stored(file: string, loaded: number): void {
    const added = loaded - (this.loaded.get(file) ?? 0);
    this.loaded.set(file, loaded);
    this.modelLoaded += added;
    if (added > 0) this.meter.add(added);
    const time = this.now();
    // A file that starts over (fewer bytes than before) is news worth an event of its own.
    if (added >= 0 && this.reported.has(file) && time - this.lastReport < this.intervalMs) return;
    this.reported.add(file);
    this.report(file, time);
  }

  /** `file` is stored and verified. */
  verified(file: string): void {
    this.filesDone += 1;
    this.report(file, this.now());
  }

  private report(file: string, time: number): void {
    if (this.onProgress === undefined) return;
    this.lastReport = time;
    const modelTotal = this.files.reduce((sum, entry) => sum + entry.size, 0);
    const bytesPerSecond = this.meter.bytesPerSecond();
    this.onProgress({
      phase: 'downloading',
      file,
      loaded: this.loaded.get(file) ?? 0,
      total: this.files.find((entry) => entry.path === file)?.size ?? 0,
      modelLoaded: this.modelLoaded,
      modelTotal,
      filesDone: this.filesDone,
      fileCount: this.files.length,
      bytesPerSecond,
      etaSeconds: bytesPerSecond > 0 ? (modelTotal - this.modelLoaded) / bytesPerSecond : null,
    });
  }
}

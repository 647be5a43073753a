/**
 * What the benchmarks measure in Chromium: peak memory of a page while it works (its renderer
 * process's resident memory and its JavaScript heap), and of the GPU process, which holds
 * SwiftShader's "GPU" buffers here.
 *   jsHeap           peak of the page's JavaScript heap plus ArrayBuffer backing stores
 *                    (CDP Runtime.getHeapUsage: usedSize + backingStorageSize), sampled every
 *                    ~10 ms, above what it was before (after a GC). WebAssembly memory is not in it.
 *   rendererRss      peak resident memory of the page's renderer process (Linux: VmHWM, reset
 *                    through /proc/<pid>/clear_refs before), above its resident memory before:
 *                    everything, ONNX Runtime's wasm heap included; GPU buffers are in the GPU
 *                    process, not here.
 *   gpuProcessRss    the same for Chromium's GPU process.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';

export interface Figure {
  readonly ms: number;
  readonly mibPerSecond: number;
}

const MiB = 1024 * 1024;

export const figure = (bytes: number, ms: number): Figure => ({ ms: Math.round(ms), mibPerSecond: Math.round(bytes / MiB / (ms / 1000)) });

/** Throughput of the measured over the reference's, for the same bytes. */
export function ratio(referenceMs: number, ms: number): number {
  return Math.round((referenceMs / ms) * 100) / 100;
}

export interface Measured<T> {
  readonly result: T;
  readonly jsHeapPeakBytes: number;
  readonly rendererRssPeakBytes: number | null;
  readonly gpuProcessRssPeakBytes: number | null;
}

/** Opens the test page in a new tab, runs `work` in it watching its memory, and closes it. */
export async function measuredInFreshPage<T>(context: BrowserContext, url: string, work: (page: Page) => Promise<T>): Promise<Measured<T>> {
  const page = await context.newPage();
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.storagePage !== undefined, undefined, { timeout: 120_000 });
    return await measured(await context.newCDPSession(page), () => work(page));
  } finally {
    await page.close();
  }
}

/** Runs `work` while watching memory (see the header comment); `cdp` is the page's session. */
export async function measured<T>(cdp: CDPSession, work: () => Promise<T>): Promise<Measured<T>> {
  const heap = async (): Promise<number> => {
    const usage = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
    return usage.usedSize + (usage.backingStorageSize ?? 0);
  };
  await cdp.send('HeapProfiler.collectGarbage');
  // Every renderer of ours: the one the work ran in is the one whose memory peaked.
  const watch = (type: 'renderer' | 'gpu-process') =>
    ourProcesses(type).flatMap((pid) => {
      const rss = resetPeakRss(pid);
      return rss === undefined ? [] : [{ pid, rss }];
    });
  const renderers = watch('renderer');
  const gpuProcesses = watch('gpu-process');
  const before = await heap();
  let peak = before;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await heap());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    const result = await work();
    peak = Math.max(peak, await heap());
    const rssPeak = (processes: { pid: number; rss: number }[]): number | null => {
      const peaks = processes.map(({ pid, rss }) => ((statusKib(pid, 'VmHWM') ?? rss) - rss) * 1024);
      return peaks.length > 0 ? Math.max(...peaks) : null;
    };
    return { result, jsHeapPeakBytes: peak - before, rendererRssPeakBytes: rssPeak(renderers), gpuProcessRssPeakBytes: rssPeak(gpuProcesses) };
  } finally {
    running = false;
    await sampler;
  }
}

/**
 * The renderer (or GPU) processes of the Chromium this Node process started (other browsers on
 * the machine are not its descendants); none where there is no /proc.
 */
function ourProcesses(type: 'renderer' | 'gpu-process'): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return []; // not Linux: no process figures
  }
  const parent = new Map<number, number>();
  for (const name of entries) {
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command (which may hold spaces).
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      continue; // the process ended while we looked
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    try {
      return descends(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--type=${type}`);
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** Resets the process's peak resident memory to its current one (Linux ≥ 4.0); that one, in KiB. */
function resetPeakRss(pid: number): number | undefined {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    return undefined; // not allowed here: no RSS figure rather than a wrong one
  }
  return statusKib(pid, 'VmRSS');
}

function statusKib(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? undefined : Number(match[1]);
}

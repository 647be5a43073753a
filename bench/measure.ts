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
import { chromiumProcesses, resetPeakRss, statusKib } from './processes.ts';
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
    chromiumProcesses(type).flatMap((pid) => {
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

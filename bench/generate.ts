/**
 * Generation benchmark: tiny-shapes in headless Chromium, per backend (WebGPU — SwiftShader
 * here — and the CPU's wasm), each in a browser of its own, through bench/generate.html, whose
 * worker runs the engine and counts GPU submits and readbacks (bench/generate-worker.ts). Prints
 * the figures and writes them to bench/results/generate.json.
 *
 * Per backend: the load (and when its stages began: download, sessions, warm-up); the first
 * picture after the load and the warm ones (the median of BENCH_REPEATS, default 3); time per
 * step and per phase; GPU submits and readbacks per step (the difference between a run of the
 * bench's steps and one of 2 steps, over the steps between); paced (two steps in flight) against
 * unpaced (every step queued at once) runs, interleaved, each engine on its own device; previews
 * on against off; batches of 1, 2 and 4 (time per picture); and the peak resident memory of the
 * renderer (the page and its worker: ONNX Runtime's wasm heap) and of the GPU process
 * (SwiftShader's buffers), VmHWM after a reset when the page is open.
 *
 * Steps: BENCH_STEPS_WEBGPU (default 8: a step is ~1 s on SwiftShader) and BENCH_STEPS_WASM
 * (default 20, the model's own); the model's guidance (2: two UNet passes a step).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import type { TextRequest } from '../src/api.ts';
import { REPO_ROOT, launchChromium, serveProject } from '../scripts/lib/browser.ts';
import type { LoadFigures, Pacing, RunFigures } from './generate-worker.ts';
import { chromiumProcesses, resetPeakRss, statusKib } from './processes.ts';

const MODEL_URL = '/models/tiny-shapes/manifest.json';
const PROMPT = 'a red circle on a blue background';
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const STEPS = { webgpu: Number(process.env.BENCH_STEPS_WEBGPU ?? 8), wasm: Number(process.env.BENCH_STEPS_WASM ?? 20) } as const;
type Backend = keyof typeof STEPS;

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round = (value: number, digits = 0): number => Math.round(value * 10 ** digits) / 10 ** digits;

export async function run(): Promise<void> {
  const loadAtStart = loadavg().map((load) => round(load, 2));
  const project = await serveProject();
  try {
    const backends: Record<string, unknown> = {};
    let browserVersion = '';
    for (const backend of ['webgpu', 'wasm'] as const) {
      const browser = await launchChromium();
      browserVersion = browser.version();
      try {
        backends[backend] = await measureBackend(await browser.newPage(), project.origin, backend);
      } finally {
        await browser.close();
      }
    }
    const results = {
      benchmark: 'generate',
      date: new Date().toISOString(),
      machine: {
        description: process.env.BENCH_MACHINE ?? 'not described (set BENCH_MACHINE)',
        loadAverageAtStart: loadAtStart,
        cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
        os: `${process.platform} ${release()}`,
        browser: `Chromium ${browserVersion}`,
        node: process.version,
      },
      model: 'tiny-shapes (64x64, guidance 2, DDIM)',
      repeats: REPEATS,
      backends,
    };
    await writeFile(join(REPO_ROOT, 'bench/results/generate.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`generate:\n${JSON.stringify(backends, null, 2)}\n  -> bench/results/generate.json`);
  } finally {
    await project.close();
  }
}

async function measureBackend(page: import('playwright-core').Page, origin: string, backend: Backend) {
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${origin}/bench/generate.html`);
  await page.waitForFunction(() => window.generateBench !== undefined);
  // Peaks from here on: the page is open, nothing loaded yet.
  const processes = { renderer: chromiumProcesses('renderer'), gpuProcess: chromiumProcesses('gpu-process') };
  for (const pid of [...processes.renderer, ...processes.gpuProcess]) resetPeakRss(pid);

  const load = (pacing: Pacing): Promise<LoadFigures> =>
    page.evaluate(([p, url, b]) => window.generateBench!.load(p, url, b), [pacing, MODEL_URL, backend] as const);
  const generate = (pacing: Pacing, request: Partial<TextRequest>, previews = false): Promise<RunFigures> =>
    page.evaluate(([p, r, v]) => window.generateBench!.generate(p, r, v), [
      pacing,
      { prompt: PROMPT, steps: STEPS[backend], ...request } as TextRequest,
      previews,
    ] as [Pacing, TextRequest, boolean]);

  const steps = STEPS[backend];
  const loaded = await load('paced');
  if (loaded.backend !== backend) throw new Error(`asked for ${backend}, loaded on ${loaded.backend}`);
  const first = await generate('paced', { seed: 0 });
  await load('unpaced');
  const paced: RunFigures[] = [];
  const unpaced: RunFigures[] = [];
  for (let k = 1; k <= REPEATS; k++) {
    paced.push(await generate('paced', { seed: k }));
    unpaced.push(await generate('unpaced', { seed: k }));
  }
  const previews: RunFigures[] = [];
  for (let k = 1; k <= REPEATS; k++) previews.push(await generate('paced', { seed: k }, true));
  const short = await generate('paced', { seed: 1, steps: 2 });
  const batches: Record<string, number> = { 1: round(median(paced.map((r) => r.wallMs))) };
  for (const n of [2, 4]) batches[n] = round((await generate('paced', { seed: 1, n })).wallMs / n);
  await page.evaluate(() => window.generateBench!.dispose());

  const peakMiB = (pids: number[]): number | null => {
    const peaks = pids.map((pid) => statusKib(pid, 'VmHWM')).filter((kib): kib is number => kib !== undefined);
    return peaks.length === 0 ? null : round(Math.max(...peaks) / 1024);
  };
  const warm = median(paced.map((r) => r.wallMs));
  const phase = (name: 'encodeMs' | 'denoiseMs' | 'decodeMs'): number => round(median(paced.map((r) => r.timings[0]![name])));
  const perStep = (count: 'submits' | 'readbacks'): number => round((median(paced.map((r) => r[count])) - short[count]) / (steps - 2), 2);
  return {
    steps,
    load: { totalMs: round(loaded.totalMs), stageStartMs: loaded.stageStartMs },
    firstPictureMs: round(first.wallMs),
    warmPictureMs: round(warm),
    firstOverWarm: round(first.wallMs / warm, 2),
    stepMs: round(phase('denoiseMs') / steps),
    phasesMs: { encode: phase('encodeMs'), denoise: phase('denoiseMs'), decode: phase('decodeMs') },
    perStep: { submits: perStep('submits'), readbacks: perStep('readbacks') },
    pacing: {
      pacedMs: round(warm),
      unpacedMs: round(median(unpaced.map((r) => r.wallMs))),
      cost: round(warm / median(unpaced.map((r) => r.wallMs)) - 1, 3),
      pacedRunsMs: paced.map((r) => round(r.wallMs)),
      unpacedRunsMs: unpaced.map((r) => round(r.wallMs)),
    },
    previews: {
      offMs: round(warm),
      onMs: round(median(previews.map((r) => r.wallMs))),
      readbacksPerStepOn: round((median(previews.map((r) => r.readbacks)) - median(paced.map((r) => r.readbacks))) / (steps - 1), 2),
    },
    batchMsPerPicture: batches,
    peakMemoryMiB: { renderer: peakMiB(processes.renderer), gpuProcess: peakMiB(processes.gpuProcess) },
  };
}

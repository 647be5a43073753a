/**
 * The generation benchmark's worker: engines as the real worker runs them (`LocalEngine`), one
 * paced (the default, two steps in flight) and one unpaced (every step queued at once, as before
 * pacing), with `GPUQueue.submit` and `GPUBuffer.mapAsync` wrapped to count submits and
 * readbacks. Exposed over Comlink to bench/generate-page.ts.
 */
import * as Comlink from 'comlink';
import type { GeneratedImage, LoadStage, TextRequest } from '../src/api.ts';
import type { BackendPreference } from '../src/engine.ts';
import { LocalEngine } from '../src/worker/local-engine.ts';

const counts = { submits: 0, readbacks: 0 };
if (typeof GPUQueue !== 'undefined') {
  const submit = GPUQueue.prototype.submit;
  GPUQueue.prototype.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
    counts.submits++;
    return submit.call(this, buffers);
  };
  const mapAsync = GPUBuffer.prototype.mapAsync;
  GPUBuffer.prototype.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
    counts.readbacks++;
    return mapAsync.apply(this, args);
  };
}

export interface LoadFigures {
  readonly backend: string;
  readonly totalMs: number;
  /** When each stage began, ms after the call. */
  readonly stageStartMs: Partial<Record<LoadStage, number>>;
}

export interface RunFigures {
  readonly wallMs: number;
  readonly timings: GeneratedImage['timings'][];
  readonly submits: number;
  readonly readbacks: number;
  readonly progressEvents: number;
}

const engines = { paced: new LocalEngine(), unpaced: new LocalEngine({ stepsInFlight: Infinity }) };
export type Pacing = keyof typeof engines;

const api = {
  async load(pacing: Pacing, manifestUrl: string, backend: BackendPreference): Promise<LoadFigures> {
    const started = performance.now();
    const stageStartMs: Partial<Record<LoadStage, number>> = {};
    const info = await engines[pacing].loadModel(manifestUrl, {
      backend,
      onProgress: (p) => {
        if (p.stage !== undefined) stageStartMs[p.stage] ??= Math.round(performance.now() - started);
      },
    });
    return { backend: info.backend, totalMs: performance.now() - started, stageStartMs };
  },

  async generate(pacing: Pacing, request: TextRequest, previews: boolean): Promise<RunFigures> {
    const before = { ...counts };
    let progressEvents = 0;
    const started = performance.now();
    const images = await engines[pacing].generateBatch(request, { previews, onProgress: () => void progressEvents++ });
    return {
      wallMs: performance.now() - started,
      timings: images.map((image) => image.timings),
      submits: counts.submits - before.submits,
      readbacks: counts.readbacks - before.readbacks,
      progressEvents,
    };
  },

  async dispose(): Promise<void> {
    await Promise.all(Object.values(engines).map((engine) => engine.dispose()));
  },
};

export type GenerateBenchApi = typeof api;

Comlink.expose(api);

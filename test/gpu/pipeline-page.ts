/**
 * Two engines through the public API, for test/gpu/pipeline.test.ts: one on WebGPU (the
 * GPU-resident loop), one on ONNX Runtime's CPU provider (the CPU scheduler's `step`, the
 * reference). Pictures cross `page.evaluate` as plain byte arrays.
 */
import { createEngine, type BackendPreference, type Engine, type GenerateRequest, type ModelInfo, type Progress } from '../../src/index.ts';

export interface PageImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: number[];
  readonly request: Required<GenerateRequest>;
  readonly timings: Record<string, number>;
  readonly progress: Progress[];
}

export interface PipelinePage {
  load(manifestUrl: string, backend: Exclude<BackendPreference, 'auto'>): Promise<ModelInfo>;
  generate(backend: Exclude<BackendPreference, 'auto'>, request: GenerateRequest): Promise<PageImage>;
}

declare global {
  interface Window {
    pipelinePage?: PipelinePage;
  }
}

const engines: Record<'webgpu' | 'wasm', Engine> = { webgpu: await createEngine(), wasm: await createEngine() };

window.pipelinePage = {
  load: (manifestUrl, backend) => engines[backend].loadModel(manifestUrl, { backend }),
  generate: async (backend, request) => {
    const progress: Progress[] = [];
    const image = await engines[backend].generate(request, { onProgress: (p) => progress.push(p) });
    return { ...image, pixels: Array.from(image.pixels), progress };
  },
};

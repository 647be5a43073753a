/**
 * Two engines through the public API, for test/gpu/pipeline.test.ts: one on WebGPU (the
 * GPU-resident loop), one on ONNX Runtime's CPU provider (the CPU scheduler's `step`, the
 * reference). Pictures cross `page.evaluate` as plain byte arrays.
 */
import { createEngine, type BackendPreference, type Engine, type GenerateRequest, type ModelInfo, type Progress, type RequestAsRun } from '../../src/index.ts';

export interface PageImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: number[];
  readonly request: RequestAsRun;
  readonly timings: Record<string, number>;
  readonly progress: Progress[];
}

/** A picture as it crosses `page.evaluate`: RGBA bytes as a plain array. */
export interface PagePicture {
  readonly width: number;
  readonly height: number;
  readonly pixels: number[];
}

/** A request as it crosses `page.evaluate`: JSON, pictures as PagePicture. */
export type PageRequest = Omit<GenerateRequest, 'image' | 'mask'> & { readonly image?: PagePicture; readonly mask?: PagePicture };

export interface PipelinePage {
  load(manifestUrl: string, backend: Exclude<BackendPreference, 'auto'>): Promise<ModelInfo>;
  generate(backend: Exclude<BackendPreference, 'auto'>, request: PageRequest, previews?: boolean): Promise<PageImage>;
  /** `request.n` pictures; each carries the whole request's progress. */
  generateBatch(backend: Exclude<BackendPreference, 'auto'>, request: PageRequest): Promise<PageImage[]>;
  /** Aborts after `steps` denoising steps are reported: the error's class name and message, and the steps seen. */
  cancelAfter(backend: Exclude<BackendPreference, 'auto'>, request: PageRequest, steps: number): Promise<{ error: string; message: string; seen: number }>;
}

declare global {
  interface Window {
    pipelinePage?: PipelinePage;
  }
}

const engines: Record<'webgpu' | 'wasm', Engine> = { webgpu: await createEngine(), wasm: await createEngine() };

window.pipelinePage = {
  load: (manifestUrl, backend) => engines[backend].loadModel(manifestUrl, { backend }),
  generateBatch: async (backend, request) => {
    const progress: Progress[] = [];
    const images = await engines[backend].generateBatch(request as GenerateRequest, { onProgress: (p) => progress.push(p) });
    return images.map((image) => ({ ...image, pixels: Array.from(image.pixels), progress }));
  },
  cancelAfter: async (backend, request, steps) => {
    const controller = new AbortController();
    let seen = 0;
    try {
      await engines[backend].generate(request as GenerateRequest, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'denoising' && ++seen === steps) controller.abort();
        },
      });
      return { error: 'none', message: 'finished', seen };
    } catch (error) {
      await engines[backend].idle();
      return { error: (error as Error).constructor.name, message: (error as Error).message, seen };
    }
  },
  generate: async (backend, { image: source, mask, ...rest }, previews = false) => {
    const progress: Progress[] = [];
    const picture = (p: PagePicture) => ({ width: p.width, height: p.height, pixels: Uint8ClampedArray.from(p.pixels) });
    const request: GenerateRequest = {
      ...rest,
      ...(source !== undefined ? { image: picture(source) } : {}),
      ...(mask !== undefined ? { mask: picture(mask) } : {}),
    };
    const image = await engines[backend].generate(request, {
      previews,
      // Preview pixels cross page.evaluate as plain arrays.
      onProgress: (p) =>
        progress.push(p.preview !== undefined ? { ...p, preview: { ...p.preview, pixels: Array.from(p.preview.pixels) as unknown as Uint8ClampedArray } } : p),
    });
    return { ...image, pixels: Array.from(image.pixels), progress };
  },
};

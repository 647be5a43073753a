/**
 * Types of the public API, shared by the main-thread client and the worker engine
 * (one `EngineApi` implemented by both sides; Comlink carries it across).
 */
import type { SchedulerName } from './schedulers/scheduler.ts';

export type Phase = 'loading' | 'encoding' | 'denoising' | 'decoding';

export interface Progress {
  readonly phase: Phase;
  /** Denoising step just finished (1-based) during 'denoising'; 0 otherwise. */
  readonly step: number;
  /** Total denoising steps of the request. */
  readonly steps: number;
  /** Milliseconds since the request started. */
  readonly elapsedMs: number;
}

export interface GenerateRequest {
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** 32-bit unsigned seed; the same request and seed give the same picture on the same device. */
  readonly seed?: number;
  readonly steps?: number;
  /** Classifier-free guidance scale; <= 1 disables guidance (one UNet pass per step). */
  readonly guidance?: number;
  readonly scheduler?: SchedulerName;
  readonly width?: number;
  readonly height?: number;
}

export interface GeneratedImage {
  readonly width: number;
  readonly height: number;
  /** RGBA, 8 bits per channel, row-major. */
  readonly pixels: Uint8ClampedArray;
  /** The request as run, defaults filled in (seed included). */
  readonly request: Required<GenerateRequest>;
  readonly timings: {
    readonly encodeMs: number;
    readonly denoiseMs: number;
    readonly decodeMs: number;
    readonly totalMs: number;
  };
}

export interface ModelInfo {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  readonly defaults: { readonly steps: number; readonly guidance: number; readonly scheduler: SchedulerName };
  /** 'webgpu' or 'wasm' (CPU fallback). */
  readonly backend: 'webgpu' | 'wasm';
}

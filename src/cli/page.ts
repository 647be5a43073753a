/**
 * The page the command-line generator and the end-to-end tests open: one engine, driven from
 * Node through `page.evaluate(() => window.webdiffusionCli.generate(...))`.
 *
 * Errors cannot cross `page.evaluate` with their class (Playwright rebuilds a plain Error from
 * the message), so each call settles into an outcome that carries the error's name and `code`.
 * Progress goes out through a function Node exposes before the page loads.
 */
import * as api from '../index.ts';
import type { Engine, GeneratedImage, LoadModelOptions, ModelInfo, Progress, TextRequest } from '../index.ts';

export interface WireError {
  readonly name: string;
  /** The typed error's stable code; absent for errors that are not ours. */
  readonly code?: string;
  readonly message: string;
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: WireError };

export interface WireImage extends Omit<GeneratedImage, 'pixels'> {
  /** RGBA bytes, base64: `page.evaluate` returns JSON-like values, not typed arrays. */
  readonly pixelsBase64: string;
}

export interface CliPage {
  loadModel(manifestUrl: string, backend?: LoadModelOptions['backend']): Promise<Outcome<ModelInfo>>;
  generate(request: TextRequest): Promise<Outcome<WireImage>>;
}

declare global {
  interface Window {
    webdiffusionCli?: CliPage;
    /** The public API and this page's engine, for tests that check error classes in the page. */
    webdiffusion?: { readonly api: typeof api; readonly engine: Promise<Engine> };
    /** Exposed by the Node side (page.exposeFunction); absent when the page is opened by hand. */
    webdiffusionProgress?: (progress: Progress) => Promise<void>;
  }
}

function toWire(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

async function settle<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: toWire(error) };
  }
}

function base64(bytes: Uint8ClampedArray): string {
  let binary = '';
  // String.fromCharCode takes its arguments on the stack: go in slices.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

const report = (progress: Progress): void => {
  void window.webdiffusionProgress?.(progress);
};

const engine = api.createEngine();
window.webdiffusion = { api, engine };

window.webdiffusionCli = {
  loadModel: (manifestUrl, backend) => settle(async () => (await engine).loadModel(manifestUrl, { onProgress: report, ...(backend !== undefined ? { backend } : {}) })),
  generate: (request) =>
    settle(async () => {
      const { pixels, ...rest } = await (await engine).generate(request, { onProgress: report });
      return { ...rest, pixelsBase64: base64(pixels) };
    }),
};

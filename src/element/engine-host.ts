/**
 * What every `<web-diffusion>` element on a page shares: one engine (one worker, one GPU device)
 * and, in it, one loaded model at a time.
 *
 * The engine holds one model; loading another replaces it. So elements take turns: each turn
 * (a load, or a load-if-needed followed by a generation) runs after the turns queued before it,
 * and a turn that needs a model other than the loaded one loads it first. Elements that use the
 * same model (however the page spells its reference) share the one copy, and a load asked for while the same load is under way
 * joins it (its progress reaches every element waiting on it) instead of loading twice.
 */
import type { GeneratedImage, GenerateRequest, ModelInfo, Progress } from '../api.ts';
import { createEngine } from '../client/client-engine.ts';
import type { Engine } from '../engine.ts';
import { GpuDeviceLostError } from '../errors.ts';
import { absoluteReference } from '../models/reference-text.ts';
import { SerialQueue } from '../util/serial-queue.ts';

export interface HostGenerateOptions {
  readonly onProgress?: (progress: Progress) => void;
  /** Progress of a model load this turn needs first (another element's model was loaded). */
  readonly onModelProgress?: (progress: Progress) => void;
  readonly signal?: AbortSignal;
}

interface PendingLoad {
  readonly promise: Promise<ModelInfo>;
  readonly listeners: Set<(progress: Progress) => void>;
}

export class EngineHost {
  private readonly engine: Promise<Engine>;
  private readonly turns = new SerialQueue();
  private loaded: { readonly url: string; readonly info: ModelInfo } | undefined;
  private readonly pending = new Map<string, PendingLoad>();

  constructor(engine: Promise<Engine>) {
    this.engine = engine;
  }

  /**
   * Makes `model`'s model the loaded one, in turn: a catalog id, a Hugging Face repo id or a URL,
   * as `Engine.loadModel` takes.
   * @throws whatever `Engine.loadModel` throws
   */
  loadModel(model: string, onProgress?: (progress: Progress) => void): Promise<ModelInfo> {
    const url = absolute(model);
    let load = this.pending.get(url);
    if (load === undefined) {
      const listeners = new Set<(progress: Progress) => void>();
      const promise = this.turns
        .run(() => this.ensureLoaded(url, (progress) => listeners.forEach((listener) => listener(progress))))
        .finally(() => this.pending.delete(url));
      load = { promise, listeners };
      this.pending.set(url, load);
    }
    if (onProgress !== undefined) load.listeners.add(onProgress);
    return load.promise;
  }

  /**
   * Generates with `model`, in turn, loading it first if another is loaded.
   * @throws whatever `Engine.loadModel` and `Engine.generate` throw
   */
  generate(model: string, request: GenerateRequest, options: HostGenerateOptions = {}): Promise<GeneratedImage> {
    const url = absolute(model);
    return this.turns.run(async () => {
      await this.ensureLoaded(url, options.onModelProgress);
      const engine = await this.engine;
      try {
        return await engine.generate(request, {
          previews: true,
          ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
        });
      } catch (error) {
        // The model died with the device; the next turn loads it again.
        if (error instanceof GpuDeviceLostError) this.loaded = undefined;
        throw error;
      }
    });
  }

  /** Resolves once the engine has finished the work asked for so far (a cancelled generation's queued steps included). */
  async idle(): Promise<void> {
    await (await this.engine).idle();
  }

  private async ensureLoaded(url: string, onProgress: ((progress: Progress) => void) | undefined): Promise<ModelInfo> {
    if (this.loaded?.url === url) return this.loaded.info;
    const engine = await this.engine;
    // A load releases the loaded model before it creates the new one's sessions: until it has
    // succeeded, no model is known to be loaded.
    this.loaded = undefined;
    const info = await engine.loadModel(url, onProgress !== undefined ? { onProgress } : {});
    this.loaded = { url, info };
    return info;
  }
}

/** One model per reference however a page spells it: URLs resolved against the page. */
function absolute(model: string): string {
  try {
    return absoluteReference(model, document.baseURI);
  } catch {
    // Not a reference: the engine refuses it with its typed error.
    return model;
  }
}

const hosts = new WeakMap<Engine, EngineHost>();
let pageHost: EngineHost | undefined;

/** The page's shared host: its engine (and worker) is started on first use. */
export function sharedHost(): EngineHost {
  pageHost ??= new EngineHost(createEngine());
  return pageHost;
}

/** The host of an engine the page made itself, one per engine. */
export function hostFor(engine: Engine): EngineHost {
  let host = hosts.get(engine);
  if (host === undefined) {
    host = new EngineHost(Promise.resolve(engine));
    hosts.set(engine, host);
  }
  return host;
}

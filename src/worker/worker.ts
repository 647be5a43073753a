/**
 * The worker entry: exposes a `LocalEngine` over Comlink (see protocol.ts for the wire).
 * Models run here, off the main thread, so the page stays responsive during a generation.
 */
import * as Comlink from 'comlink';
import type { Progress } from '../api.ts';
import { LocalEngine } from './local-engine.ts';
import { installErrorTransfer, type WorkerApi } from './protocol.ts';

installErrorTransfer();

/** Made anew by `ready` (the client's first call), which says where the app's bundled models are. */
let engine = new LocalEngine();
const running = new Map<number, AbortController>();

/**
 * Runs call `requestId` with a signal that `cancel(requestId)` aborts, and the client's progress
 * proxy, releasing the proxy's port afterwards.
 */
async function cancellable<T>(
  requestId: number,
  onProgress: ((progress: Progress) => void) | undefined,
  work: (options: { signal: AbortSignal; onProgress?: (progress: Progress) => void }) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  running.set(requestId, controller);
  // A preview's pixels are transferred, not copied, to the page.
  const forward =
    onProgress === undefined
      ? undefined
      : (progress: Progress) => onProgress(progress.preview !== undefined ? Comlink.transfer(progress, [progress.preview.pixels.buffer]) : progress);
  try {
    return await work({ signal: controller.signal, ...(forward !== undefined ? { onProgress: forward } : {}) });
  } finally {
    running.delete(requestId);
    // A cancelled call rejects at once while its last steps still finish and report: the proxy is
    // released once the engine is idle, so that a progress call in flight gets its answer (a port
    // closed under it would leave the loop waiting for ever, and every later job behind it).
    const release = (): void => (onProgress as Comlink.Remote<() => void> | undefined)?.[Comlink.releaseProxy]();
    void engine.idle().then(release, release);
  }
}

const api: WorkerApi = {
  ready: (lifeLock, baseUrl) =>
    new Promise<true>((resolve) => {
      engine = new LocalEngine({ baseUrl });
      const locks = globalThis.navigator?.locks;
      if (locks === undefined) {
        resolve(true);
        return;
      }
      // Never released: the browser frees it when this worker ends, however it ends.
      void locks.request(lifeLock, () => {
        resolve(true);
        return new Promise<never>(() => undefined);
      });
    }),

  loadModel: (requestId, model, backend, onProgress) => cancellable(requestId, onProgress, (options) => engine.loadModel(model, { backend, ...options })),

  prefetchModel: (requestId, model, onProgress) => cancellable(requestId, onProgress, (options) => engine.prefetchModel(model, options)),

  generate: (requestId, request, onProgress, previews) =>
    cancellable(requestId, onProgress, async (options) => {
      const image = await engine.generate(request, { ...options, previews: previews === true });
      return Comlink.transfer(image, [image.pixels.buffer]);
    }),

  generateBatch: (requestId, request, onProgress, previews) =>
    cancellable(requestId, onProgress, async (options) => {
      const images = await engine.generateBatch(request, { ...options, previews: previews === true });
      return Comlink.transfer(
        images,
        images.map((image) => image.pixels.buffer),
      );
    }),

  loadLora: (requestId, lora, onProgress) => cancellable(requestId, onProgress, (options) => engine.loadLora(lora, options)),
  registerLora: (name, lora) => engine.registerLora(name, lora),

  cancel: (requestId) => running.get(requestId)?.abort(),
  idle: () => engine.idle(),
  countTokens: (text) => engine.countTokens(text),

  listCatalogModels: () => engine.listCatalogModels(),
  listCachedModels: () => engine.listCachedModels(),
  deleteCachedModel: (modelId) => engine.deleteCachedModel(modelId),
  purgeCachedModels: () => engine.purgeCachedModels(),

  dispose: () => engine.dispose(),
};

Comlink.expose(api);

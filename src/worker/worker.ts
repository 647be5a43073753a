/**
 * The worker entry: exposes a `LocalEngine` over Comlink (see protocol.ts for the wire).
 * Models run here, off the main thread, so the page stays responsive during a generation.
 */
import * as Comlink from 'comlink';
import type { Progress } from '../api.ts';
import { LocalEngine } from './engine.ts';
import { installErrorTransfer, type WorkerApi } from './protocol.ts';

installErrorTransfer();

const engine = new LocalEngine();
const running = new Map<number, AbortController>();

/** Runs `work` with the client's progress proxy, releasing the proxy's port afterwards. */
async function withProgress<T>(onProgress: ((progress: Progress) => void) | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    (onProgress as Comlink.Remote<() => void> | undefined)?.[Comlink.releaseProxy]();
  }
}

const api: WorkerApi = {
  ready: () => true,

  loadModel: (manifestUrl, backend, onProgress) =>
    withProgress(onProgress, () => engine.loadModel(manifestUrl, { backend, ...(onProgress !== undefined ? { onProgress } : {}) })),

  generate: (requestId, request, onProgress) =>
    withProgress(onProgress, async () => {
      const controller = new AbortController();
      running.set(requestId, controller);
      try {
        const image = await engine.generate(request, { signal: controller.signal, ...(onProgress !== undefined ? { onProgress } : {}) });
        return Comlink.transfer(image, [image.pixels.buffer]);
      } finally {
        running.delete(requestId);
      }
    }),

  cancel: (requestId) => running.get(requestId)?.abort(),

  dispose: () => engine.dispose(),
};

Comlink.expose(api);

/**
 * The weight store in a dedicated worker, where the engine runs it: stores a model and returns
 * the SHA-256 of one file read back, or the error's name and message.
 */
import { createWeightStore } from '../../src/storage/weight-store.ts';

export interface WorkerRequest {
  readonly manifestUrl: string;
  readonly root: string;
  readonly path: string;
}

export type WorkerReply =
  { readonly ok: true; readonly downloadedBytes: number; readonly events: number; readonly sha256: string } | { readonly ok: false; readonly error: string };

self.onmessage = async ({ data }: MessageEvent<WorkerRequest>) => {
  let reply: WorkerReply;
  try {
    const store = createWeightStore({ name: data.root });
    let events = 0;
    const model = await store.ensureModel(data.manifestUrl, { onProgress: () => (events += 1) });
    const digest = await crypto.subtle.digest('SHA-256', await store.bytes(model.key, data.path));
    const sha256 = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
    reply = { ok: true, downloadedBytes: model.downloadedBytes, events, sha256 };
  } catch (error) {
    reply = { ok: false, error: String(error) };
  }
  self.postMessage(reply);
};

/**
 * What crosses between the client and the worker: the worker's API as Comlink exposes it, and
 * the transfer handler that keeps our error classes across the boundary.
 */
import * as Comlink from 'comlink';
import type { CachedModel, CatalogModelStatus, GeneratedImage, GenerateRequest, LoraInfo, LoraReference, ModelInfo, Progress, TokenCount } from '../api.ts';
import type { BackendPreference, ModelReference } from '../engine.ts';
import { deserializeError, serializeError, type SerializedError } from '../errors.ts';

/**
 * The worker's side of `Engine`. AbortSignal cannot be posted, so a call that can be aborted
 * (load, prefetch, generate) carries an id the client picks, and aborting it becomes a
 * `cancel(id)` call. Callbacks arrive as Comlink proxies, which the worker releases when the
 * call is done.
 */
export interface WorkerApi {
  /**
   * Resolves once the worker's modules have loaded and it holds the Web Lock `lifeLock`, which
   * it keeps until it ends: the page's request for the same lock tells it the worker is gone.
   * @param baseUrl where the app is published: bundled models are under it (see `LocalEngineOptions.baseUrl`)
   */
  ready(lifeLock: string, baseUrl: string): Promise<true>;
  loadModel(requestId: number, model: ModelReference, backend: BackendPreference, onProgress?: (progress: Progress) => void): Promise<ModelInfo>;
  prefetchModel(requestId: number, model: ModelReference, onProgress?: (progress: Progress) => void): Promise<CachedModel>;
  generate(requestId: number, request: GenerateRequest, onProgress?: (progress: Progress) => void, previews?: boolean): Promise<GeneratedImage>;
  generateBatch(requestId: number, request: GenerateRequest, onProgress?: (progress: Progress) => void, previews?: boolean): Promise<GeneratedImage[]>;
  loadLora(requestId: number, lora: LoraReference, onProgress?: (progress: Progress) => void): Promise<LoraInfo>;
  registerLora(name: string, lora: LoraReference): Promise<void>;
  /** Aborts call `requestId`; unknown ids (finished ones) are ignored. */
  cancel(requestId: number): void;
  idle(): Promise<void>;
  countTokens(text: string): Promise<TokenCount>;
  listCatalogModels(): Promise<CatalogModelStatus[]>;
  listCachedModels(): Promise<CachedModel[]>;
  deleteCachedModel(modelId: string): Promise<void>;
  purgeCachedModels(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Replaces Comlink's handler for thrown values (which keeps only message, name and stack) with
 * ours, so a worker's `CancelledError` is a `CancelledError` on the main thread. Both sides call it.
 */
export function installErrorTransfer(): void {
  const thrown = Comlink.transferHandlers.get('throw');
  if (thrown === undefined) throw new Error("Comlink has no 'throw' transfer handler to replace");
  Comlink.transferHandlers.set('throw', {
    canHandle: thrown.canHandle,
    serialize: ({ value }: { value: unknown }) => [serializeError(value), []],
    deserialize: (data: SerializedError) => {
      throw deserializeError(data);
    },
  } as Comlink.TransferHandler<{ value: unknown }, SerializedError>);
}

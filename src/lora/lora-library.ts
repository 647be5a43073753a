/**
 * Where LoRA files come from and how they are kept: a reference resolved to a file URL (a
 * Hugging Face file, a LoRA manifest, a name the user registered), the file stored by the
 * weight store like any model file (downloaded once, verified, listed, deletable, offline),
 * then read and kept parsed in memory by its SHA-256, so a request that switches back to a LoRA
 * costs nothing.
 */
import { createStore, get, set, type UseStore } from 'idb-keyval';
import type { LoraInfo, LoraReference, LoraSource } from '../api.ts';
import { LoraError, ManifestError } from '../errors.ts';
import { huggingFaceBaseUrl } from '../models/reference-text.ts';
import type { FileListSource, StoredModel, WeightStore } from '../storage/weight-store.ts';
import { readLora, type LoraWeights } from './lora-file.ts';
import { parseSafetensors } from './safetensors.ts';

export const LORA_MANIFEST_FORMAT = 'webdiffusion-lora/1';

/** A LoRA stored and parsed. */
export interface LoadedLora {
  readonly name: string;
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly weights: LoraWeights;
  /** What messages call it: its URL. */
  readonly source: string;
}

export interface LoadLoraOptions {
  readonly signal?: AbortSignal;
  /** How the file is stored (default `store.ensureModel`): the engine's, which reports progress. */
  readonly fetch?: (source: FileListSource) => Promise<StoredModel>;
}

/** "owner/repo/file.safetensors" or "owner/repo@revision/dir/file.safetensors". */
const HF_FILE = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([^/]+))?\/(.+\.safetensors)$/;

export class LoraLibrary {
  private readonly store: WeightStore;
  private readonly registered = new Map<string, LoraReference>();
  private readonly parsed = new Map<string, LoraWeights>();
  /** LoRA manifests read, by URL: a request does not fetch one again, and offline it is there. */
  private readonly manifests = new Map<string, LoraSource>();

  constructor(store: WeightStore) {
    this.store = store;
  }

  /** Gives `source` a name requests may use. */
  register(name: string, source: LoraReference): void {
    if (typeof name !== 'string' || name === '') throw new LoraError('registerLora needs a non-empty name', { reason: 'bad-reference', got: name });
    this.registered.set(name, source);
  }

  /**
   * The LoRA stored (downloaded if missing) and parsed.
   * @throws LoraError when the file is not a LoRA we read; ManifestError for a reference that is
   *   no URL, or a bad LoRA manifest; the store's errors (NetworkError, IntegrityError,
   *   QuotaError, CancelledError) as for models
   */
  async load(reference: LoraReference, options: LoadLoraOptions = {}): Promise<LoadedLora> {
    if (typeof reference === 'object' && reference !== null && reference.data instanceof Blob) return this.fromData(reference.data, reference.name);
    const source = await this.resolve(reference, options.signal);
    const url = new URL(source.url);
    const path = decodeURIComponent(url.pathname.split('/').pop() ?? '');
    const base = new URL('.', url).href;
    const list: FileListSource = {
      id: `lora:${url.origin}${url.pathname}`,
      baseUrl: base,
      files: [{ path, ...(source.sha256 !== undefined ? { sha256: source.sha256 } : {}), ...(source.size !== undefined ? { size: source.size } : {}) }],
    };
    const stored = await (options.fetch?.(list) ?? this.store.ensureModel(list, options.signal !== undefined ? { signal: options.signal } : {}));
    const file = stored.files[0]!;
    let weights = this.parsed.get(file.sha256);
    if (weights === undefined) {
      const bytes = await this.store.bytes(stored.key, file.path);
      weights = readLora(parseSafetensors(bytes, url.href), url.href);
      this.parsed.set(file.sha256, weights);
    }
    return { name: source.name ?? loraNameOf(url.pathname), key: stored.key, sha256: file.sha256, size: file.size, weights, source: url.href };
  }

  /** A file the user gave (a drop): already on this device, so read as it is, not stored. */
  private async fromData(data: Blob, name: string | undefined): Promise<LoadedLora> {
    const bytes = new Uint8Array(await data.arrayBuffer());
    const sha256 = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const label = name ?? (data instanceof File ? data.name : 'lora');
    let weights = this.parsed.get(sha256);
    if (weights === undefined) {
      weights = readLora(parseSafetensors(bytes, label), label);
      this.parsed.set(sha256, weights);
    }
    return { name: loraNameOf(label), key: `lora-file:${sha256}`, sha256, size: bytes.length, weights, source: label };
  }

  private async resolve(reference: LoraReference, signal: AbortSignal | undefined): Promise<LoraSource> {
    if (typeof reference !== 'string') {
      if (typeof reference !== 'object' || reference === null || typeof reference.url !== 'string') {
        throw new LoraError(`a LoRA is a URL, a Hugging Face file, a registered name or { url, sha256?, size?, name? }; got ${JSON.stringify(reference)}`, {
          reason: 'bad-reference',
        });
      }
      // The file itself (a manifest is given by its URL as a string).
      return { ...reference, url: absolute(reference.url) };
    }
    const named = this.registered.get(reference);
    // The user's name for it is what the PNG parameters say.
    if (named !== undefined) return { ...(await this.resolve(named, signal)), name: reference };
    const hub = reference.includes('://') ? null : HF_FILE.exec(reference.trim());
    if (hub !== null && !reference.startsWith('.') && !reference.startsWith('/')) {
      return { url: huggingFaceBaseUrl(hub[1]!, hub[2]) + hub[3]!.split('/').map(encodeURIComponent).join('/') };
    }
    const url = absolute(reference);
    return isManifest(url) ? this.manifest(url, signal) : { url };
  }

  private async manifest(url: string, signal: AbortSignal | undefined): Promise<LoraSource> {
    let manifest = this.manifests.get(url);
    if (manifest === undefined) {
      manifest = await readManifest(url, signal);
      this.manifests.set(url, manifest);
    }
    return manifest;
  }
}

const isManifest = (url: string): boolean => new URL(url).pathname.endsWith('.json');

/** What `loadLora` reports: the file's facts, its modules by component. */
export function loraInfo(lora: LoadedLora, unmatched: readonly string[]): LoraInfo {
  const modules: Partial<Record<'unet' | 'text_encoder' | 'text_encoder_2', number>> = {};
  for (const m of lora.weights.modules) modules[m.component] = (modules[m.component] ?? 0) + 1;
  return { name: lora.name, key: lora.key, sha256: lora.sha256, size: lora.size, layout: lora.weights.layout, rank: lora.weights.rank, modules, unmatched };
}

/** Names the trainers give every file: the folder names the LoRA instead. */
const GENERIC_NAMES = new Set(['lora', 'adapter_model', 'pytorch_lora_weights', 'model']);

/** What a LoRA at `path` is called in PNG parameters: its file's name, or its folder's for a generic one. */
export function loraNameOf(path: string): string {
  const parts = decodeURIComponent(path)
    .split(/[\\/]/)
    .filter((p) => p !== '');
  const file = (parts.pop() ?? 'lora').replace(/\.safetensors$/, '');
  return GENERIC_NAMES.has(file) && parts.length > 0 ? parts.pop()! : file;
}

function absolute(text: string): string {
  try {
    const url = new URL(text, globalThis.location?.href);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`${url.protocol} is not fetched`);
    return url.href;
  } catch (cause) {
    throw new ManifestError(
      `"${text}" is not a LoRA URL, Hugging Face file ("owner/repo/file.safetensors") or registered name`,
      { source: text, field: 'loras' },
      { cause },
    );
  }
}

/**
 * A LoRA manifest: `{ "format": "webdiffusion-lora/1", "file": "lora.safetensors", "size", "sha256", "name"? }`,
 * for hosts that report no digest (a plain static server).
 */
async function readManifest(url: string, signal: AbortSignal | undefined): Promise<LoraSource> {
  let json: Record<string, unknown>;
  try {
    const response = await fetch(url, { cache: 'no-cache', ...(signal !== undefined ? { signal } : {}) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    json = (await response.json()) as Record<string, unknown>;
  } catch (cause) {
    // Offline (or the host gone): the copy read last time, whose file the weight store has.
    const kept = await keptManifest(url);
    if (kept !== undefined && signal?.aborted !== true) return kept;
    throw new ManifestError(`the LoRA manifest ${url} could not be read: ${(cause as Error).message}`, { source: url }, { cause });
  }
  const { format, file, size, sha256, name } = json;
  if (format !== LORA_MANIFEST_FORMAT || typeof file !== 'string' || typeof size !== 'number' || typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new ManifestError(`${url} is not a "${LORA_MANIFEST_FORMAT}" manifest with file, size and sha256`, { source: url, field: 'format' });
  }
  const source = { url: new URL(file, url).href, size, sha256, ...(typeof name === 'string' ? { name } : {}) };
  await keepManifest(url, source);
  return source;
}

let manifests: UseStore | undefined;

/** The LoRA manifests kept for offline use, in IndexedDB. */
function manifestStore(): UseStore {
  manifests ??= createStore('webdiffusion-lora-manifests', 'manifests');
  return manifests;
}

/** Kept for an offline visit; where IndexedDB is missing or refuses, there is simply no copy. */
async function keepManifest(url: string, source: LoraSource): Promise<void> {
  try {
    await set(url, source, manifestStore());
  } catch {
    // No offline copy: the manifest is fetched again next time, which online costs nothing more.
  }
}

async function keptManifest(url: string): Promise<LoraSource | undefined> {
  try {
    return await get<LoraSource>(url, manifestStore());
  } catch {
    return undefined;
  }
}

/**
 * The weight store's index, in IndexedDB through idb-keyval: what is stored of each file (parts
 * committed, hash state, the validator of the response the bytes came in) and which files make
 * up each model, in which version, and when it was last used.
 *
 * The index lives apart from the bytes so that one index serves both byte backends (OPFS and the
 * Cache API, see parts.ts), and so that a model's record changes in one IndexedDB transaction
 * (`update`): two tabs storing the same model never lose each other's changes, and a reload never
 * leaves a record half written.
 */
import { createStore, del, entries, get, set, update, type UseStore } from 'idb-keyval';
import { recordKey, type ModelRecord } from './model-source.ts';

/** What is stored of one file, looked up by its SHA-256. */
export interface BlobRecord {
  readonly size: number;
  readonly partSize: number;
  /** Parts committed: `parts * partSize` bytes are stored (all of them when complete). */
  readonly parts: number;
  /** The SHA-256 hasher's state after the committed parts (hash-wasm `save()`), base64. */
  readonly hashState?: string;
  /** True once the whole file is stored and its digest matched. */
  readonly complete: boolean;
  /** The URL the bytes came from. */
  readonly url?: string;
  /**
   * The validator (ETag, else Last-Modified) of the response the stored bytes came in: a resumed
   * transfer whose response carries another is a changed file, and starts over.
   */
  readonly validator?: string;
}

/** A model the store knows. */
export interface ModelEntry {
  /**
   * What the store knows the model by: where it came from (`ModelRecord.key`), never the id a
   * manifest declares for itself, so that a manifest elsewhere cannot take over the entry.
   */
  readonly key: string;
  /** The last version whose files were all stored and verified; null until one was. */
  readonly complete: ModelRecord | null;
  /**
   * A version being downloaded (the first one, or a changed manifest's). Until all its files are
   * stored, `complete` and its files stay: an unfinished download never evicts a finished model.
   */
  readonly pending: ModelRecord | null;
  /** When a load or prefetch last asked for the model (ms since the epoch); null if never. */
  readonly lastUsed: number | null;
}

type Key = ['blob', string] | ['model', string];

export class StoreIndex {
  private constructor(private readonly db: UseStore) {}

  /** The index called `name` (an IndexedDB database of that name, with one object store). */
  static open(name: string): StoreIndex {
    return new StoreIndex(createStore(name, 'index'));
  }

  blob(sha256: string): Promise<BlobRecord | undefined> {
    return get<BlobRecord>(blobKey(sha256), this.db);
  }

  setBlob(sha256: string, record: BlobRecord): Promise<void> {
    return set(blobKey(sha256), record, this.db);
  }

  deleteBlob(sha256: string): Promise<void> {
    return del(blobKey(sha256), this.db);
  }

  model(key: string): Promise<ModelEntry | undefined> {
    return get<ModelEntry>(modelKey(key), this.db);
  }

  /** Changes a model's entry in one transaction; `change` gets a fresh entry for a new model. */
  updateModel(key: string, change: (entry: ModelEntry) => ModelEntry): Promise<void> {
    return update<ModelEntry>(modelKey(key), (entry) => change(entry ?? { key, complete: null, pending: null, lastUsed: null }), this.db);
  }

  deleteModel(key: string): Promise<void> {
    return del(modelKey(key), this.db);
  }

  /**
   * Moves entries written before models were keyed by source (they were keyed by the id the
   * manifest declared, and have no `key`) to their source's key, each in one transaction. Their
   * files are kept by digest, so nothing is downloaded again. Idempotent: two tabs may run it.
   */
  async migrate(): Promise<void> {
    const old = (await entries<Key, ModelEntry & { id?: string }>(this.db)).filter(([[kind], entry]) => kind === 'model' && entry.key === undefined);
    for (const [oldKey, entry] of old) {
      const record = entry.complete ?? entry.pending;
      const { id: _, ...rest } = entry;
      if (record !== null) await update<ModelEntry>(modelKey(recordKey(record)), (now) => now ?? { ...rest, key: recordKey(record) }, this.db);
      await del(oldKey, this.db);
    }
  }

  async models(): Promise<ModelEntry[]> {
    return (await entries<Key, ModelEntry>(this.db)).filter(([[kind]]) => kind === 'model').map(([, entry]) => entry);
  }

  /** Digests of the files with a record, complete or not. */
  async blobs(): Promise<string[]> {
    return (await entries<Key, BlobRecord>(this.db)).filter(([[kind]]) => kind === 'blob').map(([[, sha256]]) => sha256);
  }
}

const blobKey = (sha256: string): Key => ['blob', sha256];
const modelKey = (key: string): Key => ['model', key];

/** The files of an entry's versions: what the store must keep for it. */
export function filesOf(entry: ModelEntry): ModelRecord['files'][number][] {
  return [...(entry.complete?.files ?? []), ...(entry.pending?.files ?? [])];
}

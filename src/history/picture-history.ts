/**
 * Finished pictures and how they were made, kept in the browser (IndexedDB, through idb-keyval)
 * so a visitor finds them again after a reload. Private by choice: a persisted setting turns the
 * history off, and while it is off nothing is written.
 *
 * Pictures live in their own database, apart from the model cache's index, so clearing one never
 * touches the other; the setting lives in a second small database (idb-keyval gives each store
 * its own database).
 */
import { clear, createStore, del, get, getMany, keys, promisifyRequest, set, type UseStore } from 'idb-keyval';
import type { GeneratedImage, RequestAsRun } from '../api.ts';
import { InvalidRequestError } from '../errors.ts';

export interface HistoryEntry {
  /** Sorts by creation time: the store's key order is the history's order. */
  readonly id: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly modelId: string;
  /** The request as run, every field set. */
  readonly request: RequestAsRun;
  readonly timings: GeneratedImage['timings'];
  readonly width: number;
  readonly height: number;
  /** The picture as PNG, its generation parameters in a `parameters` text chunk. */
  readonly png: Blob;
}

export type NewHistoryEntry = Omit<HistoryEntry, 'id' | 'createdAt'> & { readonly createdAt?: number };

export interface PictureHistoryStores {
  /** Where pictures go; default the database "webdiffusion-history". */
  readonly pictures?: UseStore;
  /** Where the on/off setting goes; default the database "webdiffusion-history-settings". */
  readonly settings?: UseStore;
}

const ENABLED_KEY = 'enabled';

export class PictureHistory {
  private readonly pictures: UseStore;
  private readonly settings: UseStore;

  constructor(stores: PictureHistoryStores = {}) {
    this.pictures = stores.pictures ?? createStore('webdiffusion-history', 'pictures');
    this.settings = stores.settings ?? createStore('webdiffusion-history-settings', 'settings');
  }

  /** Whether finished pictures are kept; on until turned off. */
  async isEnabled(): Promise<boolean> {
    return (await get<boolean>(ENABLED_KEY, this.settings)) ?? true;
  }

  /** Turns keeping pictures on or off, for this origin, across reloads. Pictures kept stay until `clear()`. */
  async setEnabled(enabled: boolean): Promise<void> {
    await set(ENABLED_KEY, enabled, this.settings);
  }

  /**
   * Keeps a finished picture, unless the history is off.
   * @returns the entry as stored, or undefined when the history is off (nothing was written)
   * @throws InvalidRequestError when `png` is not a Blob
   */
  async add(entry: NewHistoryEntry): Promise<HistoryEntry | undefined> {
    if (!(entry.png instanceof Blob)) throw new InvalidRequestError('A history entry needs its picture as a PNG Blob', { got: typeof entry.png });
    if (!(await this.isEnabled())) return undefined;
    const createdAt = entry.createdAt ?? Date.now();
    const stored: HistoryEntry = { ...entry, createdAt, id: entryId(createdAt) };
    await set(stored.id, stored, this.pictures);
    return stored;
  }

  /**
   * The newest pictures first.
   * @param limit at most this many (default: all); only those are read, the rest stay on disk
   */
  async list(limit = Infinity): Promise<HistoryEntry[]> {
    const ids = (await keys<string>(this.pictures)).sort().reverse().slice(0, limit);
    const entries = await getMany<HistoryEntry | undefined>(ids, this.pictures);
    // An entry deleted between reading the keys and the values is simply not listed.
    return entries.filter((entry): entry is HistoryEntry => entry !== undefined);
  }

  /** One picture; undefined when there is none with that id. */
  get(id: string): Promise<HistoryEntry | undefined> {
    return get<HistoryEntry>(id, this.pictures);
  }

  /** How many pictures are kept, all of them (`list` may be limited); counted without reading any. */
  count(): Promise<number> {
    return this.pictures('readonly', (store) => promisifyRequest(store.count()));
  }

  /** Removes one picture; an unknown id is no error. */
  delete(id: string): Promise<void> {
    return del(id, this.pictures);
  }

  /** Removes every picture (the setting stays as it is). */
  clear(): Promise<void> {
    return clear(this.pictures);
  }
}

let sequence = 0;

/**
 * Time first, zero-padded so string order is time order; then a per-page counter and a random
 * part, so two pictures in the same millisecond (two tabs, say) neither collide nor reorder.
 */
function entryId(createdAt: number): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  return `${String(createdAt).padStart(15, '0')}-${String(sequence++).padStart(6, '0')}-${random}`;
}

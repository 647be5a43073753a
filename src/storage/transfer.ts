/**
 * What a download is asked to fetch and how: shared by the downloader (resumable-download.ts) and
 * the writer it streams parts into (part-writer.ts), kept apart so that neither imports the other.
 */
import type { StoredFileEntry } from './blob-store.ts';

export interface TransferOptions {
  /** Bytes per committed part: what a reload mid-download loses at most. */
  readonly partSize: number;
  /** Further attempts after one that fails without receiving a byte. */
  readonly retries: number;
  /** Wait before the first retry; doubled for each further one. */
  readonly retryDelayMs: number;
  /** A response that delivers nothing for this long is cut and resumed. */
  readonly stallTimeoutMs: number;
  /** Bytes the origin may still store, asked before each part is written; default: no limit. */
  readonly available?: () => Promise<number>;
}

/** A file to download: where from, and what the manifest says it is. */
export interface RemoteFile extends StoredFileEntry {
  readonly url: string;
}

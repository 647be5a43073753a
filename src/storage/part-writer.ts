/**
 * Writes a file being downloaded into its parts (parts.ts), hashing it on the way, and records
 * in the index what is committed, with the hash state, so that a later call resumes there.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { IntegrityError, QuotaError } from '../errors.ts';
import type { BlobRecord, BlobStore } from './blob-store.ts';
import type { PartSink } from './parts.ts';
import type { RemoteFile, TransferOptions } from './transfer.ts';

/** Bytes go to disk in batches of this size (or the part size, if smaller): one write call each. */
const WRITE_BATCH = 4 * 1024 * 1024;

/**
 * Appends bytes to a file's parts, hashing them on the way. Bytes are batched into one write per
 * `WRITE_BATCH`; a full part is committed (`close()`), then the progress record says so, with the
 * hash state up to that point, so a later call resumes at the part boundary.
 *
 * Two batches take turns: one fills and is hashed while the other is being written, so the disk
 * and the hash (the slowest step: ~140 MiB/s here) work at the same time.
 */
export class PartWriter {
  private batch: Uint8Array<ArrayBuffer>;
  private spare: Uint8Array<ArrayBuffer>;
  private batched = 0;
  /** The write of the last batch handed to the part; awaited before its buffer is reused. */
  private writing: Promise<void> = Promise.resolve();
  private part: PartSink | undefined;
  /** Bytes handed to the open part (the filling batch not included). */
  private written = 0;
  /** Bytes this writer's responses delivered, skipped ones included. */
  received = 0;

  private constructor(
    private readonly blobs: BlobStore,
    private readonly file: RemoteFile,
    private readonly hasher: IHasher,
    private readonly partSize: number,
    private parts: number,
    /** The validator of the response the stored bytes came in; see BlobRecord. */
    public validator: string | undefined,
    private readonly available: TransferOptions['available'],
  ) {
    this.batch = new Uint8Array(Math.min(WRITE_BATCH, partSize));
    this.spare = new Uint8Array(this.batch.byteLength);
  }

  /** Continues from what `progress` says is committed, or starts afresh. */
  static async resume(
    blobs: BlobStore,
    file: RemoteFile,
    progress: BlobRecord | undefined,
    { partSize, available }: Pick<TransferOptions, 'partSize' | 'available'>,
  ): Promise<PartWriter> {
    const hasher = await createSHA256();
    if (progress?.hashState !== undefined && progress.size === file.size) {
      hasher.load(Uint8Array.from(atob(progress.hashState), (c) => c.charCodeAt(0)));
      return new PartWriter(blobs, file, hasher, progress.partSize, progress.parts, progress.validator, available);
    }
    hasher.init();
    return new PartWriter(blobs, file, hasher, partSize, 0, undefined, available);
  }

  /** Drops everything stored of the file and starts from its first byte. */
  async restart(): Promise<void> {
    await this.discard();
    await this.blobs.remove(this.file.sha256);
    this.hasher.init();
    this.parts = 0;
    this.written = 0;
    this.batched = 0;
    this.validator = undefined;
  }

  /** Bytes in committed parts. */
  get committedBytes(): number {
    return this.parts * this.partSize;
  }

  /** Bytes received so far, committed or not: where the next byte goes. */
  get position(): number {
    return this.committedBytes + this.written + this.batched;
  }

  async append(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const room = Math.min(this.batch.byteLength - this.batched, this.partSize - this.written - this.batched);
      const take = Math.min(room, chunk.byteLength - offset);
      this.batch.set(chunk.subarray(offset, offset + take), this.batched);
      this.batched += take;
      offset += take;
      if (this.batched === this.batch.byteLength || this.written + this.batched === this.partSize) await this.flush();
      if (this.written === this.partSize) await this.commit();
    }
  }

  /**
   * Writes out and commits what is left, then checks the digest.
   * @throws IntegrityError when the SHA-256 is not the listed one
   */
  async finish(): Promise<void> {
    await this.flush();
    if (this.part !== undefined) await this.commit();
    const digest = this.hasher.digest('hex');
    if (digest !== this.file.sha256) {
      throw new IntegrityError(`${this.file.path}: SHA-256 ${digest} is not the ${this.file.sha256} the manifest lists; the download was discarded`, {
        path: this.file.path,
        expected: this.file.sha256,
        actual: digest,
      });
    }
    await this.storage(() => this.blobs.saveProgress(this.file.sha256, this.record({ complete: true })));
  }

  /** Drops the open part's uncommitted bytes; committed parts stay for the next attempt. */
  async discard(): Promise<void> {
    const part = this.part;
    this.part = undefined;
    // A write or stream that failed (quota) rejects with the failure the caller is already reporting.
    await this.writing.catch(() => undefined);
    await part?.abort().catch(() => undefined);
  }

  private async flush(): Promise<void> {
    if (this.batched === 0) return;
    const bytes = this.batch.subarray(0, this.batched);
    this.hasher.update(bytes);
    await this.writing;
    const index = this.parts;
    if (this.part === undefined) await this.checkRoom();
    this.part ??= await this.storage(() => this.blobs.createPart(this.file.sha256, index));
    const part = this.part;
    this.writing = this.storage(() => part.write(bytes));
    // Awaited at the next flush, commit or discard; marked handled so that a failure in between
    // is not also reported as an unhandled rejection.
    this.writing.catch(() => undefined);
    this.written += this.batched;
    this.batched = 0;
    [this.batch, this.spare] = [this.spare, this.batch];
  }

  private async commit(): Promise<void> {
    const part = this.part!;
    this.part = undefined;
    await this.writing;
    await this.storage(() => part.close());
    this.parts += 1;
    this.written = 0;
    const hashState = btoa(String.fromCharCode(...this.hasher.save()));
    await this.storage(() => this.blobs.saveProgress(this.file.sha256, this.record({ hashState, complete: false })));
  }

  private record(state: { hashState?: string; complete: boolean }): BlobRecord {
    return {
      size: this.file.size,
      partSize: this.partSize,
      parts: this.parts,
      ...state,
      url: this.file.url,
      ...(this.validator !== undefined ? { validator: this.validator } : {}),
    };
  }

  /**
   * Asks again, before a part is written, how much the origin may still store: the estimate the
   * download started with may no longer hold (another tab, another site's data, a browser that
   * over-reported), and a part that cannot fit is refused before any byte of it is written.
   * @throws QuotaError when the part would not fit
   */
  private async checkRoom(): Promise<void> {
    if (this.available === undefined) return;
    const needed = Math.min(this.partSize, this.file.size - this.committedBytes);
    const available = await this.available();
    if (needed > available) {
      throw new QuotaError(`No room for the next ${needed} bytes of ${this.file.path}: the browser lets this site store only ${Math.max(0, available)} more`, {
        path: this.file.path,
        available: Math.max(0, available),
      });
    }
  }

  /** Runs a storage call, turning the browser's QuotaExceededError into our QuotaError. */
  private async storage<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof DOMException && error.name === 'QuotaExceededError')) throw error;
      // Discarding the open part frees what it holds, so at least that much is available.
      const available = this.written + this.batched;
      throw new QuotaError(`The browser refused to store more of ${this.file.path}`, { path: this.file.path, available }, { cause: error });
    }
  }
}

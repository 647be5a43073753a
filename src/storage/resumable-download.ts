/**
 * Downloads one file into the blob store, hashing it on the way, and resumes where the last
 * attempt stopped: after a dropped or stalled connection (same call, a Range request from the
 * first byte not yet received) and after a reload (the next call, from the last committed part,
 * with the hash state saved beside it). A resumed response whose validator (ETag, else
 * Last-Modified) is not the one the stored bytes came with is a changed file: the file starts
 * over. A file whose digest does not match is deleted and fetched once more.
 */
import { CancelledError, IntegrityError, NetworkError } from '../errors.ts';
import { BlobStore, withFileLock } from './blob-store.ts';
import { PartWriter } from './part-writer.ts';
import type { RemoteFile, TransferOptions } from './transfer.ts';

/**
 * Makes sure `file` is stored completely, downloading what is missing. A download whose size or
 * SHA-256 is wrong is deleted and made once more from the first byte.
 * @param onStored called as bytes are stored, with the bytes of the file stored in all (earlier
 *   calls' included; it goes back to 0 when the file starts over)
 * @returns bytes received from the network by this call
 * @throws CancelledError when `signal` aborts (committed parts stay for the next call)
 * @throws IntegrityError when the bytes fail the listed size or SHA-256 twice (nothing is kept)
 * @throws NetworkError when the server cannot be reached, or keeps failing, or answers with an
 *   error status (committed parts stay)
 * @throws QuotaError when the browser refuses to store more; `details.available` is a lower bound
 *   on what it will still take
 */
export function downloadFile(
  blobs: BlobStore,
  file: RemoteFile,
  options: TransferOptions,
  onStored: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  return withFileLock(file.sha256, async () => {
    let received = 0;
    for (let attempt = 1; ; attempt++) {
      const progress = await blobs.progress(file.sha256);
      if (progress?.complete === true && progress.size !== file.size) throw storedSizeMismatch(file, progress.size);
      if (progress?.complete === true) return received;
      const writer = await PartWriter.resume(blobs, file, progress, options);
      try {
        await transferWithRetries(file, writer, options, onStored, signal);
        await writer.finish();
        return received + writer.received;
      } catch (error) {
        received += writer.received;
        await writer.discard();
        if (!(error instanceof IntegrityError)) throw error;
        await blobs.remove(file.sha256);
        if (attempt === 2) {
          throw new IntegrityError(
            `${file.path} failed its check twice (${error.message}); nothing of it is kept. The server's file is not the one the manifest lists: a stale manifest, or a broken server or proxy`,
            { ...error.details, attempts: attempt },
            { cause: error },
          );
        }
        onStored(0);
      }
    }
  });
}

/**
 * The response to a resumed request carries another validator than the stored bytes came with:
 * the file changed on the server, and the bytes stored are of the old one.
 */
class FileChanged extends Error {}

/** A transfer that stopped in a way worth trying again: connection lost, stalled, HTTP 5xx. */
class Interruption extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

async function transferWithRetries(
  file: RemoteFile,
  writer: PartWriter,
  options: TransferOptions,
  onStored: (loaded: number) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  let failures = 0;
  let restarted = false;
  while (writer.position < file.size) {
    const before = writer.position;
    try {
      await transfer(file, writer, options.stallTimeoutMs, onStored, signal, !restarted);
      if (writer.position < file.size) throw new Interruption(`the response ended after ${writer.position} of ${file.size} bytes`);
    } catch (error) {
      if (error instanceof FileChanged) {
        // Once per call: servers behind a load balancer may give each copy its own ETag, and a
        // file must not start over at every resume. The SHA-256 guards the result either way.
        restarted = true;
        await writer.restart();
        onStored(0);
        continue;
      }
      if (!(error instanceof Interruption)) throw error;
      // Count only attempts that got nowhere: a slow but moving connection keeps going.
      failures = writer.position > before ? 1 : failures + 1;
      if (failures > options.retries || globalThis.navigator?.onLine === false) {
        const offline = globalThis.navigator?.onLine === false;
        throw new NetworkError(
          `Downloading ${file.path} failed${offline ? ': the browser is offline' : ` after ${failures} attempts`} (${error.message}); what was received is kept, and the next ensureModel resumes from there`,
          {
            url: file.url,
            path: file.path,
            storedBytes: writer.committedBytes,
            size: file.size,
            ...(error.status !== undefined ? { status: error.status } : {}),
          },
          { cause: error },
        );
      }
      await sleep(options.retryDelayMs * 2 ** (failures - 1), signal);
    }
  }
}

/**
 * One HTTP request for the bytes from `writer.position` on, written as they arrive.
 * @param checkValidator whether a resumed response with another validator throws FileChanged
 * @throws Interruption when the connection fails or stalls, or the server answers 5xx
 * @throws FileChanged (see checkValidator)
 */
async function transfer(
  file: RemoteFile,
  writer: PartWriter,
  stallTimeoutMs: number,
  onStored: (loaded: number) => void,
  signal: AbortSignal | undefined,
  checkValidator: boolean,
): Promise<void> {
  const start = writer.position;
  const controller = new AbortController();
  const cancel = (): void => controller.abort();
  signal?.addEventListener('abort', cancel);
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = (): void => {
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, stallTimeoutMs);
  };
  // Only waiting on the network counts towards a stall, not waiting on the disk.
  const network = async <T>(pending: Promise<T>): Promise<T> => {
    watch();
    try {
      return await pending;
    } catch (error) {
      if (signal?.aborted === true) throw cancelled(file, signal);
      if (stalled) throw new Interruption(`nothing arrived for ${stallTimeoutMs} ms`, undefined, { cause: error });
      throw new Interruption(error instanceof Error ? error.message : String(error), undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    if (signal?.aborted === true) throw cancelled(file, signal);
    const response = await network(
      fetch(file.url, {
        // The store is the cache: a second copy in the HTTP cache would double the disk used.
        cache: 'no-store',
        headers: start > 0 ? { Range: `bytes=${start}-` } : {},
        signal: controller.signal,
      }),
    );
    let skip = checkResponse(file, response, start);
    // A 206 always has one; a 200 may not (a server that does not know ETags).
    const validator = response.headers.get('ETag') ?? response.headers.get('Last-Modified') ?? undefined;
    if (start > 0 && checkValidator && validator !== undefined && writer.validator !== undefined && validator !== writer.validator) {
      throw new FileChanged(`${file.url} changed on the server (validator ${writer.validator} → ${validator})`);
    }
    if (start === 0 || writer.validator === undefined) writer.validator = validator;
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await network(reader.read());
      if (done) return;
      writer.received += value.byteLength;
      let chunk = value;
      if (skip > 0) {
        const skipped = Math.min(skip, chunk.byteLength);
        skip -= skipped;
        chunk = chunk.subarray(skipped);
        if (chunk.byteLength === 0) continue;
      }
      if (writer.position + chunk.byteLength > file.size) {
        throw new IntegrityError(`${file.path}: the server sent more than the ${file.size} bytes the manifest lists`, {
          path: file.path,
          url: file.url,
          expectedSize: file.size,
        });
      }
      await writer.append(chunk);
      onStored(writer.position);
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    controller.abort();
  }
}

/**
 * Checks the response's status and length against the manifest.
 * @returns how many leading bytes of the body to skip: a server that ignores Range answers 200
 *   with the whole file, and what is stored already is read past (the hash state must go on from it)
 */
function checkResponse(file: RemoteFile, response: Response, start: number): number {
  const details = { path: file.path, url: file.url, status: response.status };
  if (response.status === 206) {
    // Content-Range is readable cross-origin only where the server exposes it.
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('Content-Range') ?? '');
    if (range !== null && range[2] !== '*' && Number(range[2]) !== file.size) throw sizeMismatch(file, Number(range[2]));
    if (range !== null && Number(range[1]) !== start) {
      throw new NetworkError(`${file.url}: asked for bytes from ${start}, the server sent them from ${range[1]}`, details);
    }
    return 0;
  }
  if (response.status === 200) {
    const length = response.headers.get('Content-Length');
    const encoded = response.headers.get('Content-Encoding') !== null;
    if (length !== null && !encoded && Number(length) !== file.size) throw sizeMismatch(file, Number(length));
    return start;
  }
  if (response.status === 416) throw sizeMismatch(file, undefined);
  const message = `${file.url}: HTTP ${response.status} ${response.statusText}`;
  if (response.status >= 500 || response.status === 408 || response.status === 429) throw new Interruption(message, response.status);
  throw new NetworkError(message, details);
}

/**
 * The store holds a verified file with this SHA-256 and another size: the manifest's size is
 * wrong (a digest fixes the size). The stored file, which other models use, is left alone.
 */
function storedSizeMismatch(file: RemoteFile, storedSize: number): IntegrityError {
  return new IntegrityError(
    `${file.path}: the manifest lists ${file.size} bytes for a file whose SHA-256 is that of a verified ${storedSize}-byte file: the manifest is wrong`,
    {
      url: file.url,
      path: file.path,
      expectedSize: file.size,
      storedSize,
    },
  );
}

function sizeMismatch(file: RemoteFile, serverSize: number | undefined): IntegrityError {
  const what = serverSize === undefined ? 'shorter than that' : `${serverSize} bytes`;
  return new IntegrityError(`${file.path}: the manifest lists ${file.size} bytes, the server's file is ${what} (a stale manifest or a changed file?)`, {
    path: file.path,
    url: file.url,
    expectedSize: file.size,
    ...(serverSize !== undefined ? { serverSize } : {}),
  });
}

function cancelled(file: RemoteFile, signal: AbortSignal): CancelledError {
  return new CancelledError(`Downloading ${file.path} was cancelled`, { path: file.path }, { cause: signal.reason });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const abort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError('Download cancelled while waiting to retry', {}, { cause: signal?.reason }));
    };
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort);
  });
}

/**
 * An HTTP file server on loopback for storage tests and benchmarks, which can misbehave on
 * request: stall or drop a response after some bytes, corrupt a byte, ignore Range, answer with
 * an error status, send slowly, or send another ETag (a changed file). It logs every request
 * with the bytes it sent.
 *
 * It serves another origin than the page's (as a CDN would), with the CORS and CORP headers a
 * cross-origin-isolated page needs, and answers `Range: bytes=N-` with 206.
 *
 *   const server = await startFileServer({ '/tiny/manifest.json': fileSource(path), '/big.bin': syntheticSource(size) });
 *   server.misbehave('/tiny/unet/model.onnx', { dropAfter: 2_000_000 }, { stallAfter: 3_000_000 });
 *   … server.requests …
 *   await server.close();
 */
import { createHash } from 'node:crypto';
import { fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A file's bytes, read in pieces so that big synthetic files need no memory. */
export interface FileSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  /** A SHA-256 the server reports for the file (as `X-Linked-ETag`, as Hugging Face does). */
  readonly reportedSha256?: string;
}

/** How one response goes wrong. Offsets are positions in the file. */
export interface Misbehaviour {
  /** Send up to this file offset, then nothing more, keeping the connection open. */
  readonly stallAfter?: number;
  /** Send up to this file offset, then reset the connection. */
  readonly dropAfter?: number;
  /** Flip the bits of the byte at this offset. */
  readonly corruptAt?: number;
  /** Answer 200 with the whole file whatever Range asks for. */
  readonly ignoreRange?: boolean;
  /** Answer with this status and no body. */
  readonly status?: number;
  /** Send at most this many bytes a second. */
  readonly bytesPerSecond?: number;
  /** Send this ETag instead of the file's own (`"<size>"`): the file changed on the server. */
  readonly etag?: string;
  /** Send nothing at all, not even the status line and headers, keeping the connection open. */
  readonly stallHeaders?: boolean;
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  readonly status: number;
  /** Body bytes sent (so far, for a response still open). */
  bytesSent: number;
}

export interface FileServer {
  /** Origin with no trailing slash, e.g. http://127.0.0.1:40123 */
  readonly origin: string;
  readonly requests: LoggedRequest[];
  /** The next requests for `path` misbehave as listed, one each, in order; later ones behave. */
  misbehave(path: string, ...responses: Misbehaviour[]): void;
  /** Forgets misbehaviours and the request log. */
  reset(): void;
  close(): Promise<void>;
}

/** Bytes in memory (a JSON document a test writes, say). */
export function bytesSource(bytes: Uint8Array | string): FileSource {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return { size: data.byteLength, read: (offset, length) => data.subarray(offset, offset + length) };
}

/** A file on disk, read once. */
/** A file on disk served as it is read, for files too big to hold in memory. */
export function diskSource(path: string): FileSource {
  const fd = openSync(path, 'r');
  return {
    size: fstatSync(fd).size,
    read: (offset, length) => {
      const bytes = new Uint8Array(length);
      return bytes.subarray(0, readSync(fd, bytes, 0, length, offset));
    },
  };
}

export function fileSource(path: string): FileSource {
  const bytes = readFileSync(path);
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

const BLOCK = 1 << 20;

/**
 * `size` bytes of deterministic, incompressible-looking data generated on the fly: block `b` (1 MiB)
 * is one pseudo-random MiB rotated by `b * 7919` bytes, so every block differs and no byte depends
 * on how the file is cut into requests.
 */
export function syntheticSource(size: number): FileSource & { sha256(): string } {
  const base = new Uint8Array(BLOCK);
  let state = 0x9e3779b9;
  for (let i = 0; i < BLOCK; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    base[i] = state & 0xff;
  }
  let cached = { index: -1, bytes: base };
  const block = (index: number): Uint8Array => {
    if (cached.index !== index) {
      const shift = (index * 7919) % BLOCK;
      const bytes = new Uint8Array(BLOCK);
      bytes.set(base.subarray(shift));
      bytes.set(base.subarray(0, shift), BLOCK - shift);
      cached = { index, bytes };
    }
    return cached.bytes;
  };
  const read = (offset: number, length: number): Uint8Array => {
    const end = Math.min(size, offset + length);
    const out = new Uint8Array(end - offset);
    for (let position = offset; position < end;) {
      const index = Math.floor(position / BLOCK);
      const within = position - index * BLOCK;
      const take = Math.min(BLOCK - within, end - position);
      out.set(block(index).subarray(within, within + take), position - offset);
      position += take;
    }
    return out;
  };
  return {
    size,
    read,
    sha256: () => {
      const hash = createHash('sha256');
      for (let offset = 0; offset < size; offset += BLOCK) hash.update(read(offset, BLOCK));
      return hash.digest('hex');
    },
  };
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Range',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges, ETag, X-Linked-ETag',
  // The test pages are cross-origin isolated (COEP require-corp).
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

export async function startFileServer(files: Readonly<Record<string, FileSource>>): Promise<FileServer> {
  const requests: LoggedRequest[] = [];
  const misbehaviours = new Map<string, Misbehaviour[]>();
  const sockets = new Set<Socket>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    for (const [name, value] of Object.entries(CORS_HEADERS)) response.setHeader(name, value);
    if (request.method === 'OPTIONS') {
      response.writeHead(204).end();
      return;
    }
    const source = files[path];
    const rangeHeader = request.headers.range ?? null;
    if (source === undefined) {
      requests.push({ method: request.method ?? 'GET', path, range: rangeHeader, status: 404, bytesSent: 0 });
      response.writeHead(404).end();
      return;
    }
    const misbehaviour = misbehaviours.get(path)?.shift() ?? {};
    const range = misbehaviour.ignoreRange === true ? null : /^bytes=(\d+)-$/.exec(rangeHeader ?? '');
    const start = range === null ? 0 : Number(range[1]);
    const status = misbehaviour.status ?? (range === null ? 200 : start >= source.size && source.size > 0 ? 416 : 206);
    const logged: LoggedRequest = { method: request.method ?? 'GET', path, range: rangeHeader, status, bytesSent: 0 };
    requests.push(logged);
    // A stall leaves the response open; close() ends it.
    if (misbehaviour.stallHeaders === true) return;
    if (status !== 200 && status !== 206) {
      response.writeHead(status, status === 416 ? { 'Content-Range': `bytes */${source.size}` } : {}).end();
      return;
    }
    response.writeHead(status, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(source.size - start),
      'Accept-Ranges': 'bytes',
      ETag: misbehaviour.etag ?? `"${source.size}"`,
      ...(source.reportedSha256 !== undefined ? { 'X-Linked-ETag': `"${source.reportedSha256}"` } : {}),
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${source.size - 1}/${source.size}` } : {}),
    });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    const cut = Math.min(misbehaviour.stallAfter ?? Infinity, misbehaviour.dropAfter ?? Infinity, source.size);
    // Slow responses go in 64 KiB pieces, each after its share of time.
    const piece = misbehaviour.bytesPerSecond !== undefined ? 65_536 : BLOCK;
    for (let offset = start; offset < cut;) {
      if (misbehaviour.bytesPerSecond !== undefined) await new Promise((resolve) => setTimeout(resolve, (piece / misbehaviour.bytesPerSecond!) * 1000));
      const chunk = source.read(offset, Math.min(piece, cut - offset));
      const at = misbehaviour.corruptAt;
      const bytes = at !== undefined && at >= offset && at < offset + chunk.byteLength ? flipByte(chunk, at - offset) : chunk;
      offset += bytes.byteLength;
      logged.bytesSent += bytes.byteLength;
      if (!response.write(bytes)) await new Promise((resolve) => response.once('drain', resolve));
      if (response.destroyed) return;
    }
    if (cut === source.size) response.end();
    else if (misbehaviour.dropAfter !== undefined && cut === misbehaviour.dropAfter) {
      // A reset discards what the client has not read yet: give it time to read what was sent,
      // so that "dropped after N bytes" means N bytes arrived.
      await new Promise((resolve) => setTimeout(resolve, 200));
      response.destroy();
    }
    // A stall leaves the response open; close() ends it.
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      console.error('file server:', error);
      response.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`the file server has no TCP address (got ${String(address)})`);

  return {
    origin: `http://127.0.0.1:${address.port}`,
    requests,
    misbehave: (path, ...responses) => {
      misbehaviours.set(path, [...(misbehaviours.get(path) ?? []), ...responses]);
    },
    reset: () => {
      misbehaviours.clear();
      requests.length = 0;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
    },
  };
}

function flipByte(chunk: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(chunk);
  copy[index] = copy[index]! ^ 0xff;
  return copy;
}

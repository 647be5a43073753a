/**
 * A static file server on loopback, as a plain web host or a CDN would serve a build: folders
 * mounted at path prefixes, real content types (module scripts need a JavaScript type), and the
 * headers a cross-origin isolated page needs (COOP/COEP on every response, CORS and CORP so that
 * a page on another origin may load the files). A mount can be swapped for another folder while
 * the server runs (a new version deployed).
 *
 *   const server = await startStaticServer({ '/sub/path/': 'dist/lib', '/models/': 'models' });
 *   server.mount('/', otherBuild);
 *   … server.requests …
 *   await server.close();
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Access-Control-Allow-Origin': '*',
  'Cache-Control': 'no-cache',
};

export interface StaticServer {
  /** Origin with no trailing slash. */
  readonly origin: string;
  /** Paths asked for, oldest first, with the status answered. */
  readonly requests: { readonly path: string; readonly status: number }[];
  /** Serves `dir` at `prefix` (ending in '/') from now on, replacing what was mounted there. */
  mount(prefix: string, dir: string): void;
  close(): Promise<void>;
}

/** @param mounts path prefix (ending in '/') → folder; the longest matching prefix answers */
export async function startStaticServer(mounts: Readonly<Record<string, string>>): Promise<StaticServer> {
  const table = new Map(Object.entries(mounts));
  const requests: { path: string; status: number }[] = [];
  const sockets = new Set<Socket>();

  const resolve = (path: string): string | undefined => {
    const prefix = [...table.keys()].filter((candidate) => path.startsWith(candidate)).sort((a, b) => b.length - a.length)[0];
    if (prefix === undefined) return undefined;
    const dir = table.get(prefix)!;
    const relative = path.slice(prefix.length) || 'index.html';
    const file = normalize(join(dir, relative.endsWith('/') ? `${relative}index.html` : relative));
    return file.startsWith(normalize(dir) + sep) ? file : undefined;
  };

  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    for (const [name, value] of Object.entries(HEADERS)) response.setHeader(name, value);
    const file = resolve(path);
    const answer = (status: number): void => {
      requests.push({ path, status });
      response.writeHead(status).end();
    };
    if (file === undefined) return answer(404);
    stat(file).then(
      (info) => {
        if (!info.isFile()) return answer(404);
        requests.push({ path, status: 200 });
        response.writeHead(200, {
          'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
          'Content-Length': String(info.size),
        });
        if (request.method === 'HEAD') response.end();
        else createReadStream(file).pipe(response);
      },
      () => answer(404),
    );
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    mount: (prefix, dir) => void table.set(prefix, dir),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done, fail) => server.close((error) => (error === undefined ? done() : fail(error))));
    },
  };
}

/**
 * Starts the engine's worker from wherever the library's files are: the page's own origin, a
 * sub-path, or a CDN on another origin.
 *
 * `?worker&url` makes the bundler emit the worker as its own chunk and hand back its address
 * (relative to this module in a build, so a copy of the library anywhere finds its worker).
 * Browsers refuse `new Worker(url)` for a script on another origin, so a library loaded from a
 * CDN starts a same-origin blob worker whose one line imports the real one; module imports may
 * cross origins (with CORS), and inside, `import.meta.url` is still the CDN's address, which is
 * what ONNX Runtime finds its wasm files by.
 */
import workerUrl from '../worker/worker.ts?worker&url';

export function startWorker(): Worker {
  const url = new URL(workerUrl, import.meta.url);
  const options: WorkerOptions = { type: 'module', name: 'webdiffusion' };
  if (url.origin === globalThis.location.origin) return new Worker(url, options);
  // Not revoked: a few dozen bytes once per engine, and revoking races the worker's fetch of it.
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  return new Worker(shim, options);
}

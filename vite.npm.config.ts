/**
 * The package's build for bundlers (part of `npm run build:lib`) → dist/npm/: the entries
 * package.json's `exports` point at (index, element, queue, history, png) and the engine's
 * worker, as plain ES modules a consumer's bundler reads.
 *
 * What differs from dist/lib (the self-contained folder for a `<script type="module">`):
 * - Dependencies stay imports (`onnxruntime-web`, `comlink`, `idb-keyval`, `hash-wasm`): the
 *   consumer's bundler resolves them, so an app that also uses ONNX Runtime gets one copy, and
 *   ONNX Runtime's `new URL('ort-wasm-….wasm', import.meta.url)` is the consumer's bundler's to
 *   emit, as for any app using onnxruntime-web.
 * - The worker is started as `new Worker(new URL('./worker.js', import.meta.url), { type:
 *   'module' })`, the one form Vite, webpack and Parcel all follow: they bundle the worker
 *   (and ONNX Runtime with it) as a worker of the consumer's app. Vite-only imports
 *   (`?worker&url`, `?raw`) are resolved here and do not reach the output.
 * - `import.meta.env?.BASE_URL` (where the bundled models are published) is left for the
 *   consumer's Vite to fill in; elsewhere it is undefined and '/' applies.
 * - Not minified: the consumer's build minifies, and its errors point at readable lines.
 */
import { readFile } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import packageJson from './package.json' with { type: 'json' };

const root = dirname(fileURLToPath(import.meta.url));
const START_WORKER = '\0webdiffusion:start-worker';
const placeholder = '__webdiffusionStartWorker__';

/**
 * Replaces src/client/start-worker.ts (which uses Vite's `?worker&url`) by the bundler-neutral
 * `new Worker(new URL(…))`. Written into the chunk after bundling, as a path relative to the
 * chunk that holds it: our own build must not act on the pattern, the consumer's must.
 */
function bundlerWorkerPlugin(): Plugin {
  return {
    name: 'webdiffusion:bundler-worker',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === './start-worker.ts' && importer?.endsWith('/src/client/client-engine.ts')) return START_WORKER;
      return null;
    },
    load(id) {
      if (id === START_WORKER) return `export function startWorker() { return ${placeholder}(); }`;
      return null;
    },
    renderChunk(code, chunk) {
      if (!code.includes(placeholder)) return null;
      let path = posix.relative(posix.dirname(chunk.fileName), 'worker.js');
      if (!path.startsWith('.')) path = `./${path}`;
      const start = `new Worker(new URL(${JSON.stringify(path)}, import.meta.url), { type: "module", name: "webdiffusion" })`;
      return { code: code.replaceAll(`${placeholder}()`, start), map: null };
    },
  };
}

/**
 * Keeps `import.meta.env` as written (see the top of this file): hidden from Vite's define
 * before it runs, put back after bundling.
 */
function keepImportMetaEnvPlugin(): Plugin {
  const hidden = '__webdiffusionImportMetaEnv__';
  return {
    name: 'webdiffusion:keep-import-meta-env',
    enforce: 'pre',
    transform(code, id) {
      if (!id.startsWith(`${root}/src/`) || !code.includes('import.meta.env')) return null;
      return { code: code.replaceAll('import.meta.env', hidden), map: null };
    },
    renderChunk(code) {
      if (!code.includes(hidden)) return null;
      return { code: code.replaceAll(hidden, 'import.meta.env'), map: null };
    },
  };
}

/** `?raw` without Vite's asset handling: the WGSL source as a string. */
function rawPlugin(): Plugin {
  return {
    name: 'webdiffusion:raw',
    enforce: 'pre',
    async load(id) {
      if (!id.endsWith('?raw')) return null;
      return `export default ${JSON.stringify(await readFile(id.slice(0, -'?raw'.length), 'utf8'))};`;
    },
  };
}

const dependencies = Object.keys(packageJson.dependencies ?? {}).concat(Object.keys(packageJson.peerDependencies ?? {}));

export default defineConfig({
  root,
  publicDir: false,
  plugins: [bundlerWorkerPlugin(), keepImportMetaEnvPlugin(), rawPlugin()],
  build: {
    target: 'es2022',
    outDir: 'dist/npm',
    emptyOutDir: true,
    minify: false,
    copyPublicDir: false,
    // Library mode: no preload helper around dynamic imports (the consumer's bundler adds its own).
    lib: {
      entry: {
        index: 'src/index.ts',
        element: 'src/entries/element.ts',
        queue: 'src/entries/queue.ts',
        history: 'src/entries/history.ts',
        png: 'src/entries/png.ts',
        worker: 'src/worker/worker.ts',
      },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rolldownOptions: {
      external: (id) => dependencies.some((name) => id === name || id.startsWith(`${name}/`)),
      output: {
        chunkFileNames: 'chunks/[name]-[hash].js',
      },
    },
  },
});

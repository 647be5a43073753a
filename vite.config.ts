import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import packageJson from './package.json' with { type: 'json' };
import catalog from './src/models/catalog.json' with { type: 'json' };

const root = dirname(fileURLToPath(import.meta.url));
const modelsDir = join(root, 'models');

/**
 * SharedArrayBuffer (ORT's threaded wasm) needs a cross-origin isolated page, in dev, preview and
 * wherever the build is hosted.
 */
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  // Every response keeps its declared type: a model file is never run as a script or style.
  'X-Content-Type-Options': 'nosniff',
};

/**
 * Where the catalog's models come from (each entry's `source.baseUrl` origin), and, for Hugging
 * Face, the CDN hosts its file URLs redirect to (`*.hf.co`): a CSP's connect-src also governs
 * where a fetch is redirected.
 */
function modelHosts(): string[] {
  const origins = new Set<string>();
  for (const { source } of catalog.models) {
    // Bundled models have relative base URLs: they are 'self'.
    if (!/^https?:\/\//.test(source.baseUrl)) continue;
    const { origin, hostname } = new URL(source.baseUrl);
    origins.add(origin);
    if (hostname === 'huggingface.co') origins.add('https://*.hf.co');
  }
  return [...origins].sort();
}

/**
 * The demo's Content-Security-Policy: its own scripts (and WebAssembly: ONNX Runtime), workers
 * from its own files or blob: URLs (the engine's cross-origin shim), fetches to itself and the
 * catalog's model hosts, pictures from blob: URLs (the gallery); nothing else. Sent by the
 * preview server and written into the built page as a meta tag; not used by the dev server,
 * whose client injects inline styles (CSS imports, the error overlay).
 */
export function contentSecurityPolicy(): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    `connect-src 'self' ${modelHosts().join(' ')}`,
    "img-src 'self' blob:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
  ].join('; ');
}

/** Writes the CSP into the built index.html, for hosts that cannot send headers. */
function cspMetaPlugin(): Plugin {
  return {
    name: 'webdiffusion:csp-meta',
    apply: 'build',
    transformIndexHtml() {
      return [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: contentSecurityPolicy() }, injectTo: 'head-prepend' }];
    },
  };
}

const contentTypes: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.data': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

/**
 * The files a model folder publishes: its manifest and the files its variants list (old-format
 * manifests list `files` at the top). One rule for dev, preview and build, so that training
 * scripts and caches beside the model never ship.
 */
async function publishedModelFiles(): Promise<string[]> {
  const published: string[] = [];
  for (const entry of await readdir(modelsDir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    const manifestPath = join(modelsDir, entry.name, 'manifest.json');
    // A model's manifest lists files per variant; a LoRA's ("webdiffusion-lora/1") names one `file`.
    let manifest: { variants?: { files?: { path: string }[] }[]; files?: { path: string }[]; file?: unknown };
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    } catch {
      continue; // a model folder still being written has no (valid) manifest yet: not published
    }
    published.push(`${entry.name}/manifest.json`);
    const files = [...(manifest.files ?? []), ...(manifest.variants ?? []).flatMap((variant) => variant.files ?? [])];
    for (const path of new Set(files.map((file) => file.path))) published.push(`${entry.name}/${path}`);
    if (typeof manifest.file === 'string') published.push(`${entry.name}/${manifest.file}`);
  }
  return published;
}

function modelsMiddleware(): Connect.NextHandleFunction {
  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith('/models/')) return next();
    // The catalog imports the bundled models' manifest.json as modules: those requests are Vite's.
    if (url.pathname.endsWith('/manifest.json') && url.searchParams.has('import')) return next();
    const relative = decodeURIComponent(url.pathname.slice('/models/'.length));
    publishedModelFiles()
      .then(async (published) => {
        // Everything under /models/ is ours to answer: what no manifest lists (training
        // scripts, caches, `..` paths) is a 404, never Vite's fallback page.
        if (!published.includes(relative)) {
          res.statusCode = 404;
          res.end(`not a published model file: ${relative}`);
          return;
        }
        const file = join(modelsDir, relative);
        const { size } = await stat(file);
        res.setHeader('Content-Type', contentTypes[extname(file)] ?? 'application/octet-stream');
        res.setHeader('Content-Length', String(size));
        res.setHeader('Cache-Control', 'no-cache');
        for (const [name, value] of Object.entries(isolationHeaders)) res.setHeader(name, value);
        if (req.method === 'HEAD') {
          res.end();
          return;
        }
        createReadStream(file).pipe(res);
      })
      .catch(next);
  };
}

/** Serves the top-level `models/` folder at `/models/` in dev and preview, and copies it into the build. */
export function modelsPlugin(): Plugin {
  let outDir = '';
  return {
    name: 'webdiffusion:models',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(modelsMiddleware());
    },
    configurePreviewServer(server) {
      server.middlewares.use(modelsMiddleware());
    },
    async writeBundle() {
      for (const relative of await publishedModelFiles()) {
        const target = join(outDir, 'models', relative);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(join(modelsDir, relative), target);
      }
    },
  };
}

/**
 * The demo as a PWA: web app manifest, icons (public/icons, drawn by scripts/make-icons.ts) and
 * the service worker src/app/sw.ts, into which the build writes the list of files to precache:
 * everything the page needs to start and generate offline, except the model weights, which the
 * engine's weight store keeps (see the README, "Offline").
 */
function pwaPlugin(): Plugin[] {
  return VitePWA({
    strategies: 'injectManifest',
    srcDir: 'src/app',
    filename: 'sw.ts',
    // src/app/pwa.ts registers it and offers updates.
    injectRegister: false,
    manifest: {
      name: 'webdiffusion',
      short_name: 'webdiffusion',
      description: 'Generate pictures with diffusion models on your own GPU, in the browser, offline.',
      start_url: './',
      scope: './',
      display: 'standalone',
      background_color: '#ffffff',
      theme_color: '#2f5bd3',
      icons: [
        { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
        { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
        { src: 'icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
      ],
    },
    injectManifest: {
      rollupFormat: 'iife',
      // The shell, ONNX Runtime's wasm, and each bundled model's manifest.json (never its
      // weights). The plugin adds the web app manifest and its icons itself.
      globPatterns: ['**/*.{html,js,css,wasm}', 'models/*/manifest.json'],
      // ONNX Runtime's wasm is ~27 MB; the default limit (2 MiB) would leave it out silently.
      maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
    },
  });
}

export default defineConfig({
  root,
  plugins: [modelsPlugin(), pwaPlugin(), cspMetaPlugin()],
  // Shown by the demo and compared by the update test; a build may define another.
  define: { __WEBDIFFUSION_VERSION__: JSON.stringify(packageJson.version) },
  server: { headers: isolationHeaders },
  preview: { headers: { ...isolationHeaders, 'Content-Security-Policy': contentSecurityPolicy() } },
  worker: { format: 'es' },
  // Pre-bundling would move ORT's module away from its .wasm files, breaking the
  // `new URL('ort-wasm-….wasm', import.meta.url)` it locates them with.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    // The demo, and the element's example page it links to.
    rollupOptions: { input: { main: join(root, 'index.html'), element: join(root, 'examples/element.html') } },
  },
});

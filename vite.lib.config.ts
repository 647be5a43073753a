/**
 * The library build: `npm run build:lib` → dist/lib/ holding webdiffusion.js (an ES module: the
 * public API and the `<web-diffusion>` element), the worker chunk and ONNX Runtime (script,
 * wasm, glue) under assets/, the bundled model under models/, and embed.html, the embedding example.
 *
 * Not Vite's library mode: it inlines every asset as base64, which would put ONNX Runtime's
 * wasm (tens of MB) inside the script. An ordinary build with a script entry and `base: './'`
 * keeps the wasm as a file and makes every URL between the files relative to the module that
 * uses it (`new URL(…, import.meta.url)`), so the folder works from any path or a CDN.
 */
import { copyFile, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { modelsPlugin } from './vite.config.ts';

const root = dirname(fileURLToPath(import.meta.url));

function examplePlugin(): Plugin {
  let outDir = '';
  return {
    name: 'webdiffusion:example',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async writeBundle() {
      await copyFile(join(root, 'examples/embed.html'), join(outDir, 'embed.html'));
    },
  };
}

/**
 * ONNX Runtime's wasm glue, for both of its builds (asyncify and JSPI), as files beside their
 * chunks. Each bundle carries its glue inside, but uses that copy only when its script is
 * same-origin with the page; loaded from a CDN, it imports `ort-wasm-simd-threaded.<build>.mjs`
 * from its own folder instead.
 */
function ortGluePlugin(): Plugin {
  const names = ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.jspi.mjs'];
  return {
    name: 'webdiffusion:ort-glue',
    async generateBundle() {
      for (const name of names) {
        const source = await readFile(join(root, 'node_modules/onnxruntime-web/dist', name));
        this.emitFile({ type: 'asset', fileName: `assets/${name}`, source });
      }
    },
  };
}

export default defineConfig({
  root,
  base: './',
  publicDir: false,
  plugins: [modelsPlugin(), examplePlugin(), ortGluePlugin()],
  worker: {
    format: 'es',
    // The worker's own bundle holds ONNX Runtime. Its wasm keeps its name: the glue (above),
    // when it is used, asks for it so.
    rolldownOptions: { output: { assetFileNames: 'assets/[name][extname]', chunkFileNames: 'assets/[name]-[hash].js' } },
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    outDir: 'dist/lib',
    emptyOutDir: true,
    rolldownOptions: {
      input: { webdiffusion: 'src/library.ts' },
      // Keep the entry's exports: an app build drops what no page of ours imports.
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});

/**
 * vite.config.ts: models served from models/ (published files only), cross-origin isolation
 * headers, and ONNX Runtime's wasm served and built locally, never from a CDN.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, preview } from 'vite';
import { contentSecurityPolicy } from '../../vite.config.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, serveProject, type ServedProject } from '../../scripts/lib/browser.ts';

describe('dev server', () => {
  let served: ServedProject;
  beforeAll(async () => {
    served = await serveProject();
  });
  afterAll(async () => {
    await served?.close();
  });

  const get = (path: string) => fetch(`${served.origin}${path}`);

  it('serves a model manifest and the files it lists, cross-origin isolated', async () => {
    const manifest = await get('/models/tiny-shapes/manifest.json');
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('content-type')).toBe('application/json');
    expect(manifest.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(manifest.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    const { variants } = (await manifest.json()) as { variants: { files: { path: string; size: number }[] }[] };
    const unet = variants[0]!.files.find((file) => file.path === 'unet/model.onnx')!;
    const response = await get('/models/tiny-shapes/unet/model.onnx');
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(unet.size);
  });

  it.each(['/models/tiny-shapes/training/train.py', '/models/no-such-model/manifest.json'])('answers 404 for %s, which no manifest publishes', async (path) => {
    expect((await get(path)).status).toBe(404);
  });

  it("serves ONNX Runtime's wasm from node_modules", async () => {
    const response = await get('/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm');
    expect(response.status).toBe(200);
    expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });
});

describe('build', () => {
  let outDir: string;
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'webdiffusion-build-'));
    await build({ configFile: join(REPO_ROOT, 'vite.config.ts'), logLevel: 'silent', build: { outDir, emptyOutDir: true } });
  }, 120_000);
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('copies the published model files, and only those', () => {
    expect(existsSync(join(outDir, 'models/tiny-shapes/manifest.json'))).toBe(true);
    expect(existsSync(join(outDir, 'models/tiny-shapes/unet/model.onnx'))).toBe(true);
    expect(existsSync(join(outDir, 'models/tiny-shapes/training'))).toBe(false);
  });

  it('writes the Content-Security-Policy into the page, and the preview server sends it with nosniff', async () => {
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1]?.replaceAll('&#39;', "'");
    expect(policy).toBe(contentSecurityPolicy());
    const directives = Object.fromEntries(policy!.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
    expect(directives).toEqual({
      'default-src': ["'self'"],
      'script-src': ["'self'", "'wasm-unsafe-eval'"],
      'worker-src': ["'self'", 'blob:'],
      // The catalog's one remote host, and the CDN its file URLs redirect to.
      'connect-src': ["'self'", 'https://*.hf.co', 'https://huggingface.co'],
      'img-src': ["'self'", 'blob:'],
      'style-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'self'"],
      'form-action': ["'self'"],
    });
    const server = await preview({
      configFile: join(REPO_ROOT, 'vite.config.ts'),
      logLevel: 'silent',
      build: { outDir },
      preview: { port: 0, host: '127.0.0.1' },
    });
    try {
      const response = await fetch(server.resolvedUrls!.local[0]!);
      expect(response.headers.get('content-security-policy')).toBe(policy);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    } finally {
      await server.close();
    }
  });

  it("emits ONNX Runtime's wasm and runtime as local assets", () => {
    const assets = readdirSync(join(outDir, 'assets'));
    expect(assets.some((name) => /^ort-wasm-simd-threaded\.asyncify-.*\.wasm$/.test(name))).toBe(true);
    // In a chunk of its own: its wasm threads start from that chunk's URL (see src/ort/ort.ts).
    expect(assets.some((name) => /^ort\.webgpu\.bundle\.min-.*\.js$/.test(name))).toBe(true);
  });
});

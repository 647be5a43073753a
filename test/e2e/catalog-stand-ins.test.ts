/**
 * Every real model of the catalog, through the normal catalog path, on its stand-in: small
 * random-weight ONNX files with the real export's input and output names, element types and
 * dimensions (scripts/stand-ins.ts), served by a test file server under the paths the real
 * Hugging Face repository has them, with the digest in `X-Linked-ETag` as Hugging Face sends it.
 *
 * Each entry is loaded by `engine.loadModel(entry)` — device fitting, the file list, download
 * and verification, sessions, then a full generation at the entry's default steps and guidance
 * — on the CPU backend: the real exports are float16, and SwiftShader has no `shader-f16`. A
 * wrong input name, type or static size makes ONNX Runtime refuse the run; the test checks
 * the picture's size and that every value the decoder produced was finite.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../src/api.ts';
import type { CatalogEntry } from '../../src/models/catalog.ts';
import { buildStandIn, standInEntries, type StandIn } from '../../scripts/stand-ins.ts';
import { useBrowserPage } from '../support/browser.ts';
import { startFileServer, type FileServer, type FileSource } from '../support/file-server.ts';

const GENERATION_MS = 300_000;

const session = useBrowserPage('/src/cli/page.html', {
  ready: (page) => page.waitForFunction(() => window.webdiffusion !== undefined),
});

let server: FileServer;
const standIns = new Map<string, StandIn>();
/** SD-Turbo's stand-in with a decoder whose every output is NaN, at a path of its own. */
let poisoned: StandIn;

beforeAll(async () => {
  const files: Record<string, FileSource> = {};
  server = await startFileServer(files);
  for (const entry of standInEntries()) {
    if (entry.source.kind !== 'huggingface') continue;
    const prefix = `/${entry.source.repo}/resolve/${entry.source.revision}/`;
    const standIn = buildStandIn(entry, `${server.origin}${prefix}`);
    standIns.set(entry.id, standIn);
    for (const [path, bytes] of standIn.files) {
      const data = Buffer.from(bytes);
      files[`${prefix}${path}`] = {
        size: data.byteLength,
        read: (offset, length) => data.subarray(offset, offset + length),
        reportedSha256: createHash('sha256').update(data).digest('hex'),
      };
    }
  }
  // A user's own model: the SD-Turbo stand-in's files, and a catalog entry served as its manifest.json.
  const userTurbo = standIns.get('sd-turbo-fp16')!;
  const userPrefix = '/schmuell/sd-turbo-ort-web/resolve/main/';
  const userManifest = Buffer.from(
    JSON.stringify({ ...userTurbo.entry, id: 'my-turbo', name: 'My Turbo', source: { kind: 'url', baseUrl: `${server.origin}${userPrefix}` } }),
  );
  files[`${userPrefix}manifest.json`] = { size: userManifest.byteLength, read: (offset, length) => userManifest.subarray(offset, offset + length) };

  const turbo = standInEntries().find((entry) => entry.id === 'sd-turbo-fp16')!;
  poisoned = buildStandIn({ ...turbo, id: 'sd-turbo-nan' }, `${server.origin}/nan/`, { nanDecoder: true });
  for (const [path, bytes] of poisoned.files) {
    const data = Buffer.from(bytes);
    files[`/nan/${path}`] = {
      size: data.byteLength,
      read: (offset, length) => data.subarray(offset, offset + length),
      reportedSha256: createHash('sha256').update(data).digest('hex'),
    };
  }
});
afterAll(() => server?.close());

interface Result {
  readonly info?: ModelInfo;
  readonly image?: { width: number; height: number; bytes: number; distinct: number; steps: number; guidance: number };
  readonly error?: { name: string; code?: string; message: string };
}

/** Loads a stand-in entry on the CPU backend and generates one picture with its defaults. */
function loadAndGenerate(entry: CatalogEntry): Promise<Result> {
  return session.page.evaluate(
    async (entry) => {
      const { engine } = window.webdiffusion!;
      try {
        const e = await engine;
        const info = await e.loadModel(entry, { backend: 'wasm' });
        const image = await e.generate({ prompt: 'a red circle on a blue background', seed: 7 });
        const distinct = new Set<number>();
        for (let k = 0; k < image.pixels.length; k += 4) distinct.add(image.pixels[k]! * 65536 + image.pixels[k + 1]! * 256 + image.pixels[k + 2]!);
        return {
          info,
          image: {
            width: image.width,
            height: image.height,
            bytes: image.pixels.length,
            distinct: distinct.size,
            steps: image.request.steps,
            guidance: image.request.guidance,
          },
        };
      } catch (error) {
        const e = error as Error & { code?: string };
        return { error: { name: e.name, ...(e.code !== undefined ? { code: e.code } : {}), message: e.message } };
      }
    },
    entry as unknown as CatalogEntry,
  );
}

describe('catalog models on their stand-ins (CPU backend)', () => {
  for (const entry of standInEntries()) {
    it(
      `${entry.id}: fitted, downloaded, verified, loaded and generated at ${entry.defaults.steps} step(s), guidance ${entry.defaults.guidance}`,
      async () => {
        const standIn = standIns.get(entry.id)!;
        const result = await loadAndGenerate(standIn.entry);
        expect(result.error).toBeUndefined();
        const { info, image } = result;
        expect(info).toMatchObject({ id: entry.id, variant: standIn.variant.id, precision: standIn.variant.precision, backend: 'wasm' });
        // The CPU backend was asked for, and the export is float16: both are said.
        expect(info!.warnings.join(' ')).toMatch(/CPU/);
        const [resolution] = entry.resolutions;
        expect(image).toMatchObject({ width: resolution!.width, height: resolution!.height, bytes: resolution!.width * resolution!.height * 4 });
        expect(image).toMatchObject({ steps: entry.defaults.steps, guidance: entry.defaults.guidance });
        // A picture, not a flat fill: the stand-in decoder's output varies with the latent.
        expect(image!.distinct).toBeGreaterThan(16);
        // The networks' files were fetched from the repository's paths (the tokenizer's are the
        // same bytes for every stand-in: the store keeps one copy, fetched once).
        const fetched = new Set(server.requests.filter((r) => r.method === 'GET').map((r) => r.path));
        for (const path of [...standIn.files.keys()].filter((p) => p.endsWith('.onnx') || p.endsWith('_data'))) {
          expect(fetched).toContain(`/${entry.source.kind === 'huggingface' ? entry.source.repo : ''}/resolve/main/${path}`);
        }
      },
      GENERATION_MS,
    );
  }

  it(
    "Z-Image's and FLUX.2's prompts are read by their tokenizer.json in each model's chat template",
    async () => {
      const counts: Record<string, unknown> = {};
      for (const id of ['z-image-turbo-q4f16', 'flux2-klein-4b-q4']) {
        counts[id] = await session.page.evaluate(
          async (entry) => {
            const e = await window.webdiffusion!.engine;
            await e.loadModel(entry, { backend: 'wasm' });
            return e.countTokens('a red circle on a blue background');
          },
          standIns.get(id)!.entry as unknown as CatalogEntry,
        );
      }
      // The reference implementation's counts (test/support/byte_level_bpe.py) for the prompt in
      // "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n", and for FLUX.2 with
      // the empty thinking block "<think>\n\n</think>\n\n" after it.
      expect(counts).toEqual({ 'z-image-turbo-q4f16': { tokens: 25, limit: 512 }, 'flux2-klein-4b-q4': { tokens: 31, limit: 512 } });
      const fetched = server.requests.filter((r) => r.method === 'GET').map((r) => r.path);
      expect(fetched).toContain('/webnn/Z-Image-Turbo/resolve/main/tokenizer/tokenizer.json');
    },
    GENERATION_MS,
  );

  it(
    'Z-Image-Turbo, distilled without guidance, refuses a guidance scale instead of ignoring it',
    async () => {
      const result = await session.page.evaluate(
        async (entry) => {
          const e = await window.webdiffusion!.engine;
          const info = await e.loadModel(entry, { backend: 'wasm' });
          try {
            await e.generate({ prompt: 'a red circle', seed: 1, guidance: 4 });
            return { mode: info.guidanceMode, error: undefined };
          } catch (error) {
            const { name, details } = error as Error & { details?: { field?: string } };
            return { mode: info.guidanceMode, error: { name, field: details?.field } };
          }
        },
        standIns.get('z-image-turbo-q4f16')!.entry as unknown as CatalogEntry,
      );
      expect(result).toEqual({ mode: 'none', error: { name: 'InvalidRequestError', field: 'guidance' } });
    },
    GENERATION_MS,
  );

  it(
    'a model whose decoder gives NaN ends in NumericsError, not a black picture',
    async () => {
      const result = await loadAndGenerate(poisoned.entry);
      expect(result.error).toMatchObject({ name: 'NumericsError', code: 'numerics' });
      expect(result.error!.message).toMatch(/NaN or infinite values in \d+ of 262144 pixels/);
    },
    GENERATION_MS,
  );

  it(
    "a user's model: a catalog entry served as manifest.json, loaded by its URL",
    async () => {
      const result = await session.page.evaluate(async (url) => {
        const e = await window.webdiffusion!.engine;
        const info = await e.loadModel(url, { backend: 'wasm' });
        const image = await e.generate({ prompt: 'a red circle', seed: 1 });
        return { id: info.id, name: info.name, variant: info.variant, width: image.width };
      }, `${server.origin}/schmuell/sd-turbo-ort-web/resolve/main/manifest.json`);
      expect(result).toEqual({ id: 'my-turbo', name: 'My Turbo', variant: 'fp16', width: 512 });
    },
    GENERATION_MS,
  );
});

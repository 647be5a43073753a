/**
 * Our engine on Dawn for Node: the real pipeline (src/pipeline's load, warm-up and txt2img, the
 * schedulers, the tokenizer, our WGSL kernels, onnxruntime-web's WebGPU provider on our device),
 * driven from Node instead of a browser worker, for the GPU machine (bench/gpu/README.md). Built
 * into bench/gpu/bundle/engine-bench.mjs by bench/gpu/build.ts; run by bench/gpu/run.sh.
 *
 *   node engine-bench.mjs adapter --dawn DAWN_NODE --out FILE
 *   node engine-bench.mjs tiny --dawn DAWN_NODE --model DIR [--model DIR…] --out FILE
 *   node engine-bench.mjs full --dawn DAWN_NODE --model DIR --out FILE [--steps 8] [--repeats 3]
 *
 * adapter: what the adapter is and offers. tiny: tiny-shapes-type models (a folder with a
 * manifest.json each), a picture per prompt judged by the tiny-shapes judge. full: a full-size
 * stand-in: load, warm-up, a 1-step and a 4-step picture (encode, denoise, VAE decode, total),
 * and the time per UNet step from a longer run. Every part writes its JSON to --out as it goes,
 * so a part stopped at its time limit still leaves what it measured.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { env as ortEnv } from 'onnxruntime-web/webgpu';
import type { GeneratedImage, GenerateRequest } from '../../src/api.ts';
import { NumericsError } from '../../src/errors.ts';
import { requestGpuDevice } from '../../src/gpu/device.ts';
import { layoutFromCatalog } from '../../src/models/layout.ts';
import { loadDiffusionModel, releaseDiffusionModel, type DiffusionModel } from '../../src/pipeline/model.ts';
import { resolveRequest } from '../../src/pipeline/request.ts';
import { txt2img } from '../../src/pipeline/txt2img.ts';
import { warmUp } from '../../src/pipeline/warm-up.ts';
import { judgeImage, parsePrompt, scoreJudgement } from '../../test/support/judge.ts';
import { openModelFolder } from './fs-store.ts';
import { installWebGpu } from './node-webgpu.ts';

/** The judged prompts: every colour, shape and a background each, none the same pair twice. */
const TINY_PROMPTS = [
  'a red circle on a blue background',
  'a yellow square on a black background',
  'a green triangle on a white background',
  'a blue square on a yellow background',
  'a purple circle on a green background',
  'a orange triangle on a blue background',
  'a white circle on a red background',
  'a black square on a orange background',
];

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dawn: { type: 'string' },
    'dawn-option': { type: 'string', multiple: true },
    model: { type: 'string', multiple: true },
    out: { type: 'string' },
    steps: { type: 'string', default: '8' },
    repeats: { type: 'string', default: '3' },
    prompts: { type: 'string', default: String(TINY_PROMPTS.length) },
  },
});
const part = positionals[0];
if (values.dawn === undefined || values.out === undefined || !['adapter', 'tiny', 'full'].includes(part ?? '')) {
  console.error('usage: engine-bench.mjs adapter|tiny|full --dawn DAWN_NODE --out FILE [--model DIR…] [--steps N] [--repeats N]');
  process.exit(2);
}
const outFile = values.out;
const result: Record<string, unknown> = { part, started: new Date().toISOString() };
const save = (): void => writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

const gpu = installWebGpu(values.dawn, values['dawn-option'] ?? []);
// One wasm thread: the WebGPU provider does the work, and more threads would start workers
// from this bundle's own URL. The .wasm is found next to the bundle (run.sh unpacks it there).
ortEnv.wasm.numThreads = 1;

const ms = (from: number): number => Math.round((performance.now() - from) * 10) / 10;
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function errorInfo(error: unknown): Record<string, unknown> {
  const e = error as Error & { code?: string };
  return { name: e.name, ...(e.code !== undefined ? { code: e.code } : {}), message: String(e.message).slice(0, 2000) };
}

async function adapterPart(): Promise<void> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new Error('no WebGPU adapter (is the Vulkan loader on LD_LIBRARY_PATH, and a Vulkan driver installed?)');
  const { vendor, architecture, device, description } = adapter.info;
  result.adapter = {
    info: { vendor, architecture, device, description },
    isFallbackAdapter: (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? adapter.info.isFallbackAdapter,
    features: [...adapter.features].sort(),
    limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
  };
}

async function loadFolder(folder: string, device: GPUDevice): Promise<{ model: DiffusionModel; loadMs: number; warmUpMs: number }> {
  const { descriptor, variant, stored, store } = await openModelFolder(folder);
  let started = performance.now();
  const model = await loadDiffusionModel(stored, store, layoutFromCatalog(descriptor, variant, folder), { backend: 'webgpu', device });
  const loadMs = ms(started);
  started = performance.now();
  try {
    await warmUp(model);
  } catch (error) {
    // Random weights may overflow float16 (see timedPicture): the warm-up's work was still done.
    if (!(error instanceof NumericsError)) throw error;
    result.warmUpRefused = errorInfo(error);
  }
  return { model, loadMs, warmUpMs: ms(started) };
}

async function picture(model: DiffusionModel, request: GenerateRequest): Promise<GeneratedImage> {
  const [image] = await txt2img(model, resolveRequest(request, model.info));
  return image!;
}

type Timings = GeneratedImage['timings'];

/**
 * A picture's timings; for one the pipeline refuses at the end (NaN or infinite pixels, counted
 * after the decode), the same phases from its progress reports, and the error.
 */
async function timedPicture(model: DiffusionModel, request: GenerateRequest): Promise<{ timings: Timings; error?: Record<string, unknown> }> {
  const started = performance.now();
  let encoded = 0;
  let denoised = 0;
  try {
    const [image] = await txt2img(model, resolveRequest(request, model.info), {
      onProgress: (p) => {
        if (p.phase === 'denoising' && encoded === 0) encoded = p.elapsedMs - (p.stepMs ?? 0);
        if (p.phase === 'decoding') denoised = p.elapsedMs;
      },
    });
    return { timings: image!.timings };
  } catch (error) {
    if (!(error instanceof NumericsError) || denoised === 0) throw error;
    const totalMs = performance.now() - started;
    return { timings: { encodeMs: encoded, denoiseMs: denoised - encoded, decodeMs: totalMs - denoised, totalMs }, error: errorInfo(error) };
  }
}

async function tinyPart(device: GPUDevice): Promise<void> {
  const models: Record<string, unknown> = {};
  result.models = models;
  const prompts = TINY_PROMPTS.slice(0, Number(values.prompts));
  for (const folder of values.model ?? []) {
    const name = basename(folder);
    const entry: Record<string, unknown> = {};
    models[name] = entry;
    try {
      const { model, loadMs, warmUpMs } = await loadFolder(folder, device);
      Object.assign(entry, { precision: model.info.precision ?? 'fp32', loadMs, warmUpMs, pictures: [] });
      const pictures = entry.pictures as unknown[];
      for (const prompt of prompts) {
        try {
          const image = await picture(model, { prompt, seed: 1 });
          const judged = judgeImage(image.pixels, image.width, image.height);
          pictures.push({ prompt, ok: scoreJudgement(parsePrompt(prompt), judged).all, judged, totalMs: Math.round(image.timings.totalMs) });
        } catch (error) {
          // A picture with a NaN or infinite value fails here (the latent-to-image kernel counts them).
          pictures.push({ prompt, ok: false, error: errorInfo(error) });
        }
        save();
      }
      entry.passed = pictures.filter((p) => (p as { ok: boolean }).ok).length;
      entry.of = prompts.length;
      entry.errors = pictures.filter((p) => 'error' in (p as object)).length;
      await releaseDiffusionModel(model);
    } catch (error) {
      entry.error = errorInfo(error);
    }
    save();
  }
}

async function fullPart(device: GPUDevice): Promise<void> {
  const folder = values.model?.[0];
  if (folder === undefined) throw new Error('full needs --model DIR');
  const repeats = Number(values.repeats);
  const steps = Number(values.steps);
  const { model, loadMs, warmUpMs } = await loadFolder(folder, device);
  Object.assign(result, {
    model: basename(folder),
    precision: model.info.precision ?? 'fp32',
    width: model.info.width,
    height: model.info.height,
    loadMs,
    warmUpMs,
  });
  save();
  const prompt = 'a photograph of an astronaut riding a horse';
  const run = async (n: number, label: string): Promise<void> => {
    const timings: Timings[] = [];
    let nonFinite: Record<string, unknown> | undefined;
    for (let k = 0; k < repeats; k++) {
      const timed = await timedPicture(model, { prompt, seed: k, steps: n, guidance: 0, scheduler: 'turbo' });
      timings.push(timed.timings);
      nonFinite ??= timed.error;
    }
    const timing = (key: keyof Timings): number => Math.round(median(timings.map((t) => t[key])) * 10) / 10;
    result[label] = {
      steps: n,
      repeats,
      encodeMs: timing('encodeMs'),
      denoiseMs: timing('denoiseMs'),
      decodeMs: timing('decodeMs'),
      totalMs: timing('totalMs'),
      // Random weights can overflow float16: the picture is then refused, but its work was done and timed.
      ...(nonFinite !== undefined ? { refused: nonFinite } : {}),
    };
    save();
  };
  await run(1, 'picture1');
  await run(4, 'picture4');
  await run(steps, `picture${steps}`);
  const long = result[`picture${steps}`] as { denoiseMs: number };
  // Paced as in the browser (two steps in flight), so the GPU is never idle between steps.
  result.unetStepMs = Math.round((long.denoiseMs / steps) * 10) / 10;
  result.vaeDecodeMs = (result.picture1 as { decodeMs: number }).decodeMs;
  save();
  await releaseDiffusionModel(model);
}

try {
  if (part === 'adapter') await adapterPart();
  else {
    let started = performance.now();
    const device = await requestGpuDevice();
    result.deviceMs = ms(started);
    result.shaderF16 = device.features.has('shader-f16');
    save();
    started = performance.now();
    if (part === 'tiny') await tinyPart(device);
    else await fullPart(device);
    result.partMs = ms(started);
    device.destroy();
  }
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = errorInfo(error);
  console.error(error);
}
save();
// Dawn's instance keeps the event loop alive.
process.exit(result.ok === true ? 0 : 1);

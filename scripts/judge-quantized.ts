/**
 * `npx tsx scripts/judge-quantized.ts [--pairs 96] [--gpu-pictures 3]`: tiny-shapes in fp32, q8
 * and q4, side by side through the command-line generator (scripts/generate.ts, batch mode, the
 * model's default steps and guidance) on the wasm backend, every picture judged (src/judge); then
 * a few pictures each on WebGPU for the time per step. Prints a Markdown table and writes
 * bench/results/quantized-tiny-shapes.json.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import { BASE_COLORS, SHAPE_KINDS, judgeImage, parsePrompt, scoreJudgement } from '../test/support/judge.ts';
import { parseDescriptor } from '../src/models/model-reference.ts';
import { REPO_ROOT } from './lib/browser.ts';

const MODELS = ['tiny-shapes', 'tiny-shapes-q8', 'tiny-shapes-q4'] as const;

/** Pair i: shape i mod 3, colour i mod 8, a background that differs from it; seed i + 1. */
export function evaluationPairs(count: number): { prompt: string; seed: number }[] {
  return Array.from({ length: count }, (_, i) => {
    const colour = BASE_COLORS[i % BASE_COLORS.length]!;
    const background = BASE_COLORS[(i + 1 + (Math.floor(i / BASE_COLORS.length) % (BASE_COLORS.length - 1))) % BASE_COLORS.length]!;
    return { prompt: `a ${colour} ${SHAPE_KINDS[i % SHAPE_KINDS.length]} on a ${background} background`, seed: i + 1 };
  });
}

function generate(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(REPO_ROOT, 'node_modules/.bin/tsx'),
      [path.join(REPO_ROOT, 'scripts/generate.ts'), ...args],
      { cwd: REPO_ROOT, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`generate ${args.join(' ')} failed: ${stderr.slice(-2000)}`))),
    );
  });
}

/** ms per step of every picture in a batch run's summary lines ("… (20 steps, 33 ms/step)"). */
const stepTimes = (stdout: string): number[] => [...stdout.matchAll(/(\d+) ms\/step\)$/gm)].map((m) => Number(m[1]));
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function runBatch(model: string, backend: 'wasm' | 'webgpu', pairs: readonly { prompt: string; seed: number }[], dir: string) {
  const out = path.join(dir, `${model}-${backend}`);
  const batch = `${out}.jsonl`;
  await writeFile(batch, pairs.map((p, i) => JSON.stringify({ ...p, out: `${i}.png` })).join('\n') + '\n');
  const stdout = await generate(['--batch', batch, '--out-dir', out, '--model', `models/${model}`, '--backend', backend]);
  const verdicts = await Promise.all(
    pairs.map(async (p, i) => {
      const png = PNG.sync.read(await readFile(path.join(out, `${i}.png`)));
      return scoreJudgement(parsePrompt(p.prompt), judgeImage(new Uint8ClampedArray(png.data), png.width, png.height));
    }),
  );
  const rate = (key: 'background' | 'color' | 'shape' | 'all'): number => verdicts.filter((v) => v[key]).length / verdicts.length;
  return { rates: { background: rate('background'), color: rate('color'), shape: rate('shape'), all: rate('all') }, msPerStep: median(stepTimes(stdout)) };
}

async function sizes(model: string): Promise<Record<string, number>> {
  const folder = path.join(REPO_ROOT, 'models', model);
  const descriptor = parseDescriptor(
    JSON.parse(await readFile(path.join(folder, 'manifest.json'), 'utf8')),
    pathToFileURL(path.join(folder, 'manifest.json')).href,
  );
  const bytes: Record<string, number> = {};
  for (const file of descriptor.variants[0]!.files) {
    const component = file.path.split('/')[0]!;
    bytes[component] = (bytes[component] ?? 0) + (await stat(path.join(folder, file.path))).size;
  }
  return bytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pairs: { type: 'string', default: '96' }, 'gpu-pictures': { type: 'string', default: '3' } } });
  const pairs = evaluationPairs(Number(values.pairs));
  const dir = await mkdtemp(path.join(tmpdir(), 'webdiffusion-judge-'));
  try {
    const rows = [];
    for (const model of MODELS) {
      const wasm = await runBatch(model, 'wasm', pairs, dir);
      const webgpu = await runBatch(model, 'webgpu', pairs.slice(0, Number(values['gpu-pictures'])), dir);
      rows.push({ model, sizes: await sizes(model), judged: wasm.rates, msPerStep: { wasm: wasm.msPerStep, webgpu: webgpu.msPerStep } });
      process.stderr.write(`${model}: ${JSON.stringify(rows.at(-1))}\n`);
    }
    const mb = (n: number | undefined): string => (n === undefined ? '-' : (n / 1e6).toFixed(2));
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    const lines = [
      '| model | text_encoder MB | unet MB | vae_decoder MB | vae_encoder MB | total MB | background | shape colour | shape kind | all correct | ms/step wasm | ms/step WebGPU (SwiftShader) |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => {
        const total = Object.values(r.sizes).reduce((a, b) => a + b, 0);
        const { background, color, shape, all } = r.judged;
        return `| ${r.model} | ${mb(r.sizes.text_encoder)} | ${mb(r.sizes.unet)} | ${mb(r.sizes.vae_decoder)} | ${mb(r.sizes.vae_encoder)} | ${mb(total)} | ${pct(background)} | ${pct(color)} | ${pct(shape)} | ${pct(all)} | ${r.msPerStep.wasm} | ${r.msPerStep.webgpu} |`;
      }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await writeFile(
      path.join(REPO_ROOT, 'bench/results/quantized-tiny-shapes.json'),
      `${JSON.stringify({ command: `npx tsx scripts/judge-quantized.ts --pairs ${pairs.length} --gpu-pictures ${values['gpu-pictures']}`, pairs: pairs.length, rows }, null, 2)}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * `scripts/generate.ts` as a user runs it: a batch of prompts at the model's defaults, judged from
 * the PNG files it writes, each carrying its parameters as the demo's downloads do (none with
 * --no-metadata); the same seed twice gives the same bytes; bad input exits non-zero with the
 * typed error's code, and the good requests beside it are still drawn.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParameters } from '../../src/image/generation-parameters.ts';
import { readPngText } from '../../src/image/png-text.ts';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';

const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const GENERATE = path.join(REPO_ROOT, 'scripts/generate.ts');

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function generate(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(TSX, [GENERATE, ...args], { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Every colour as a shape and as a background, every shape four times. */
const PROMPTS = [
  'a red circle on a blue background',
  'a green square on a white background',
  'a blue triangle on a yellow background',
  'a yellow circle on a black background',
  'a purple square on a orange background',
  'a orange triangle on a green background',
  'a white circle on a purple background',
  'a black square on a red background',
  'a red triangle on a white background',
  'a green circle on a orange background',
  'a blue square on a black background',
  'a yellow triangle on a blue background',
];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'webdiffusion-cli-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run generate', () => {
  it('draws a batch that follows its prompts, with identical bytes for a repeated seed', async () => {
    const lines = PROMPTS.map((prompt, i) => ({ prompt, seed: i + 1, out: `${i + 1}.png` }));
    lines.push({ ...lines[0]!, out: 'again.png' });
    const batch = path.join(dir, 'requests.jsonl');
    await writeFile(batch, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');

    const started = performance.now();
    const run = await generate(['--batch', batch, '--out-dir', path.join(dir, 'batch')], 1_800_000);
    const seconds = (performance.now() - started) / 1000;
    expect(run.status, run.stderr).toBe(0);

    const summaries = run.stdout.trim().split('\n');
    expect(summaries).toHaveLength(lines.length);
    expect(summaries[0]).toMatch(/1\.png {2}seed 1 {2}\d+\.\d\d s \(20 steps, \d+ ms\/step\)$/);
    expect(run.stderr).toMatch(/\[13\/13\] denoising 20\/20/);

    const verdicts = await Promise.all(
      PROMPTS.map(async (prompt, i) => {
        const png = PNG.sync.read(await readFile(path.join(dir, 'batch', `${i + 1}.png`)));
        const judged = judgeImage(new Uint8ClampedArray(png.data), png.width, png.height);
        return { prompt, judged, correct: scoreJudgement(parsePrompt(prompt), judged).all };
      }),
    );
    const correct = verdicts.filter((v) => v.correct).length;
    console.info(`CLI batch: ${lines.length} pictures in ${seconds.toFixed(0)} s; ${correct}/${PROMPTS.length} fully correct`);
    for (const v of verdicts.filter((v) => !v.correct)) console.info(`  wrong: "${v.prompt}" → ${JSON.stringify(v.judged)}`);

    const [first, again] = await Promise.all([readFile(path.join(dir, 'batch', '1.png')), readFile(path.join(dir, 'batch', 'again.png'))]);
    expect(again.equals(first)).toBe(true);

    // The picture says how to make it again, in the demo's (and the desktop UIs') words.
    const { parameters } = await readPngText(first);
    expect(parameters).toMatch(/^a red circle on a blue background\nSteps: 20, Sampler: [^,]+, CFG scale: [\d.]+, Seed: 1, Size: 64x64, Model: tiny-shapes$/);
    expect(parseParameters(parameters!)).toMatchObject({ request: { prompt: PROMPTS[0], seed: 1, steps: 20 }, modelId: 'tiny-shapes' });
    expect(correct / PROMPTS.length).toBeGreaterThanOrEqual(0.9);
  }, 1_800_000);

  it('applies --lora FILE:SCALE and records it in the PNG parameters', async () => {
    const out = path.join(dir, 'pink.png');
    const lora = path.join(REPO_ROOT, 'models/tiny-shapes-lora-pink/lora.safetensors');
    const run = await generate(
      ['--prompt', 'a pink circle on a blue background', '--seed', '101', '--backend', 'wasm', '--lora', `${lora}:1`, '--out', out],
      600_000,
    );
    expect(run.status, run.stderr).toBe(0);
    const bytes = await readFile(out);
    const png = PNG.sync.read(bytes);
    expect(judgeImage(new Uint8ClampedArray(png.data), png.width, png.height).color).toBe('pink');
    const parsed = parseParameters((await readPngText(bytes)).parameters!);
    expect(parsed.request.prompt).toBe('a pink circle on a blue background');
    expect(parsed.loras).toEqual([{ name: 'tiny-shapes-lora-pink', scale: 1, hash: expect.stringMatching(/^[0-9a-f]{12}$/) }]);
  }, 600_000);

  it('draws a batch on tiny-shapes-flow (a diffusion transformer, flow Turbo, 8 steps) that follows its prompts', async () => {
    const lines = PROMPTS.map((prompt, i) => ({ prompt, seed: 50 + i, out: `flow-${i + 1}.png` }));
    const batch = path.join(dir, 'flow.jsonl');
    await writeFile(batch, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    const run = await generate(['--batch', batch, '--model', 'models/tiny-shapes-flow/manifest.json', '--out-dir', path.join(dir, 'flow')], 1_800_000);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')[0]).toMatch(/flow-1\.png {2}seed 50 {2}\d+\.\d\d s \(8 steps, \d+ ms\/step\)$/);
    const verdicts = await Promise.all(
      PROMPTS.map(async (prompt, i) => {
        const png = PNG.sync.read(await readFile(path.join(dir, 'flow', `flow-${i + 1}.png`)));
        const judged = judgeImage(new Uint8ClampedArray(png.data), png.width, png.height);
        return { prompt, judged, correct: scoreJudgement(parsePrompt(prompt), judged).all };
      }),
    );
    const correct = verdicts.filter((v) => v.correct).length;
    console.info(`CLI batch on tiny-shapes-flow: ${correct}/${PROMPTS.length} fully correct`);
    for (const v of verdicts.filter((v) => !v.correct)) console.info(`  wrong: "${v.prompt}" → ${JSON.stringify(v.judged)}`);
    const { parameters } = await readPngText(await readFile(path.join(dir, 'flow', 'flow-1.png')));
    expect(parameters).toMatch(/\nSteps: 8, Sampler: Turbo \(flow\), CFG scale: [\d.]+, Seed: 50, Size: 64x64, Model: tiny-shapes-flow$/);
    expect(parseParameters(parameters!)).toMatchObject({ request: { scheduler: 'flow_turbo', steps: 8 }, modelId: 'tiny-shapes-flow' });
    expect(correct / PROMPTS.length).toBeGreaterThanOrEqual(0.9);
  }, 1_800_000);

  it('exits 1 with the code of each bad request, and still draws the good ones (with --no-metadata, bare)', async () => {
    const batch = path.join(dir, 'bad.jsonl');
    const lines = [
      { prompt: 'a red circle on a blue background', width: 60, out: 'narrow.png' },
      { prompt: 'a red circle on a blue background', steps: 0, out: 'no-steps.png' },
      { prompt: 'a red circle on a blue background', seed: 1, steps: 2, out: 'good.png' },
    ];
    await writeFile(batch, lines.map((line) => JSON.stringify(line)).join('\n'));
    const run = await generate(['--batch', batch, '--out-dir', path.join(dir, 'bad'), '--no-metadata'], 600_000);

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/bad\.jsonl:1: invalid-request: .*width/i);
    expect(run.stderr).toMatch(/bad\.jsonl:2: invalid-request: .*steps/i);
    expect(run.stderr).toMatch(/2 of 3 requests failed/);
    await expect(stat(path.join(dir, 'bad', 'narrow.png'))).rejects.toThrow();
    await expect(stat(path.join(dir, 'bad', 'no-steps.png'))).rejects.toThrow();
    const good = await readFile(path.join(dir, 'bad', 'good.png'));
    expect(PNG.sync.read(good).width).toBe(64);
    expect(await readPngText(good)).toEqual({});
    expect(run.stdout).toMatch(/good\.png {2}seed 1 /);
  }, 600_000);

  it('exits 1 with a typed code for a model that does not exist', async () => {
    const run = await generate(['--prompt', 'a red circle', '--model', 'models/no-such-model/manifest.json', '--out', path.join(dir, 'x.png')], 300_000);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot load model \/models\/no-such-model\/manifest\.json: unknown-model: /);
    await expect(stat(path.join(dir, 'x.png'))).rejects.toThrow();
  }, 300_000);

  it('exits 2 on a command line it cannot run, before starting a browser', async () => {
    const cases = [
      [['--prompt', 'x', '--steps', 'many'], /--steps expects a number, got "many"/],
      [['--prompt', 'x', '--colour', 'red'], /Unknown option '--colour'/],
      [[], /give --prompt TEXT, or --batch FILE/],
    ] as const;
    for (const [args, message] of cases) {
      const run = await generate([...args], 60_000);
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/^error: USAGE: /m);
      expect(run.stderr).toMatch(message);
    }
  }, 180_000);
});

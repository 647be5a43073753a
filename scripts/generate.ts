/**
 * Command-line generator: `npm run generate -- --prompt "a red circle on a blue background" --seed 1`.
 *
 * The engine only runs in a browser (WebGPU, onnxruntime-web), so this serves the repository with
 * Vite on loopback, opens src/cli/page.html in headless Chromium and drives `generate()` from
 * Node. One browser and one model load serve a whole batch. Pictures are encoded and written
 * here, with the same PNG encoder the browser uses, and the same `parameters` text chunk the
 * demo's downloads carry (prompt, steps, sampler, seed, size, model), unless --no-metadata.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import type { LoraRequest, Progress, TextRequest } from '../src/api.ts';
import type { BackendPreference } from '../src/engine.ts';
import type { Outcome, WireError, WireImage } from '../src/cli/page.ts';
import { formatParameters } from '../src/image/generation-parameters.ts';
import { encodePng } from '../src/image/png.ts';
import { loraNameOf } from '../src/lora/lora-library.ts';
import { REPO_ROOT, launchChromium, serveProject } from './lib/browser.ts';

const USAGE = `Usage:
  npm run generate -- --prompt TEXT [--seed N] [--out FILE] [options]
  npm run generate -- --batch REQUESTS.jsonl [--out-dir DIR] [options]

Options:
  --prompt TEXT           what to draw
  --negative-prompt TEXT  what to steer away from
  --seed N                32-bit unsigned seed (default: random, printed in the summary)
  --steps N               denoising steps (default: the model's)
  --guidance X            classifier-free guidance scale; <= 1 turns it off (default: the model's)
  --scheduler NAME        ddim | euler | euler_a | dpmpp_2m | dpmpp_2m_karras | lcm | turbo
                          (default: the model's)
  --width N, --height N   picture size in pixels, multiples of 8 (default: the model's)
  --out FILE              PNG to write (default: out.png)
  --batch FILE            JSON Lines, one request per line:
                            {"prompt": "...", "seed": 1, "out": "a.png", "steps": 20, ...}
                          fields as in --prompt mode (negativePrompt, steps, guidance, scheduler,
                          width, height); the flags above are the defaults for every line
  --out-dir DIR           folder the batch's "out" paths are relative to (default: .)
  --model MANIFEST        manifest path or http(s) URL (default: models/tiny-shapes/manifest.json)
  --lora FILE[:SCALE]     a LoRA (.safetensors path or http(s) URL, or a LoRA manifest .json) at
                          SCALE (default 1); repeat for several, which add
  --backend NAME          auto | webgpu | wasm (default: auto: the faster here; the CPU when the
                          only GPU is a software one such as SwiftShader)
  --no-metadata           write the PNG without its "parameters" text chunk (by default each
                          picture carries its prompt, negative prompt, steps, sampler, guidance,
                          seed, size and model, as the demo's downloads and the desktop UIs do)
  --verbose               echo the page's console
  -h, --help              this text

Prints progress to stderr and one line per picture to stdout: path, seed, time.
Exit status: 0 all written, 1 a request or the model failed, 2 bad command line.`;

/** `npm run` moves into the package's folder; paths on the command line are the caller's. */
const CALLER_CWD = process.env.INIT_CWD ?? process.cwd();
const fromCaller = (...parts: string[]): string => path.resolve(CALLER_CWD, ...parts);

/** A command line we cannot run; exit status 2. */
class UsageError extends Error {
  readonly code = 'USAGE';
  override readonly name = 'UsageError';
}

interface Job {
  readonly request: TextRequest;
  readonly out: string;
  /** Where the job came from, for messages: "requests.jsonl:3" in a batch, '' for --prompt. */
  readonly origin: string;
}

const BACKENDS: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm'];

const REQUEST_FIELDS = ['prompt', 'negativePrompt', 'seed', 'steps', 'guidance', 'scheduler', 'width', 'height', 'loras'] as const;
const NUMBER_FLAGS = { seed: 'seed', steps: 'steps', guidance: 'guidance', width: 'width', height: 'height' } as const;

function parseCommandLine(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      prompt: { type: 'string' },
      'negative-prompt': { type: 'string' },
      seed: { type: 'string' },
      steps: { type: 'string' },
      guidance: { type: 'string' },
      scheduler: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      out: { type: 'string' },
      batch: { type: 'string' },
      'out-dir': { type: 'string' },
      model: { type: 'string' },
      lora: { type: 'string', multiple: true },
      backend: { type: 'string' },
      'no-metadata': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  return values;
}

type Flags = ReturnType<typeof parseCommandLine>;

/**
 * Request fields as the user gave them. Only their syntax is checked here: types and ranges are
 * the engine's to check, so that its typed errors are the only ones a request can get.
 */
type RequestFields = Record<string, unknown>;

const asRequest = (fields: RequestFields): TextRequest => fields as unknown as TextRequest;

function flagDefaults(flags: Flags): RequestFields {
  const defaults: RequestFields = {};
  for (const [flag, field] of Object.entries(NUMBER_FLAGS)) {
    const text = flags[flag as keyof typeof NUMBER_FLAGS];
    if (text === undefined) continue;
    const value = Number(text);
    if (text.trim() === '' || Number.isNaN(value)) throw new UsageError(`--${flag} expects a number, got "${text}"`);
    defaults[field] = value;
  }
  if (flags['negative-prompt'] !== undefined) defaults.negativePrompt = flags['negative-prompt'];
  if (flags.scheduler !== undefined) defaults.scheduler = flags.scheduler;
  return defaults;
}

async function readBatch(file: string, outDir: string, defaults: RequestFields): Promise<Job[]> {
  let text: string;
  try {
    text = await readFile(fromCaller(file), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --batch ${file}: ${(error as Error).message}`);
  }
  const jobs: Job[] = [];
  const allowed = new Set<string>([...REQUEST_FIELDS, 'out']);
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const origin = `${file}:${index + 1}`;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${origin}: not JSON (${(error as Error).message})`);
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new UsageError(`${origin}: expected an object like {"prompt": "...", "seed": 1, "out": "a.png"}`);
    }
    const { out, ...request } = entry as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((key) => !allowed.has(key));
    if (unknown.length > 0) {
      throw new UsageError(`${origin}: unknown field ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${[...allowed].join(', ')}`);
    }
    if (typeof request.prompt !== 'string') throw new UsageError(`${origin}: "prompt" must be a string`);
    if (out !== undefined && typeof out !== 'string') throw new UsageError(`${origin}: "out" must be a string`);
    jobs.push({
      request: asRequest({ ...defaults, ...request }),
      out: fromCaller(outDir, out ?? `${String(jobs.length + 1).padStart(3, '0')}.png`),
      origin,
    });
  }
  if (jobs.length === 0) throw new UsageError(`--batch ${file} holds no requests`);
  return jobs;
}

/**
 * `--lora FILE[:SCALE]` as a request's LoRA: a local file served through Vite's /@fs/ with the
 * SHA-256 and size the store must check it against (the dev server reports no digest); a URL as is.
 */
async function resolveLora(spec: string): Promise<{ lora: LoraRequest; allow: string[] }> {
  const match = /^(.*):(-?\d+(?:\.\d+)?)$/.exec(spec);
  const [target, scale] = match !== null ? [match[1]!, Number(match[2])] : [spec, 1];
  if (/^https?:\/\//.test(target)) return { lora: { model: target, scale }, allow: [] };
  const file = fromCaller(target);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new UsageError(`cannot read --lora ${target}: ${(error as Error).message}`);
  }
  if (file.endsWith('.json')) return { lora: { model: `/@fs${file}`, scale }, allow: [path.dirname(file)] };
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const name = loraNameOf(file);
  return { lora: { model: { url: `/@fs${file}`, sha256, size: bytes.length, name }, scale }, allow: [path.dirname(file)] };
}

/** A manifest path becomes a URL the page can fetch: under the repo as is, elsewhere through Vite's /@fs/. */
async function resolveModel(model: string): Promise<{ url: string; allow: string[] }> {
  if (/^https?:\/\//.test(model)) return { url: model, allow: [] };
  const file = fromCaller(model);
  const info = await stat(file).catch(() => undefined);
  const manifest = info?.isDirectory() ? path.join(file, 'manifest.json') : file;
  const relative = path.relative(REPO_ROOT, manifest);
  if (!relative.startsWith('..') && !path.isAbsolute(relative)) {
    return { url: `/${relative.split(path.sep).join('/')}`, allow: [] };
  }
  return { url: `/@fs${manifest}`, allow: [path.dirname(manifest)] };
}

function describe(error: WireError): string {
  return `${error.code ?? error.name}: ${error.message}`;
}

/** Rewrites one status line on a terminal; one line per change when stderr is a file or a pipe. */
function progressPrinter(): { show(text: string): void; done(): void } {
  const tty = process.stderr.isTTY;
  let last = '';
  return {
    show(text) {
      if (text === last) return;
      last = text;
      process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
    },
    done() {
      if (tty && last !== '') process.stderr.write('\r\x1b[K');
      last = '';
    },
  };
}

function describeProgress(p: Progress): string {
  if (p.phase === 'denoising') return `denoising ${p.step}/${p.steps}`;
  if (p.phase === 'loading') return p.stage === 'download' ? `loading file ${p.step}/${p.steps}` : `loading: ${p.stage}`;
  return p.phase;
}

async function openPage(origin: string, verbose: boolean, onProgress: (p: Progress) => void): Promise<{ page: Page; close(): Promise<void> }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => process.stderr.write(`page error: ${error.message}\n`));
    if (verbose) page.on('console', (message) => process.stderr.write(`page ${message.type()}: ${message.text()}\n`));
    await page.exposeFunction('webdiffusionProgress', onProgress);
    await page.goto(`${origin}/src/cli/page.html`);
    await page.waitForFunction(() => window.webdiffusionCli !== undefined, undefined, { timeout: 60_000 });
    return { page, close: () => browser.close() };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandLine(argv);
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const defaults = flagDefaults(flags);
  let jobs: Job[];
  if (flags.batch !== undefined) {
    if (flags.prompt !== undefined || flags.out !== undefined || flags.seed !== undefined) {
      throw new UsageError('--batch takes prompts, seeds and outputs from its lines: drop --prompt, --seed and --out');
    }
    jobs = await readBatch(flags.batch, flags['out-dir'] ?? '.', defaults);
  } else {
    if (flags.prompt === undefined) throw new UsageError('give --prompt TEXT, or --batch FILE');
    if (flags['out-dir'] !== undefined) throw new UsageError('--out-dir goes with --batch; use --out FILE');
    jobs = [{ request: asRequest({ ...defaults, prompt: flags.prompt }), out: fromCaller(flags.out ?? 'out.png'), origin: '' }];
  }
  const backend = flags.backend ?? 'auto';
  if (!BACKENDS.includes(backend as BackendPreference)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}; got "${backend}"`);
  const model = await resolveModel(flags.model ?? path.join(REPO_ROOT, 'models/tiny-shapes/manifest.json'));
  const loras = await Promise.all((flags.lora ?? []).map(resolveLora));
  if (loras.length > 0) {
    for (const job of jobs) (job.request as { loras?: LoraRequest[] }).loras ??= loras.map((l) => l.lora);
  }

  const printer = progressPrinter();
  let prefix = '';
  const served = await serveProject([...model.allow, ...loras.flatMap((l) => l.allow)]);
  let session: Awaited<ReturnType<typeof openPage>> | undefined;
  try {
    session = await openPage(served.origin, flags.verbose ?? false, (p) => printer.show(`${prefix}${describeProgress(p)}`));
    const { page } = session;

    prefix = 'model: ';
    const loaded = await page.evaluate(([url, b]) => window.webdiffusionCli!.loadModel(url, b), [model.url, backend as BackendPreference] as const);
    printer.done();
    if (!loaded.ok) {
      process.stderr.write(`error: cannot load model ${model.url}: ${describe(loaded.error)}\n`);
      return 1;
    }
    const info = loaded.value;
    process.stderr.write(`model ${info.id} (${info.width}x${info.height}, ${info.backend}) loaded\n`);
    for (const warning of info.warnings) process.stderr.write(`note: ${warning}\n`);

    let failures = 0;
    for (const [index, job] of jobs.entries()) {
      prefix = jobs.length > 1 ? `[${index + 1}/${jobs.length}] ` : '';
      const outcome: Outcome<WireImage> = await page.evaluate((r) => window.webdiffusionCli!.generate(r), job.request);
      printer.done();
      if (!outcome.ok) {
        failures++;
        process.stderr.write(`error: ${job.origin === '' ? '' : `${job.origin}: `}${describe(outcome.error)}\n`);
        continue;
      }
      const image = outcome.value;
      const metadata = flags['no-metadata'] === true ? {} : { text: { parameters: formatParameters(image.request, info.id) } };
      const png = await encodePng(Buffer.from(image.pixelsBase64, 'base64'), image.width, image.height, metadata);
      await mkdir(path.dirname(job.out), { recursive: true });
      await writeFile(job.out, png);
      const { totalMs, denoiseMs } = image.timings;
      const perStep = denoiseMs / image.request.steps;
      const shown = path.relative(CALLER_CWD, job.out);
      process.stdout.write(
        `${shown.startsWith('..') ? job.out : shown}  seed ${image.request.seed}  ` +
          `${(totalMs / 1000).toFixed(2)} s (${image.request.steps} steps, ${perStep.toFixed(0)} ms/step)\n`,
      );
    }
    if (failures > 0) process.stderr.write(`${failures} of ${jobs.length} requests failed\n`);
    return failures > 0 ? 1 : 0;
  } finally {
    printer.done();
    await session?.close();
    await served.close();
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`error: USAGE: ${(error as Error).message}\n(see --help)\n`);
    process.exitCode = 2;
  } else {
    // Not a request's fault (Chromium would not start, the server failed): say what broke.
    process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}

/**
 * Load benchmark: a UNet from the weight store to a WebGPU session (SwiftShader here), on ONNX
 * Runtime's JSPI build and on its asyncify build, side by side, for each variant:
 *   fp32, q8, q4   the full-size SD-Turbo UNet stand-in (npm run stand-in:full -- sd-turbo)
 *   deep-fp32      its deeper sibling, 4.23 GB of external data (… -- sd-turbo-deep)
 * or, with --tiny, the tiny-shapes UNets of models/ (fp32, q8, q4), for development.
 *
 *   npm run bench -- load [--variants q4,fp32] [--runtimes jspi,asyncify] [--tiny] [--latent 16] [--steps 2] [--out NAME]
 *
 * Measured per variant, in one Chromium with an on-disk profile (its OPFS on disk):
 *   download        ensureModel of the UNet's files from a loopback server: fetch, hash, write
 *   plain read      every external-data file read from the store as a stream, bytes dropped:
 *                   the reference for the session's throughput
 * and per build, each in a page of its own:
 *   session         store → session (after the build was started with a one-node model): the files opened from the store and given to
 *                   OrtSession.create as Blobs, as the engine does; with peak JS heap, renderer
 *                   and GPU-process resident memory during it (bench/measure.ts), each also
 *                   divided by the largest external-data file and by all of them
 *   first step      session creation plus the first run() at a [1, 4, latent, latent] sample
 *                   (the first run compiles the shaders), output read back
 *   step            each later run(), and whether every output value was finite
 *                   (--steps 0: the session only)
 * A build that fails to load a variant is recorded with its error; the others go on.
 * Writes bench/results/load.json (load-tiny.json with --tiny; --out NAME: NAME.json).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';
import type { OrtRuntime } from '../src/ort/ort.ts';
import { CHROMIUM_ARGS, REPO_ROOT, chromiumPath, serveProject } from '../scripts/lib/browser.ts';
import { diskSource, startFileServer, type FileSource } from '../test/support/file-server.ts';
import type { StoreSettings } from '../test/pages/storage-page.ts';
import { unetFolder } from './full-size/stand-ins.ts';
import { figure, measured, ratio, type Figure } from './measure.ts';
import { gatherModel, ROW_FLOATS } from './synthetic-onnx.ts';

const MiB = 1024 * 1024;
const PAGE = '/test/pages/storage.html';

/** Where each variant's UNet folder is (model.onnx and its model.onnx_data* shards). */
const VARIANTS: Record<string, { full: string; tiny?: string }> = {
  fp32: { full: unetFolder('sd-turbo', 'fp32'), tiny: join(REPO_ROOT, 'models/tiny-shapes/unet') },
  q8: { full: unetFolder('sd-turbo', 'q8'), tiny: join(REPO_ROOT, 'models/tiny-shapes-q8/unet') },
  q4: { full: unetFolder('sd-turbo', 'q4'), tiny: join(REPO_ROOT, 'models/tiny-shapes-q4/unet') },
  'deep-fp32': { full: unetFolder('sd-turbo-deep', 'fp32') },
};
const RUNTIMES: readonly OrtRuntime[] = ['jspi', 'asyncify'];

interface UnetFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

function options(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      variants: { type: 'string' },
      runtimes: { type: 'string' },
      tiny: { type: 'boolean' },
      latent: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const tiny = values.tiny ?? false;
  const variants = (
    values.variants ??
    Object.keys(VARIANTS)
      .filter((v) => !tiny || VARIANTS[v]!.tiny !== undefined)
      .join(',')
  ).split(',');
  const runtimes = (values.runtimes ?? RUNTIMES.join(',')).split(',') as OrtRuntime[];
  const bad = [
    ...variants.filter((v) => VARIANTS[v] === undefined || (tiny && VARIANTS[v].tiny === undefined)),
    ...runtimes.filter((r) => !RUNTIMES.includes(r)),
  ];
  if (bad.length > 0)
    throw new Error(`unknown variant or runtime: ${bad.join(', ')} (variants: ${Object.keys(VARIANTS).join(', ')}; runtimes: ${RUNTIMES.join(', ')})`);
  return {
    tiny,
    variants,
    runtimes,
    out: values.out ?? (tiny ? 'load-tiny' : 'load'),
    latent: Number(values.latent ?? (tiny ? 8 : 16)),
    steps: Math.max(0, Number(values.steps ?? 2)),
  };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function unetFiles(folder: string, variant: string): Promise<UnetFile[]> {
  if (!existsSync(join(folder, 'model.onnx'))) {
    throw new Error(`${variant}: no ${folder}/model.onnx; build it with npm run stand-in:full -- ${variant === 'deep-fp32' ? 'sd-turbo-deep' : 'sd-turbo'}`);
  }
  const names = [
    'model.onnx',
    ...readdirSync(folder)
      .filter((name) => name.startsWith('model.onnx_data'))
      .sort(),
  ];
  return Promise.all(
    names.map(async (name) => ({ name, path: join(folder, name), size: statSync(join(folder, name)).size, sha256: await sha256File(join(folder, name)) })),
  );
}

const perByte = (bytes: number | null, size: number): number | null => (bytes === null || size === 0 ? null : Math.round((bytes / size) * 100) / 100);

/** A one-node model that starts a build before the measured load. */
const WARMUP = Array.from(gatherModel({ inline: new Uint8Array(4 * ROW_FLOATS * 4) }));

export async function run(argv: readonly string[] = []): Promise<void> {
  const { tiny, variants, runtimes, out: resultName, latent, steps } = options(argv);
  const loadAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const files = new Map<string, UnetFile[]>();
  for (const variant of variants) files.set(variant, await unetFiles(tiny ? VARIANTS[variant]!.tiny! : VARIANTS[variant]!.full, variant));
  const served: Record<string, FileSource> = {};
  for (const [variant, list] of files) for (const file of list) served[`/${variant}/${file.name}`] = diskSource(file.path);
  const fileServer = await startFileServer(served);
  const project = await serveProject();
  const profile = await mkdtemp(join(tmpdir(), 'webdiffusion-load-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
  const results: Record<string, unknown> = {};
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${project.origin}${PAGE}`);
    await page.waitForFunction(() => window.storagePage !== undefined, undefined, { timeout: 120_000 });
    await page.evaluate(() => window.storagePage!.clear());
    const settings: StoreSettings = { root: 'load' };
    for (const [variant, list] of files) {
      const modelId = `load-${variant}`;
      const external = list.filter((file) => file.name !== 'model.onnx');
      const externalBytes = external.reduce((sum, file) => sum + file.size, 0);
      const largest = Math.max(...external.map((file) => file.size));
      const source = { id: modelId, baseUrl: `${fileServer.origin}/${variant}/`, files: list.map(({ name, size, sha256 }) => ({ path: name, size, sha256 })) };
      console.log(`load ${variant}: ${list.length} files, ${(externalBytes / 1e9).toFixed(2)} GB of external data`);
      const download = await page.evaluate(([src, st]) => window.storagePage!.ensure(src, st), [source, settings] as const);
      if (!download.ok) throw new Error(`${variant}: download failed: ${JSON.stringify(download.error)}`);
      let plainMs = 0;
      for (const file of external)
        plainMs += (await page.evaluate(([st, id, p]) => window.storagePage!.readOnly(st, id, p), [settings, modelId, file.name] as const)).ms;
      const loads: Record<string, unknown> = {};
      for (const runtime of runtimes) {
        loads[runtime] = await loadInFreshPage(context, project.origin, settings, {
          modelId,
          external,
          runtime,
          latent,
          steps,
          externalBytes,
          largest,
          plainMs,
        });
        console.log(`  ${runtime}: ${JSON.stringify(loads[runtime])}`);
      }
      results[variant] = {
        files: list.map(({ name, size }) => ({ name, size })),
        externalDataBytes: externalBytes,
        largestExternalFileBytes: largest,
        download: figure(
          list.reduce((sum, file) => sum + file.size, 0),
          download.ms,
        ),
        plainRead: figure(externalBytes, plainMs),
        load: loads,
      };
      await page.evaluate(([st, id]) => window.storagePage!.remove(st, id), [settings, modelId] as const);
    }
    const out = {
      benchmark: tiny ? 'load-tiny' : 'load',
      date: new Date().toISOString(),
      machine: {
        description: process.env.BENCH_MACHINE ?? 'not described (set BENCH_MACHINE)',
        loadAverageAtStart: loadAtStart,
        cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        freeMemoryGiB: Math.round(freemem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        browser: `Chromium ${context.browser()?.version() ?? 'unknown'}`,
        node: process.version,
      },
      latent,
      variants: results,
    };
    const file = join(REPO_ROOT, `bench/results/${resultName}.json`);
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
    print(results);
    console.log(`  -> ${file.slice(REPO_ROOT.length)}`);
  } finally {
    await context.close();
    await project.close();
    await fileServer.close();
    await rm(profile, { recursive: true, force: true });
  }
}

interface LoadPlan {
  readonly modelId: string;
  readonly external: readonly UnetFile[];
  readonly runtime: OrtRuntime;
  readonly latent: number;
  readonly steps: number;
  readonly externalBytes: number;
  readonly largest: number;
  readonly plainMs: number;
}

/** One build's load of one variant, in a page of its own (one ONNX Runtime build per page). */
async function loadInFreshPage(context: BrowserContext, origin: string, settings: StoreSettings, plan: LoadPlan): Promise<Record<string, unknown>> {
  const page = await context.newPage();
  try {
    await page.goto(`${origin}${PAGE}`);
    await page.waitForFunction(() => window.storagePage !== undefined, undefined, { timeout: 120_000 });
    await page.evaluate(([model, runtime]) => window.storagePage!.startRuntime(model, runtime), [WARMUP, plan.runtime] as const);
    const load = {
      modelId: plan.modelId,
      model: 'model.onnx',
      externalData: plan.external.map(({ name }) => ({ path: name, file: name })),
      runtime: plan.runtime,
    };
    const created = await measured(await context.newCDPSession(page), () =>
      page.evaluate(([st, l]) => window.storagePage!.unetCreate(st, l), [settings, load] as const),
    );
    const runs: { ms: number; finite: boolean }[] = [];
    for (let i = 0; i < plan.steps; i++) runs.push(await page.evaluate((n) => window.storagePage!.unetStep(n), plan.latent));
    const { jsHeapPeakBytes, rendererRssPeakBytes, gpuProcessRssPeakBytes } = created;
    return {
      ran: created.result.runtime,
      session: { ...figure(plan.externalBytes, created.result.ms), vsPlainRead: ratio(plan.plainMs, created.result.ms) },
      memory: {
        jsHeapPeakBytes,
        rendererRssPeakBytes,
        gpuProcessRssPeakBytes,
        jsHeapPeakPerLargestFile: perByte(jsHeapPeakBytes, plan.largest),
        rendererRssPeakPerLargestFile: perByte(rendererRssPeakBytes, plan.largest),
        jsHeapPeakPerTotal: perByte(jsHeapPeakBytes, plan.externalBytes),
        rendererRssPeakPerTotal: perByte(rendererRssPeakBytes, plan.externalBytes),
        rendererRssGoalMet: rendererRssPeakBytes === null ? null : rendererRssPeakBytes <= plan.largest + 512 * MiB,
      },
      firstStepMs: runs.length > 0 ? Math.round(created.result.ms + runs[0]!.ms) : null,
      stepsMs: runs.slice(1).map((r) => Math.round(r.ms)),
      finite: runs.length > 0 ? runs.every((r) => r.finite) : null,
    };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] };
  } finally {
    await page.close().catch(() => undefined);
  }
}

function print(results: Record<string, unknown>): void {
  type Load = {
    error?: string;
    session?: Figure & { vsPlainRead: number };
    memory?: Record<string, number | null | boolean>;
    firstStepMs?: number | null;
    stepsMs?: number[];
    finite?: boolean | null;
  };
  const gb = (bytes: number | null | boolean | undefined): string => (typeof bytes === 'number' ? `${(bytes / 1e9).toFixed(2)} GB` : '-');
  console.log('load (store -> WebGPU session):');
  for (const [variant, r] of Object.entries(results) as [
    string,
    { externalDataBytes: number; download: Figure; plainRead: Figure; load: Record<string, Load> },
  ][]) {
    console.log(
      `  ${variant}: ${gb(r.externalDataBytes)} external data; download ${r.download.ms} ms (${r.download.mibPerSecond} MiB/s), plain read ${r.plainRead.ms} ms (${r.plainRead.mibPerSecond} MiB/s)`,
    );
    for (const [runtime, l] of Object.entries(r.load)) {
      if (l.error !== undefined) {
        console.log(`    ${runtime.padEnd(8)} failed: ${l.error}`);
        continue;
      }
      const m = l.memory!;
      console.log(
        `    ${runtime.padEnd(8)} session ${l.session!.ms} ms (${l.session!.vsPlainRead} x plain read), renderer RSS peak ${gb(m.rendererRssPeakBytes)} ` +
          `(${m.rendererRssPeakPerLargestFile} x largest file, ${m.rendererRssPeakPerTotal} x total), JS heap peak ${gb(m.jsHeapPeakBytes)}, GPU process ${gb(m.gpuProcessRssPeakBytes)}; ` +
          `first step at ${l.firstStepMs} ms, then ${l.stepsMs!.join(', ') || '-'} ms; finite ${l.finite}`,
      );
    }
  }
}

/**
 * Weight store benchmark: a synthetic file (512 MiB unless BENCH_STORAGE_MB says otherwise) from a
 * loopback file server into the OPFS of headless Chromium with an on-disk profile, through the
 * same test page as test/storage. Prints the figures and writes them to bench/results/storage.json,
 * with the machine (BENCH_MACHINE describes it in words) and its load average at the start.
 *
 * Measured, in this order:
 *   fetch only       the network path alone (fetch, read, drop)
 *   hash only        hash-wasm SHA-256 over in-memory bytes
 *   cold download    ensureModel of the file: fetch + hash + write to OPFS + verify
 *   warm ensure      ensureModel again: everything stored, only progress records read
 *   read back        bytes(): the whole file from OPFS into one ArrayBuffer (then its SHA-256);
 *                    skipped above 2 GiB, where Chromium refuses to read a Blob into one
 *   plain read       the file read from the store as a stream, the bytes dropped: the reference
 *                    for the session load, with the memory it takes (see below)
 *   session load     an ONNX Runtime session of a one-node model whose weights are the
 *                    synthetic file, as external data, made from the store as the engine does
 *                    (OrtSession.create with Blobs from `open`), on the CPU ('wasm') and on
 *                    WebGPU (SwiftShader here); after a warm-up session of a tiny model, so that
 *                    starting ONNX Runtime is not counted. Its throughput is compared with the
 *                    plain read's, as a ratio.
 *   reload resume    a download cut at half, the page reloaded, ensureModel again: where it
 *                    resumed, the bytes it fetched and the time it took
 *
 * Memory, for the plain read and the session loads, relative to the file's size, each in a page
 * (a renderer process) of its own, so that none reuses memory another step left resident: peak
 * JavaScript heap and renderer resident memory, as bench/measure.ts says.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, release, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, REPO_ROOT, chromiumPath, serveProject } from '../scripts/lib/browser.ts';
import { startFileServer, syntheticSource, type FileServer, type FileSource } from '../test/support/file-server.ts';
import type { EnsureOutcome, StoreSettings } from '../test/pages/storage-page.ts';
import { figure, measuredInFreshPage, ratio, type Measured } from './measure.ts';
import { CHUNK_ROWS, gatherModel, ROW_FLOATS } from './synthetic-onnx.ts';

const MiB = 1024 * 1024;
const PART_SIZE = 32 * MiB;

export async function run(): Promise<void> {
  const loadAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const size = Number(process.env.BENCH_STORAGE_MB ?? 512) * MiB;
  const synthetic = syntheticSource(size);
  const hashStarted = performance.now();
  const sha256 = synthetic.sha256();
  console.log(`storage: ${size / MiB} MiB synthetic file, SHA-256 in Node ${Math.round(performance.now() - hashStarted)} ms`);

  // The synthetic file is also the external data of a one-node model (bench/synthetic-onnx.ts).
  const model = gatherModel({ externalFile: 'synthetic.bin', bytes: size });
  const warmup = gatherModel({ inline: new Uint8Array(4 * ROW_FLOATS * 4) });
  const fileServer = await startFileServer({
    '/bench/synthetic.bin': synthetic,
    '/bench/model.onnx': bytesSource(model),
    '/bench/warmup.onnx': bytesSource(warmup),
  });
  const project = await serveProject();
  // An on-disk profile: a default context is off the record, and its OPFS lives in memory.
  const profile = await mkdtemp(join(tmpdir(), 'webdiffusion-bench-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const open = async (): Promise<void> => {
      await page.waitForFunction(() => window.storagePage !== undefined, undefined, { timeout: 120_000 });
    };
    await page.goto(`${project.origin}/test/pages/storage.html`);
    await open();
    await page.evaluate(() => window.storagePage!.clear());

    const url = `${fileServer.origin}/bench/synthetic.bin`;
    const source = {
      id: 'bench',
      baseUrl: `${fileServer.origin}/bench/`,
      files: [
        { path: 'synthetic.bin', size, sha256 },
        { path: 'model.onnx', size: model.byteLength, sha256: sha256Of(model) },
        { path: 'warmup.onnx', size: warmup.byteLength, sha256: sha256Of(warmup) },
      ],
    };
    const settings: StoreSettings = { root: 'bench', partSize: PART_SIZE };
    const ensure = (s: StoreSettings): Promise<EnsureOutcome> => page.evaluate(([src, st]) => window.storagePage!.ensure(src, st), [source, s] as const);

    const fetchOnly = await page.evaluate((u) => window.storagePage!.fetchOnly(u), url);
    const hashOnly = await page.evaluate((mb) => window.storagePage!.hashOnly(mb), 256);

    const cold = await ensure(settings);
    if (!cold.ok) throw new Error(`cold download failed: ${JSON.stringify(cold.error)}`);
    const rates = cold.progress.map((event) => event.bytesPerSecond).filter((rate) => rate > 0);
    const warm = await ensure(settings);
    // bytes() reads into one ArrayBuffer: Chromium refuses that for a Blob over 2 GiB
    // (NotReadableError, measured here with 2100 MiB), so bigger files skip it.
    const read =
      size < 2 * 1024 * MiB
        ? await page.evaluate(([st, id, p]) => window.storagePage!.digest(st, id, p), [settings, 'bench', 'synthetic.bin'] as const)
        : undefined;
    if (read !== undefined && (read.sha256 !== sha256 || read.size !== size))
      throw new Error(`read back ${read.size} bytes with SHA-256 ${read.sha256}, expected ${sha256}`);

    const inFreshPage = <T>(work: (fresh: Page) => Promise<T>): Promise<Measured<T>> =>
      measuredInFreshPage(context, `${project.origin}/test/pages/storage.html`, work);
    const plain = await inFreshPage((fresh) =>
      fresh.evaluate(([st, id, p]) => window.storagePage!.readOnly(st, id, p), [settings, 'bench', 'synthetic.bin'] as const),
    );
    const sessionLoad = async (backend: 'wasm' | 'webgpu'): Promise<Record<string, unknown>> => {
      // A row every initializer has (the last one may be short).
      const row = Math.min(1_234, (size / (ROW_FLOATS * 4)) % CHUNK_ROWS || CHUNK_ROWS) - 1;
      const load = { modelId: 'bench', backend, row, chunkRows: CHUNK_ROWS };
      const session = await inFreshPage(async (fresh) => {
        await fresh.evaluate(([st, l]) => window.storagePage!.sessionLoad(st, { ...l, model: 'warmup.onnx', row: 0 }), [settings, load] as const);
        return fresh.evaluate(
          ([st, l]) => window.storagePage!.sessionLoad(st, { ...l, model: 'model.onnx', externalData: { path: 'synthetic.bin', file: 'synthetic.bin' } }),
          [settings, load] as const,
        );
      });
      if (!session.result.rowMatches)
        throw new Error(`${backend}: the session gathered a row that is not the stored bytes: the external data did not arrive whole`);
      return { ...figure(size, session.result.ms), vsPlainRead: ratio(plain.result.ms, session.result.ms), ...memory(session, size) };
    };
    const sessions = { wasm: await sessionLoad('wasm'), webgpu: await sessionLoad('webgpu') };

    const resume = await reloadResume(page, open, fileServer, ensure, { ...settings, root: 'bench-resume' }, size, sha256);

    const results = {
      benchmark: 'storage',
      date: new Date().toISOString(),
      machine: {
        description: process.env.BENCH_MACHINE ?? 'not described (set BENCH_MACHINE)',
        loadAverageAtStart: loadAtStart,
        cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        freeMemoryGiB: Math.round(freemem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        browser: `Chromium ${context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent))}`,
        node: process.version,
      },
      fileBytes: size,
      partBytes: PART_SIZE,
      fetchOnly: figure(fetchOnly.bytes, fetchOnly.ms),
      hashOnly: figure(hashOnly.bytes, hashOnly.ms),
      coldDownload: {
        ...figure(size, cold.ms),
        vsFetchOnly: ratio(fetchOnly.ms, cold.ms),
        progressEvents: cold.progress.length,
        reportedMibPerSecond: rates.length > 0 ? Math.round(rates.at(-1)! / MiB) : null,
      },
      warmEnsure: { ms: Math.round(warm.ms) },
      readBack: read === undefined ? null : figure(size, read.readMs),
      plainRead: { ...figure(size, plain.result.ms), ...memory(plain, size) },
      sessionLoad: sessions,
      reloadResume: resume,
    };
    await writeFile(join(REPO_ROOT, 'bench/results/storage.json'), `${JSON.stringify(results, null, 2)}\n`);
    print(results);
  } finally {
    await context.close();
    await project.close();
    await fileServer.close();
    await rm(profile, { recursive: true, force: true });
  }
}

function bytesSource(bytes: Uint8Array): FileSource {
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function memory(measured: Measured<unknown>, size: number): Record<string, number | null> {
  const perByte = (bytes: number | null): number | null => (bytes === null ? null : Math.round((bytes / size) * 100) / 100);
  return {
    jsHeapPeakBytes: measured.jsHeapPeakBytes,
    jsHeapPeakPerFileByte: perByte(measured.jsHeapPeakBytes),
    rendererRssPeakBytes: measured.rendererRssPeakBytes,
    rendererRssPeakPerFileByte: perByte(measured.rendererRssPeakBytes),
  };
}

/** Cuts a fresh download at half, reloads the page, and resumes it. */
async function reloadResume(
  page: Page,
  open: () => Promise<void>,
  fileServer: FileServer,
  ensure: (settings: StoreSettings) => Promise<EnsureOutcome>,
  settings: StoreSettings,
  size: number,
  sha256: string,
): Promise<{ cutAtBytes: number; resumedAtBytes: number; fetchedBytes: number; resumeMs: number }> {
  const cutAt = Math.floor(size / 2);
  const partsBeforeCut = Math.floor(cutAt / PART_SIZE);
  fileServer.reset();
  fileServer.misbehave('/bench/synthetic.bin', { stallAfter: cutAt });
  // The call stalls at the cut and ends with the reload ("execution context was destroyed").
  const interrupted = ensure(settings).catch((error: unknown) => error);
  const committedParts = (): Promise<number> => page.evaluate(([root, sha]) => window.storagePage!.committedParts(root, sha), [settings.root, sha256] as const);
  while ((await committedParts()) < partsBeforeCut) await new Promise((resolve) => setTimeout(resolve, 200));
  await page.reload();
  await open();
  await interrupted;
  fileServer.reset();
  const resumed = await ensure(settings);
  if (!resumed.ok) throw new Error(`resuming failed: ${JSON.stringify(resumed.error)}`);
  const request = fileServer.requests.find((r) => r.path === '/bench/synthetic.bin');
  return {
    cutAtBytes: cutAt,
    resumedAtBytes: Number(/^bytes=(\d+)-$/.exec(request?.range ?? '')?.[1] ?? 0),
    fetchedBytes: fileServer.requests.reduce((sum, r) => sum + r.bytesSent, 0),
    resumeMs: Math.round(resumed.ms),
  };
}

function print(results: Record<string, unknown>): void {
  type Figures = { ms: number; mibPerSecond?: number; vsPlainRead?: number; jsHeapPeakPerFileByte?: number; rendererRssPeakPerFileByte?: number | null };
  const row = (name: string, { ms, mibPerSecond }: Figures): string =>
    `  ${name.padEnd(19)} ${String(ms).padStart(7)} ms${mibPerSecond !== undefined ? `  ${String(mibPerSecond).padStart(5)} MiB/s` : ''}`;
  const sessions = Object.entries(results.sessionLoad as Record<string, Figures>);
  const rows = [
    ...['fetchOnly', 'hashOnly', 'coldDownload', 'warmEnsure', 'readBack', 'plainRead']
      .filter((name) => results[name] !== null)
      .map((name) => row(name, results[name] as Figures)),
    ...sessions.map(([backend, figures]) => row(`sessionLoad ${backend}`, figures)),
  ];
  const peaks = (name: string, m: Figures): string =>
    `  ${name.padEnd(19)} JS heap peak ${m.jsHeapPeakPerFileByte} x the file, renderer RSS peak ${m.rendererRssPeakPerFileByte ?? '-'} x`;
  const resume = results.reloadResume as { cutAtBytes: number; resumedAtBytes: number; fetchedBytes: number; resumeMs: number };
  const cold = results.coldDownload as { reportedMibPerSecond: number | null; vsFetchOnly: number };
  console.log(
    [
      `storage (${(results.fileBytes as number) / MiB} MiB file, ${(results.partBytes as number) / MiB} MiB parts):`,
      ...rows,
      `  (the cold download's last progress event said ${cold.reportedMibPerSecond ?? '-'} MiB/s)`,
      `  cold download: ${cold.vsFetchOnly} x the throughput of fetch only`,
      ...sessions.map(([backend, figures]) => `  session load ${backend} (external data): ${figures.vsPlainRead} x the throughput of a plain read`),
      peaks('plainRead', results.plainRead as Figures),
      ...sessions.map(([backend, figures]) => peaks(`sessionLoad ${backend}`, figures)),
      `  reloadResume        ${String(resume.resumeMs).padStart(7)} ms  cut at ${resume.cutAtBytes / MiB} MiB, resumed at ${resume.resumedAtBytes / MiB} MiB, fetched ${(resume.fetchedBytes / MiB).toFixed(1)} MiB`,
      '  -> bench/results/storage.json',
    ].join('\n'),
  );
}

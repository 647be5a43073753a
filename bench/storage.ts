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
 *   read back        bytes(): the whole file from OPFS into one ArrayBuffer
 *   reload resume    a download cut at half, the page reloaded, ensureModel again: where it
 *                    resumed, the bytes it fetched and the time it took
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, release, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, REPO_ROOT, chromiumPath, serveProject } from '../scripts/lib/browser.ts';
import { startFileServer, syntheticSource, type FileServer } from '../test/support/file-server.ts';
import type { EnsureOutcome, StoreSettings } from '../test/storage/storage-page.ts';

const MiB = 1024 * 1024;
const PART_SIZE = 32 * MiB;

interface Figure {
  readonly ms: number;
  readonly mibPerSecond: number;
}

const figure = (bytes: number, ms: number): Figure => ({ ms: Math.round(ms), mibPerSecond: Math.round(bytes / MiB / (ms / 1000)) });

export async function run(): Promise<void> {
  const loadAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const size = Number(process.env.BENCH_STORAGE_MB ?? 512) * MiB;
  const synthetic = syntheticSource(size);
  const hashStarted = performance.now();
  const sha256 = synthetic.sha256();
  console.log(`storage: ${size / MiB} MiB synthetic file, SHA-256 in Node ${Math.round(performance.now() - hashStarted)} ms`);

  const fileServer = await startFileServer({ '/bench/synthetic.bin': synthetic });
  const project = await serveProject();
  // An on-disk profile: a default context is off the record, and its OPFS lives in memory.
  const profile = await mkdtemp(join(tmpdir(), 'webdiffusion-bench-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const open = async (): Promise<void> => {
      await page.waitForFunction(() => window.storagePage !== undefined, undefined, { timeout: 120_000 });
    };
    await page.goto(`${project.origin}/test/storage/storage.html`);
    await open();
    await page.evaluate(() => window.storagePage!.clear());

    const url = `${fileServer.origin}/bench/synthetic.bin`;
    const source = { id: 'bench', baseUrl: `${fileServer.origin}/bench/`, files: [{ path: 'synthetic.bin', size, sha256 }] };
    const settings: StoreSettings = { root: 'bench', partSize: PART_SIZE };
    const ensure = (s: StoreSettings): Promise<EnsureOutcome> => page.evaluate(([src, st]) => window.storagePage!.ensure(src, st), [source, s] as const);

    const fetchOnly = await page.evaluate((u) => window.storagePage!.fetchOnly(u), url);
    const hashOnly = await page.evaluate((mb) => window.storagePage!.hashOnly(mb), 256);

    const cold = await ensure(settings);
    if (!cold.ok) throw new Error(`cold download failed: ${JSON.stringify(cold.error)}`);
    const rates = cold.progress.map((event) => event.bytesPerSecond).filter((rate) => rate > 0);
    const warm = await ensure(settings);
    const read = await page.evaluate(([st, id, p]) => window.storagePage!.digest(st, id, p), [settings, 'bench', 'synthetic.bin'] as const);
    if (read.sha256 !== sha256 || read.size !== size) throw new Error(`read back ${read.size} bytes with SHA-256 ${read.sha256}, expected ${sha256}`);

    const resume = await reloadResume(page, open, fileServer, ensure, { ...settings, root: 'bench-resume' }, size);

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
        progressEvents: cold.progress.length,
        reportedMibPerSecond: rates.length > 0 ? Math.round(rates.at(-1)! / MiB) : null,
      },
      warmEnsure: { ms: Math.round(warm.ms) },
      readBack: figure(size, read.readMs),
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

/** Cuts a fresh download at half, reloads the page, and resumes it. */
async function reloadResume(
  page: Page,
  open: () => Promise<void>,
  fileServer: FileServer,
  ensure: (settings: StoreSettings) => Promise<EnsureOutcome>,
  settings: StoreSettings,
  size: number,
): Promise<{ cutAtBytes: number; resumedAtBytes: number; fetchedBytes: number; resumeMs: number }> {
  const cutAt = Math.floor(size / 2);
  const partsBeforeCut = Math.floor(cutAt / PART_SIZE);
  fileServer.reset();
  fileServer.misbehave('/bench/synthetic.bin', { stallAfter: cutAt });
  // The call stalls at the cut and ends with the reload ("execution context was destroyed").
  const interrupted = ensure(settings).catch((error: unknown) => error);
  const committedParts = (): Promise<number> =>
    page.evaluate(async (root) => {
      const [sha256] = await window.storagePage!.listDirectory(root, ['blobs']);
      return sha256 === undefined ? 0 : window.storagePage!.committedParts(root, sha256);
    }, settings.root);
  while ((await committedParts()) < partsBeforeCut) await new Promise((resolve) => setTimeout(resolve, 200));
  await page.reload();
  await open();
  await interrupted;
  fileServer.reset();
  const resumed = await ensure(settings);
  if (!resumed.ok) throw new Error(`resuming failed: ${JSON.stringify(resumed.error)}`);
  const [request] = fileServer.requests;
  return {
    cutAtBytes: cutAt,
    resumedAtBytes: Number(/^bytes=(\d+)-$/.exec(request?.range ?? '')?.[1] ?? 0),
    fetchedBytes: fileServer.requests.reduce((sum, r) => sum + r.bytesSent, 0),
    resumeMs: Math.round(resumed.ms),
  };
}

function print(results: Record<string, unknown>): void {
  const rows = ['fetchOnly', 'hashOnly', 'coldDownload', 'warmEnsure', 'readBack'].map((name) => {
    const { ms, mibPerSecond } = results[name] as { ms: number; mibPerSecond?: number };
    return `  ${name.padEnd(14)} ${String(ms).padStart(7)} ms${mibPerSecond !== undefined ? `  ${String(mibPerSecond).padStart(5)} MiB/s` : ''}`;
  });
  const resume = results.reloadResume as { cutAtBytes: number; resumedAtBytes: number; fetchedBytes: number; resumeMs: number };
  const cold = results.coldDownload as { reportedMibPerSecond: number | null };
  console.log(
    [
      `storage (${(results.fileBytes as number) / MiB} MiB file, ${(results.partBytes as number) / MiB} MiB parts):`,
      ...rows,
      `  (the cold download's last progress event said ${cold.reportedMibPerSecond ?? '-'} MiB/s)`,
      `  reloadResume   ${String(resume.resumeMs).padStart(7)} ms  cut at ${resume.cutAtBytes / MiB} MiB, resumed at ${resume.resumedAtBytes / MiB} MiB, fetched ${(resume.fetchedBytes / MiB).toFixed(1)} MiB`,
      '  -> bench/results/storage.json',
    ].join('\n'),
  );
}

/**
 * The GPU bench's report: the parts' JSON (bench/gpu/run.sh writes them into bench/gpu/work/parts/)
 * merged into one JSON, and a short Markdown table beside it, with the goals as columns.
 *
 *   node report.mjs --parts DIR --out FILE.json   (writes FILE.md too)
 *
 * Nothing is computed that was not measured: a part that failed or was not run shows as such.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

type Json = Record<string, unknown>;

/** The goals the figures are held against (issue 17). */
export const GOALS = {
  webgpuOverNativeStep: 1.5,
  picture1Ms: 1000,
} as const;

const { values } = parseArgs({ options: { parts: { type: 'string' }, out: { type: 'string' } } });
if (values.parts === undefined || values.out === undefined) {
  console.error('usage: report.mjs --parts DIR --out FILE.json');
  process.exit(2);
}
const partsDir = values.parts;

function read(name: string): Json | undefined {
  const file = join(partsDir, name);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
}

/** Peak GPU memory in use during a part, and its rise over the first sample, in MiB. */
function memory(name: string): { peakMiB: number; riseMiB: number } | undefined {
  const file = join(partsDir, `${name}.mem`);
  if (!existsSync(file)) return undefined;
  const samples = readFileSync(file, 'utf8')
    .split('\n')
    .map(Number)
    .filter((n) => Number.isFinite(n) && n > 0);
  if (samples.length === 0) return undefined;
  const peak = Math.max(...samples);
  return { peakMiB: peak, riseMiB: peak - samples[0]! };
}

const names = readdirSync(partsDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length));
const parts: Record<string, Json> = {};
for (const name of names.sort()) {
  parts[name] = { ...read(`${name}.json`), status: read(`${name}.status`), memory: memory(name) };
}
for (const status of readdirSync(partsDir).filter((f) => f.endsWith('.status'))) {
  const name = status.slice(0, -'.status'.length);
  parts[name] ??= { status: read(status), missing: 'the part wrote no figures' };
}

const adapter = (parts.adapter?.adapter ?? {}) as { info?: { vendor?: string; architecture?: string; description?: string; device?: string } };
const software = adapter.info?.architecture === 'swiftshader' || /swiftshader/i.test(adapter.info?.description ?? '');
const reference = (parts.reference?.reference ?? {}) as { device?: string; variants?: Record<string, Json> };
const tiny = (parts.tiny?.models ?? {}) as Record<string, Json>;

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '—' : x.toFixed(digits));
const yesNo = (ok: boolean | undefined): string => (ok === undefined ? '—' : ok ? 'yes' : 'NO');

interface Row {
  variant: string;
  loadMs?: number;
  warmUpMs?: number;
  unetStepMs?: number;
  nativeStepMs?: number;
  nativeStepSdpaMs?: number;
  ratio?: number;
  vaeDecodeMs?: number;
  picture1Ms?: number;
  picture4Ms?: number;
  peakMiB?: number;
  error?: string;
}

// fp16-unsafe: fp16 on a Dawn without robustness (bench/gpu/run.sh runs it when time is left).
const rows: Row[] = ['fp16', 'fp16-unsafe', 'q4', 'fp32']
  .filter((variant) => variant !== 'fp16-unsafe' || parts['full-fp16-unsafe'] !== undefined)
  .map((variant) => {
    const part = parts[`full-${variant}`] ?? {};
    // q4 computes in float32 on the GPU (its weights are dequantized), but the native figure it
    // stands against is fp16, what a native SD-Turbo runs in.
    const native = reference.variants?.[variant === 'fp32' ? 'fp32' : 'fp16'] ?? {};
    const unetStepMs = num(part.unetStepMs);
    const nativeStepMs = num(native.unetStepMs);
    const error = part.error as { message?: string } | undefined;
    const status = part.status as { timedOut?: boolean } | undefined;
    return {
      variant,
      loadMs: num(part.loadMs),
      warmUpMs: num(part.warmUpMs),
      unetStepMs,
      nativeStepMs,
      nativeStepSdpaMs: num(native.unetStepSdpaMs),
      ratio: unetStepMs !== undefined && nativeStepMs !== undefined ? unetStepMs / nativeStepMs : undefined,
      vaeDecodeMs: num(part.vaeDecodeMs),
      picture1Ms: num((part.picture1 as Json | undefined)?.totalMs),
      picture4Ms: num((part.picture4 as Json | undefined)?.totalMs),
      peakMiB: (part.memory as { peakMiB?: number } | undefined)?.peakMiB,
      ...(error?.message !== undefined ? { error: error.message.slice(0, 200) } : status?.timedOut === true ? { error: 'timed out' } : {}),
    };
  });

const tinyRows = Object.entries(tiny).map(([name, entry]) => ({
  name,
  precision: entry.precision as string | undefined,
  passed: num(entry.passed),
  of: num(entry.of),
  errors: num(entry.errors),
  error: (entry.error as { message?: string } | undefined)?.message,
}));
const fp16Tiny = tinyRows.find((r) => r.precision === 'fp16');

const summary = {
  figuresFrom: software ? 'SwiftShader (a CPU): NOT GPU figures' : (adapter.info?.description ?? adapter.info?.vendor ?? 'unknown adapter'),
  nativeDevice: reference.device,
  goals: GOALS,
  variants: rows,
  tiny: tinyRows,
  noNanOnFp16: fp16Tiny === undefined ? undefined : fp16Tiny.errors === 0 && fp16Tiny.error === undefined,
};
const report = { benchmark: 'gpu', date: new Date().toISOString(), summary, parts };
writeFileSync(values.out, JSON.stringify(report, null, 2) + '\n');

const lines = [
  `# GPU bench — ${summary.figuresFrom}`,
  '',
  `Native reference: PyTorch ${String((parts.reference?.reference as Json | undefined)?.torch ?? '—')} eager on ${reference.device ?? '—'}. Times in ms (medians), memory in MiB (nvidia-smi, whole GPU).`,
  '',
  `| variant | load | warm-up | UNet step | native step | native step (SDPA) | ratio (goal ≤ ${GOALS.webgpuOverNativeStep}) | VAE decode | 1-step picture (goal < ${GOALS.picture1Ms}) | 4-step picture | peak GPU MiB | error |`,
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows
    .map((r) =>
      [
        r.variant,
        fmt(r.loadMs, 0),
        fmt(r.warmUpMs, 0),
        fmt(r.unetStepMs),
        fmt(r.nativeStepMs),
        fmt(r.nativeStepSdpaMs),
        r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}x ${yesNo(r.ratio <= GOALS.webgpuOverNativeStep)}`,
        fmt(r.vaeDecodeMs),
        r.picture1Ms === undefined ? '—' : `${r.picture1Ms.toFixed(0)} ${yesNo(r.picture1Ms < GOALS.picture1Ms)}`,
        fmt(r.picture4Ms, 0),
        fmt(r.peakMiB, 0),
        r.error ?? '',
      ].join(' | '),
    )
    .map((row) => `| ${row} |`),
  '',
  '| tiny-shapes model | precision | judged right | errors (NaN/Inf pictures included) |',
  '|---|---|---|---|',
  ...tinyRows.map((r) => `| ${r.name} | ${r.precision ?? '—'} | ${r.passed ?? '—'} / ${r.of ?? '—'} | ${r.error ?? r.errors ?? '—'} |`),
  '',
  `No NaN on the fp16 path: ${yesNo(summary.noNanOnFp16)}`,
  '',
];
writeFileSync(values.out.replace(/\.json$/, '.md'), lines.join('\n'));

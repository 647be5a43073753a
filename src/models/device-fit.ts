/**
 * Device fitting: before anything is downloaded, decide whether and where a catalog model can run
 * on this device — WebGPU with the limits to request, the CPU (WebAssembly), or not at all, with
 * an error that says what is missing and which models would run instead.
 */
import type { BackendPreference } from '../engine.ts';
import { CapabilityError } from '../errors.ts';
import { RAISED_LIMITS } from '../gpu/device.ts';
import { CATALOG, computesInFloat32, type CatalogEntry, type CatalogVariant } from './catalog.ts';

/** What an adapter offers, as plain data (testable, and cheap to send to a worker). */
export interface AdapterProfile {
  readonly features: readonly string[];
  readonly limits: Readonly<Record<string, number>> & {
    readonly maxBufferSize: number;
    readonly maxStorageBufferBindingSize: number;
  };
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly device?: string; readonly description?: string };
  /**
   * The adapter draws on the CPU (`isFallbackAdapter`, or a software rasteriser by name:
   * SwiftShader, llvmpipe, lavapipe, WARP). A tiny-shapes step takes ~0.9 s on SwiftShader and
   * ~12 ms on ONNX Runtime's CPU backend here, so 'auto' prefers the CPU on such an adapter.
   */
  readonly software?: boolean;
  /**
   * GPU memory the caller believes is available, in bytes. WebGPU does not report it, so it is
   * unchecked (with a warning) unless the caller knows better (a user setting, a known device).
   */
  readonly memoryBytes?: number;
}

export type Backend = 'webgpu' | 'wasm';

export interface DeviceFit {
  readonly backend: Backend;
  readonly variant: CatalogVariant;
  /** Pass to `adapter.requestDevice({ requiredLimits })`; empty for 'wasm'. */
  readonly requiredLimits: Readonly<Record<string, number>>;
  readonly warnings: readonly string[];
}

/** One thing a device lacks for a variant. */
export interface Shortfall {
  readonly kind: 'webgpu' | 'feature' | 'limit' | 'memory' | 'cpu';
  /** The feature or limit name ('shader-f16', 'maxStorageBufferBindingSize', 'gpu-memory', …). */
  readonly name: string;
  readonly needed?: number;
  readonly available?: number;
  readonly message: string;
}

/**
 * What the CPU path can hold. wasm32 memory is 4 GiB (REFERENCE.md), and onnxruntime-web keeps the
 * model bytes and the unpacked weights in it at once, so weights count twice; we keep a quarter
 * of it free for the runtime itself. fp16 graphs are excluded because onnxruntime's CPU kernels
 * cover float16 for few operators.
 */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;
const WASM_USABLE_BYTES = WASM_MEMORY_BYTES * 0.75;

const GIB = 2 ** 30;
const MIB = 2 ** 20;
function formatBytes(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${Math.ceil(bytes / MIB)} MiB`;
}

function gpuNeedBytes(variant: CatalogVariant): number {
  return variant.memory.weightsBytes + variant.memory.activationsBytes;
}

/** A shortfall in a few words, for a list's label ("needs shader-f16"); its `message` says it in full. */
export function shortfallSummary(shortfall: Shortfall): string {
  switch (shortfall.kind) {
    case 'webgpu':
      return 'needs WebGPU';
    case 'feature':
      return `needs ${shortfall.name}`;
    case 'limit':
      return 'GPU buffers too small';
    case 'memory':
      return 'not enough GPU memory';
    case 'cpu':
      return shortfall.name === 'precision' ? 'CPU runs fp32 only' : 'too big for the CPU';
  }
}

/** What `profile` lacks to run `variant` on WebGPU; empty when it fits. */
export function gpuShortfalls(profile: AdapterProfile | null, variant: CatalogVariant): Shortfall[] {
  if (profile === null) return [{ kind: 'webgpu', name: 'webgpu', message: 'WebGPU is not available in this browser' }];
  const shortfalls: Shortfall[] = [];
  for (const feature of variant.requiredFeatures) {
    if (!profile.features.includes(feature)) {
      shortfalls.push({ kind: 'feature', name: feature, message: `the GPU lacks the WebGPU feature "${feature}" (needed for ${variant.precision})` });
    }
  }
  const binding = variant.memory.largestBindingBytes;
  for (const limit of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
    const available = profile.limits[limit];
    if (available < binding) {
      shortfalls.push({
        kind: 'limit',
        name: limit,
        needed: binding,
        available,
        message: `${limit} is ${formatBytes(available)}; the model binds a ${formatBytes(binding)} tensor`,
      });
    }
  }
  const need = gpuNeedBytes(variant);
  if (profile.memoryBytes !== undefined && profile.memoryBytes < need) {
    shortfalls.push({
      kind: 'memory',
      name: 'gpu-memory',
      needed: need,
      available: profile.memoryBytes,
      message: `the GPU has about ${formatBytes(profile.memoryBytes)}; the model needs about ${formatBytes(need)}`,
    });
  }
  return shortfalls;
}

/**
 * What the CPU (WebAssembly) path lacks to run `variant`; empty when it fits.
 * @param asked true when the caller asked for the CPU: a float16 graph is then tried (with a
 *   warning) rather than refused
 */
export function cpuShortfalls(variant: CatalogVariant, asked = false): Shortfall[] {
  const shortfalls: Shortfall[] = [];
  if (!computesInFloat32(variant.precision) && !asked) {
    shortfalls.push({ kind: 'cpu', name: 'precision', message: `the CPU backend runs fp32 models, not ${variant.precision}` });
  }
  const need = 2 * variant.memory.weightsBytes + variant.memory.activationsBytes;
  if (need > WASM_USABLE_BYTES) {
    shortfalls.push({
      kind: 'cpu',
      name: 'wasm-memory',
      needed: need,
      available: WASM_USABLE_BYTES,
      message: `the CPU backend can hold ${formatBytes(WASM_USABLE_BYTES)}; the model needs about ${formatBytes(need)}`,
    });
  }
  return shortfalls;
}

function requiredLimitsFor(profile: AdapterProfile): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = profile.limits[name];
    if (value !== undefined) limits[name] = value;
  }
  return limits;
}

type Attempt = { fit: DeviceFit; problems?: undefined } | { fit?: undefined; problems: { variant: string; shortfalls: Shortfall[] }[] };

function attempt(profile: AdapterProfile | null, entry: CatalogEntry, preference: BackendPreference = 'auto'): Attempt {
  const problems: { variant: string; shortfalls: Shortfall[] }[] = [];
  if (preference === 'auto' && profile?.software === true) {
    // A software GPU is slower than the CPU backend: the CPU where the model fits there.
    const cpu = cpuAttempt(profile, entry, preference, []);
    if (cpu.fit !== undefined) return cpu;
  }
  if (preference !== 'wasm') {
    for (const variant of entry.variants) {
      const shortfalls = gpuShortfalls(profile, variant);
      if (shortfalls.length === 0 && profile !== null) {
        const warnings =
          profile.memoryBytes === undefined
            ? [`${entry.name} needs about ${formatBytes(gpuNeedBytes(variant))} of graphics memory; the browser cannot tell how much this GPU has, so a larger model may fail to load.`]
            : [];
        return { fit: { backend: 'webgpu', variant, requiredLimits: requiredLimitsFor(profile), warnings } };
      }
      if (profile !== null || preference === 'webgpu') problems.push({ variant: variant.id, shortfalls });
    }
  }
  if (preference === 'webgpu') return { problems };
  return cpuAttempt(profile, entry, preference, problems);
}

/** The CPU's turn: the first variant it can hold, with a warning that says why it runs there. */
function cpuAttempt(profile: AdapterProfile | null, entry: CatalogEntry, preference: BackendPreference, problems: { variant: string; shortfalls: Shortfall[] }[]): Attempt {
  const asked = preference === 'wasm';
  for (const variant of entry.variants) {
    const shortfalls = cpuShortfalls(variant, asked);
    if (shortfalls.length === 0) {
      const software = asked ? undefined : softwareGpuReason(profile);
      const why = asked
        ? 'The CPU backend was asked for'
        : (software ??
          (profile === null
            ? 'WebGPU is not available in this browser'
            : `WebGPU cannot run it here (${problems.flatMap((p) => p.shortfalls.map((s) => s.message)).join('; ')})`));
      const warnings = [`${why}, so ${entry.name} runs on the CPU (WebAssembly)${software !== undefined ? '' : ', which is much slower'}.`];
      if (!computesInFloat32(variant.precision)) {
        warnings.push(`${entry.name} is a ${variant.precision} export; ONNX Runtime's CPU kernels cover float16 for few operators, so it may fail to load there.`);
      }
      return { fit: { backend: 'wasm', variant, requiredLimits: {}, warnings } };
    }
    if (profile === null || asked) problems.push({ variant: variant.id, shortfalls: [...(asked ? [] : gpuShortfalls(null, variant)), ...shortfalls] });
  }
  return { problems };
}

/** Ids of the catalog models that would run on this device, on either backend. */
export function runnableModels(profile: AdapterProfile | null, catalog: readonly CatalogEntry[] = CATALOG): string[] {
  return catalog.filter((entry) => attempt(profile, entry).fit !== undefined).map((entry) => entry.id);
}

/**
 * Picks the first variant of `entry` this device can run — on WebGPU where it can, else on the
 * CPU for models small enough — and the limits to request, before anything is downloaded.
 * @param profile from `probeAdapter`; null when there is no WebGPU
 * @param catalog the models to suggest instead when this one cannot run
 * @param preference 'webgpu' or 'wasm' to allow only that backend ('wasm' then tries a float16
 *   variant too, with a warning)
 * @throws CapabilityError naming what is missing (`details.missing`: feature, limit or memory,
 *   with the needed and available values) and the catalog models that would run (`details.runnable`)
 */
export function fitModel(
  profile: AdapterProfile | null,
  entry: CatalogEntry,
  catalog: readonly CatalogEntry[] = CATALOG,
  preference: BackendPreference = 'auto',
): DeviceFit {
  const result = attempt(profile, entry, preference);
  if (result.fit !== undefined) return result.fit;
  const runnable = runnableModels(profile, catalog);
  const missing = result.problems.flatMap((p) => p.shortfalls.map((s) => ({ variant: p.variant, ...s })));
  const reasons = result.problems.map((p) => `${p.variant}: ${p.shortfalls.map((s) => s.message).join('; ')}`).join(' | ');
  const instead = runnable.length > 0 ? `Models that would run here: ${runnable.join(', ')}.` : 'No catalog model runs on this device.';
  throw new CapabilityError(`${entry.name} cannot run on this device (${reasons}). ${instead}`, {
    model: entry.id,
    missing,
    runnable,
  });
}

/**
 * Reads what fitting needs from an adapter. `GPUSupportedLimits` exposes its values as prototype
 * getters, which spread and `Object.keys` skip, so they are read with `for…in`.
 */
export function probeAdapter(adapter: GPUAdapter | null): AdapterProfile | null {
  if (adapter === null) return null;
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  // `adapter.info` arrived in Chrome 127; older browsers only had requestAdapterInfo().
  // `isFallbackAdapter` moved from the adapter to its info in Chrome 136.
  const info = (adapter as { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  const fallback = info?.isFallbackAdapter === true || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const described = info !== undefined ? { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description } : undefined;
  return {
    features: [...adapter.features],
    limits: limits as AdapterProfile['limits'],
    ...(described !== undefined ? { info: described } : {}),
    software: fallback || softwareRasteriser(described) !== undefined,
  };
}

/** CPU rasterisers that WebGPU implementations fall back to, as their adapters name themselves. */
const SOFTWARE_RASTERISERS = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

/** The software rasteriser the adapter's info names, if any. */
function softwareRasteriser(info: AdapterProfile['info']): string | undefined {
  const { vendor = '', architecture = '', device = '', description = '' } = info ?? {};
  for (const text of [architecture, description, device, vendor]) {
    const match = SOFTWARE_RASTERISERS.exec(text);
    if (match !== null) return match[0].toLowerCase() === 'swiftshader' ? 'SwiftShader' : match[0];
  }
  return undefined;
}

/**
 * Why 'auto' runs a model on the CPU on this adapter, for `ModelInfo.warnings`; undefined when the
 * adapter is a hardware GPU.
 */
export function softwareGpuReason(profile: AdapterProfile | null): string | undefined {
  if (profile?.software !== true) return undefined;
  return `The GPU here is a software rasteriser (${softwareRasteriser(profile.info) ?? 'a fallback adapter'}), slower than the CPU backend`;
}

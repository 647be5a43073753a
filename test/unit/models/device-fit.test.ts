/**
 * Device fitting over a table of adapter profiles: which catalog models run where, and errors
 * that name what is missing and what would run instead.
 */
import { describe, expect, it } from 'vitest';
import { CapabilityError } from '../../../src/errors.ts';
import { CATALOG, getCatalogEntry } from '../../../src/models/catalog.ts';
import { type AdapterProfile, cpuShortfalls, fitModel, gpuShortfalls, probeAdapter, runnableModels, shortfallSummary } from '../../../src/models/device-fit.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function profile(binding: number, options: { f16?: boolean; memoryBytes?: number; software?: boolean } = {}): AdapterProfile {
  return {
    features: options.f16 === false ? [] : ['shader-f16', 'timestamp-query'],
    limits: {
      maxBufferSize: Math.max(binding, 256 * MiB),
      maxStorageBufferBindingSize: binding,
      maxComputeWorkgroupStorageSize: 32768,
      maxStorageBuffersPerShaderStage: 10,
    },
    ...(options.memoryBytes !== undefined ? { memoryBytes: options.memoryBytes } : {}),
    ...(options.software !== undefined ? { software: options.software, info: { architecture: 'swiftshader', vendor: 'google' } } : {}),
  };
}

type Row = [label: string, profile: AdapterProfile | null, expected: Record<string, 'webgpu' | 'wasm' | 'none'>];

const TABLE: Row[] = [
  [
    'no WebGPU',
    null,
    { 'sd-turbo-fp16': 'none', 'sd-turbo-webnn': 'none', 'sd-1.5-webnn': 'none', 'sdxl-turbo-q4f16': 'none', 'lcm-dreamshaper-v7': 'none', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'wasm', 'tiny-shapes-turbo': 'wasm', 'tiny-shapes-flow': 'wasm', 'tiny-shapes-q8': 'wasm', 'tiny-shapes-q4': 'wasm', 'tiny-shapes-lm': 'wasm' },
  ],
  [
    'no shader-f16',
    profile(2 * GiB, { f16: false }),
    { 'sd-turbo-fp16': 'none', 'sd-turbo-webnn': 'none', 'sd-1.5-webnn': 'none', 'sdxl-turbo-q4f16': 'none', 'lcm-dreamshaper-v7': 'none', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'webgpu', 'tiny-shapes-turbo': 'webgpu', 'tiny-shapes-flow': 'webgpu', 'tiny-shapes-q8': 'webgpu', 'tiny-shapes-q4': 'webgpu', 'tiny-shapes-lm': 'webgpu' },
  ],
  [
    '128 MiB storage-binding limit (the WebGPU default)',
    profile(128 * MiB),
    // SDXL has no attention at the 64x64 latent level, so its largest tensor is estimated at 128 MiB.
    { 'sd-turbo-fp16': 'none', 'sd-turbo-webnn': 'none', 'sd-1.5-webnn': 'none', 'sdxl-turbo-q4f16': 'webgpu', 'lcm-dreamshaper-v7': 'none', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'webgpu', 'tiny-shapes-turbo': 'webgpu', 'tiny-shapes-flow': 'webgpu', 'tiny-shapes-q8': 'webgpu', 'tiny-shapes-q4': 'webgpu', 'tiny-shapes-lm': 'webgpu' },
  ],
  [
    '1 GiB of GPU memory',
    profile(1 * GiB, { memoryBytes: 1 * GiB }),
    { 'sd-turbo-fp16': 'none', 'sd-turbo-webnn': 'none', 'sd-1.5-webnn': 'none', 'sdxl-turbo-q4f16': 'none', 'lcm-dreamshaper-v7': 'none', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'webgpu', 'tiny-shapes-turbo': 'webgpu', 'tiny-shapes-flow': 'webgpu', 'tiny-shapes-q8': 'webgpu', 'tiny-shapes-q4': 'webgpu', 'tiny-shapes-lm': 'webgpu' },
  ],
  [
    '4 GiB of GPU memory',
    profile(1 * GiB, { memoryBytes: 4 * GiB }),
    { 'sd-turbo-fp16': 'webgpu', 'sd-turbo-webnn': 'webgpu', 'sd-1.5-webnn': 'webgpu', 'sdxl-turbo-q4f16': 'webgpu', 'lcm-dreamshaper-v7': 'webgpu', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'webgpu', 'tiny-shapes-turbo': 'webgpu', 'tiny-shapes-flow': 'webgpu', 'tiny-shapes-q8': 'webgpu', 'tiny-shapes-q4': 'webgpu', 'tiny-shapes-lm': 'webgpu' },
  ],
  [
    // SwiftShader as Chromium offers it here: no shader-f16, and the CPU backend is faster.
    'a software adapter without shader-f16',
    profile(2 * GiB, { f16: false, software: true }),
    { 'sd-turbo-fp16': 'none', 'sd-turbo-webnn': 'none', 'sd-1.5-webnn': 'none', 'sdxl-turbo-q4f16': 'none', 'lcm-dreamshaper-v7': 'none', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'wasm', 'tiny-shapes-turbo': 'wasm', 'tiny-shapes-flow': 'wasm', 'tiny-shapes-q8': 'wasm', 'tiny-shapes-q4': 'wasm', 'tiny-shapes-lm': 'wasm' },
  ],
  [
    // What the CPU cannot hold (float16 exports) stays on the software GPU.
    'a software adapter with shader-f16 and 4 GiB',
    profile(1 * GiB, { memoryBytes: 4 * GiB, software: true }),
    { 'sd-turbo-fp16': 'webgpu', 'sd-turbo-webnn': 'webgpu', 'sd-1.5-webnn': 'webgpu', 'sdxl-turbo-q4f16': 'webgpu', 'lcm-dreamshaper-v7': 'webgpu', 'z-image-turbo-q4f16': 'none', 'flux2-klein-4b-q4': 'none', 'tiny-shapes': 'wasm', 'tiny-shapes-turbo': 'wasm', 'tiny-shapes-flow': 'wasm', 'tiny-shapes-q8': 'wasm', 'tiny-shapes-q4': 'wasm', 'tiny-shapes-lm': 'wasm' },
  ],
  [
    // The diffusion transformers need several GB and bindings past 1 GiB's default share.
    '16 GiB of GPU memory and 1 GiB bindings, with shader-f16',
    profile(1 * GiB, { memoryBytes: 16 * GiB }),
    { 'sd-turbo-fp16': 'webgpu', 'sd-turbo-webnn': 'webgpu', 'sd-1.5-webnn': 'webgpu', 'sdxl-turbo-q4f16': 'webgpu', 'lcm-dreamshaper-v7': 'webgpu', 'z-image-turbo-q4f16': 'webgpu', 'flux2-klein-4b-q4': 'webgpu', 'tiny-shapes': 'webgpu', 'tiny-shapes-turbo': 'webgpu', 'tiny-shapes-flow': 'webgpu', 'tiny-shapes-q8': 'webgpu', 'tiny-shapes-q4': 'webgpu', 'tiny-shapes-lm': 'webgpu' },
  ],
];

function outcome(p: AdapterProfile | null, id: string): 'webgpu' | 'wasm' | 'none' {
  try {
    return fitModel(p, getCatalogEntry(id)).backend;
  } catch (e) {
    if (e instanceof CapabilityError) return 'none';
    throw e;
  }
}

describe('fitModel over adapter profiles', () => {
  it.each(TABLE)('%s', (_label, p, expected) => {
    expect(Object.fromEntries(CATALOG.map((entry) => [entry.id, outcome(p, entry.id)]))).toEqual(expected);
    expect(runnableModels(p)).toEqual(Object.keys(expected).filter((id) => expected[id] !== 'none'));
  });
});

function capabilityError(p: AdapterProfile | null, id: string): CapabilityError {
  try {
    fitModel(p, getCatalogEntry(id));
  } catch (e) {
    if (e instanceof CapabilityError) return e;
    throw e;
  }
  throw new Error(`${id} unexpectedly fits`);
}

describe('what the errors say', () => {
  it('no WebGPU: says so, and that tiny-shapes would run', () => {
    const e = capabilityError(null, 'sd-turbo-fp16');
    expect(e.code).toBe('capability');
    expect(e.message).toMatch(/WebGPU is not available/);
    expect(e.message).toMatch(/Models that would run here: tiny-shapes/);
    expect(e.details?.runnable).toEqual(['tiny-shapes', 'tiny-shapes-turbo', 'tiny-shapes-flow', 'tiny-shapes-q8', 'tiny-shapes-q4', 'tiny-shapes-lm']);
  });

  it('no shader-f16: names the feature', () => {
    const e = capabilityError(profile(2 * GiB, { f16: false }), 'sd-turbo-fp16');
    expect(e.message).toContain('"shader-f16"');
    expect(e.details?.missing).toEqual([expect.objectContaining({ kind: 'feature', name: 'shader-f16' })]);
  });

  it('128 MiB binding limit: names the limit with the needed and available bytes', () => {
    const e = capabilityError(profile(128 * MiB), 'sd-turbo-fp16');
    expect(e.message).toContain('maxStorageBufferBindingSize is 128 MiB');
    expect(e.details?.missing).toContainEqual(
      expect.objectContaining({ kind: 'limit', name: 'maxStorageBufferBindingSize', needed: 256 * MiB, available: 128 * MiB }),
    );
  });

  it('1 GiB: names GPU memory needed and available', () => {
    const e = capabilityError(profile(1 * GiB, { memoryBytes: 1 * GiB }), 'sd-turbo-fp16');
    expect(e.message).toMatch(/the GPU has about 1\.0 GiB; the model needs about 2\.8 GiB/);
    expect(e.details?.missing).toEqual([expect.objectContaining({ kind: 'memory', name: 'gpu-memory', available: GiB })]);
  });
});

describe('a fit', () => {
  it('on WebGPU requests the adapter\'s own limits and warns that GPU memory is unknown', () => {
    const p = profile(2 * GiB);
    const fit = fitModel(p, getCatalogEntry('sd-turbo-fp16'));
    expect(fit.backend).toBe('webgpu');
    expect(fit.variant.id).toBe('fp16');
    expect(fit.requiredLimits).toEqual(p.limits);
    expect(fit.warnings.join(' ')).toMatch(/2\.8 GiB of graphics memory; the browser cannot tell how much this GPU has/);
  });

  it('on the CPU says WebGPU is missing and that it is slower', () => {
    const fit = fitModel(null, getCatalogEntry('tiny-shapes'));
    expect(fit).toMatchObject({ backend: 'wasm', requiredLimits: {} });
    expect(fit.warnings).toEqual([expect.stringMatching(/WebGPU is not available.*CPU \(WebAssembly\).*slower/)]);
  });

  it('on a software adapter runs on the CPU and says why, without calling it slower', () => {
    const fit = fitModel(profile(2 * GiB, { f16: false, software: true }), getCatalogEntry('tiny-shapes'));
    expect(fit.backend).toBe('wasm');
    expect(fit.warnings).toEqual(['The GPU here is a software rasteriser (SwiftShader), slower than the CPU backend, so tiny-shapes runs on the CPU (WebAssembly).']);
  });

  it("on a software adapter 'webgpu' still runs on the GPU", () => {
    expect(fitModel(profile(2 * GiB, { f16: false, software: true }), getCatalogEntry('tiny-shapes'), CATALOG, 'webgpu').backend).toBe('webgpu');
  });

  it('with known memory has no warnings', () => {
    expect(fitModel(profile(GiB, { memoryBytes: 4 * GiB }), getCatalogEntry('tiny-shapes')).warnings).toEqual([]);
  });
});

describe('probeAdapter', () => {
  it('returns null without an adapter', () => {
    expect(probeAdapter(null)).toBeNull();
  });

  it('reads features, limits exposed as prototype getters, and info', () => {
    class Limits {
      get maxBufferSize() {
        return 2 * GiB;
      }
      get maxStorageBufferBindingSize() {
        return GiB;
      }
    }
    // WebIDL attributes are enumerable accessors on the prototype.
    for (const key of ['maxBufferSize', 'maxStorageBufferBindingSize']) {
      Object.defineProperty(Limits.prototype, key, { ...Object.getOwnPropertyDescriptor(Limits.prototype, key), enumerable: true });
    }
    const adapter = {
      features: new Set(['shader-f16']),
      limits: new Limits(),
      info: { vendor: 'acme', architecture: 'rdna', device: '', description: 'Acme GPU' },
    } as unknown as GPUAdapter;
    expect(probeAdapter(adapter)).toEqual({
      features: ['shader-f16'],
      limits: { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: GiB },
      info: { vendor: 'acme', architecture: 'rdna', device: '', description: 'Acme GPU' },
      software: false,
    });
  });

  it.each([
    ['isFallbackAdapter on the info (Chrome 136 on)', { info: { vendor: 'google', architecture: '', device: '', description: '', isFallbackAdapter: true } }],
    ['isFallbackAdapter on the adapter (before)', { isFallbackAdapter: true }],
    ["SwiftShader's architecture", { info: { vendor: 'google', architecture: 'swiftshader', device: '', description: '' } }],
    ['llvmpipe in the description', { info: { vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } }],
  ])('tells a software adapter by %s', (_how, fields) => {
    const adapter = { features: new Set(), limits: {}, ...fields } as unknown as GPUAdapter;
    expect(probeAdapter(adapter)?.software).toBe(true);
  });
});

describe('a backend asked for', () => {
  const turbo = getCatalogEntry('sd-turbo-fp16');
  const small = { ...turbo, variants: [{ ...turbo.variants[0]!, memory: { ...turbo.variants[0]!.memory, weightsBytes: 4 * MiB, activationsBytes: 64 * MiB } }] };

  it("'wasm' tries a small float16 model on the CPU, warning that it may not load", () => {
    const fit = fitModel(profile(2 * GiB), small, CATALOG, 'wasm');
    expect(fit.backend).toBe('wasm');
    expect(fit.warnings.join(' ')).toMatch(/CPU backend was asked for.*fp16 export/s);
  });

  it("'wasm' still refuses a model too big for WebAssembly memory", () => {
    expect(() => fitModel(profile(2 * GiB), turbo, CATALOG, 'wasm')).toThrow(/CPU backend can hold 3\.0 GiB/);
  });

  it("'webgpu' never falls back to the CPU", () => {
    const tiny = getCatalogEntry('tiny-shapes');
    expect(() => fitModel(null, tiny, CATALOG, 'webgpu')).toThrow(CapabilityError);
    expect(fitModel(null, tiny, CATALOG, 'auto').backend).toBe('wasm');
  });
});

describe('shortfallSummary (the few words a model list shows)', () => {
  it('names each thing missing, in the order device fitting finds them', () => {
    const sdTurbo = getCatalogEntry('sd-turbo-fp16').variants[0]!;
    expect(gpuShortfalls(null, sdTurbo).map(shortfallSummary)).toEqual(['needs WebGPU']);
    expect(gpuShortfalls(profile(2 * GiB, { f16: false }), sdTurbo).map(shortfallSummary)).toEqual(['needs shader-f16']);
    expect(gpuShortfalls(profile(64 * MiB), sdTurbo).map(shortfallSummary)).toContain('GPU buffers too small');
    expect(gpuShortfalls(profile(2 * GiB, { memoryBytes: GiB }), sdTurbo).map(shortfallSummary)).toEqual(['not enough GPU memory']);
    expect(cpuShortfalls(sdTurbo).map(shortfallSummary)).toEqual(['CPU runs fp32 only', 'too big for the CPU']);
  });

  it.each([
    ['z-image-turbo-q4f16', '6.2'],
    ['flux2-klein-4b-q4', '4.9'],
  ])('4 GiB: refuses %s (several GB of weights), naming what it needs', (id, needed) => {
    const e = capabilityError(profile(1 * GiB, { memoryBytes: 4 * GiB }), id);
    expect(e.message).toContain(`the GPU has about 4.0 GiB; the model needs about ${needed} GiB`);
    expect(e.details?.missing).toEqual([expect.objectContaining({ kind: 'memory', name: 'gpu-memory' })]);
    // and on the CPU backend neither fits wasm32's 4 GiB
    expect(e.details?.runnable).not.toContain(id);
  });
});

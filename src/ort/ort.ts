/**
 * The only module that imports onnxruntime-web.
 *
 * Two builds of ONNX Runtime's native WebGPU execution provider (plus its CPU 'wasm' provider),
 * each one self-contained module whose .wasm file sits next to it and is found through
 * `new URL(…, import.meta.url)`, which Vite serves in dev and emits in builds:
 * - 'onnxruntime-web/jspi', where the browser has JavaScript Promise Integration
 *   (`'Suspending' in WebAssembly`). It reads external data given as a Blob by ranges, one
 *   initializer at a time, straight into a GPU upload: weights go from the weight store's files
 *   to GPU buffers without the whole file ever being in JavaScript or wasm memory.
 * - 'onnxruntime-web/webgpu' (asyncify) elsewhere: it reads every external-data file whole into
 *   JavaScript memory before the session is created.
 * One build per page: the first session loads it. Sessions run on the GPUDevice we pass them
 * (src/gpu/device.ts), so model outputs and our own kernels share buffers.
 *
 * ONNX Runtime is imported dynamically, on the first session, so that bundlers give it a chunk
 * of its own: its threaded wasm starts each worker thread from its own module's URL
 * (`new Worker(import.meta.url)`), which must not be a chunk holding our engine too.
 *
 * Session creation and `run()` go through one queue: ONNX Runtime's wasm instance is single
 * threaded from JavaScript's point of view and must not be re-entered while a call awaits.
 */
import type * as ort from 'onnxruntime-web/webgpu';
import { float16ToFloat32 } from '../util/float16.ts';
import { SerialQueue } from '../util/serial-queue.ts';

/** Where sessions run: WebGPU, or ONNX Runtime's CPU ('wasm') provider as the fallback. */
export type Backend = 'webgpu' | 'wasm';

/** Which build of ONNX Runtime runs the sessions (see the top of this file). */
export type OrtRuntime = 'jspi' | 'asyncify';

/** The build this browser gets: JSPI where it has JavaScript Promise Integration. */
export function preferredRuntime(): OrtRuntime {
  return 'Suspending' in WebAssembly ? 'jspi' : 'asyncify';
}

export type Tensor = ort.Tensor;

/** Element types of the tensors we create. */
export type TensorDataType = 'float32' | 'float16' | 'int32' | 'int64';

/** One input or output of a model, as its session reports it. */
export interface TensorInfo {
  readonly name: string;
  /** ONNX element type: 'float32', 'float16', 'int64', … */
  readonly dtype: string;
  /** Dimensions; strings are symbolic ('batch'), absent when the model does not say. */
  readonly shape?: readonly (number | string)[];
}

export interface SessionOptions {
  readonly backend: Backend;
  /** The device WebGPU sessions run on; required for 'webgpu'. */
  readonly device?: GPUDevice;
  /** Keep outputs in GPU buffers (`tensor.gpuBuffer`) instead of copying them to the CPU. */
  readonly outputsOnGpu?: boolean;
  /**
   * The model's external-data files: `path` as the .onnx names it (relative to the .onnx's own
   * folder), `data` the file, e.g. a Blob the weight store reads lazily from disk.
   */
  readonly externalData?: readonly { readonly path: string; readonly data: Blob }[];
  /**
   * The build to run on (default `preferredRuntime()`); a page has one, loaded by its first
   * session, and a session asking for the other is refused. For the load benchmark.
   */
  readonly runtime?: OrtRuntime;
  /**
   * ONNX Runtime's log for this session, at 'info' or 'verbose' severity, to the console: where
   * each initializer was placed ("[Memory] SessionStateInitializer statically allocates …").
   */
  readonly logSeverity?: 'info' | 'verbose';
}

const queue = new SerialQueue();

/** External data this big or bigger goes to the asyncify build as a URL (see OrtSession.create). */
const STREAMED_EXTERNAL_DATA = 2 ** 30;

let runtime: { readonly kind: OrtRuntime; readonly module: Promise<typeof ort> } | undefined;
let loaded: typeof ort | undefined;

function loadRuntime(kind: OrtRuntime): Promise<typeof ort> {
  if (runtime !== undefined && runtime.kind !== kind) {
    return Promise.reject(new Error(`this page runs ONNX Runtime's ${runtime.kind} build; a session on the ${kind} build needs a page of its own`));
  }
  runtime ??= {
    kind,
    module: (kind === 'jspi' ? import('onnxruntime-web/jspi') : import('onnxruntime-web/webgpu')).then((module) => {
      // Node-assignment notices ("some nodes were not assigned to the preferred execution
      // providers") are expected for shape ops and would fill every page's console.
      module.env.logLevel = 'error';
      loaded = module;
      return module;
    }),
  };
  return runtime.module;
}

/** The runtime, loaded by the first session: tensors exist only for sessions to run on. */
function loadedRuntime(): typeof ort {
  if (loaded === undefined) throw new Error('ONNX Runtime is not loaded yet: create a session first');
  return loaded;
}

/** An ONNX Runtime session with its inputs and outputs as the model declares them. */
export class OrtSession {
  readonly backend: Backend;
  readonly runtime: OrtRuntime;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  private readonly session: ort.InferenceSession;
  /** Inputs given with every run: a LoRA-rewritten graph's branch inputs (src/lora/). */
  private fixedFeeds: Readonly<Record<string, Tensor>> = {};

  private constructor(session: ort.InferenceSession, backend: Backend, runtime: OrtRuntime) {
    this.session = session;
    this.backend = backend;
    this.runtime = runtime;
    this.inputs = session.inputMetadata.map(toTensorInfo);
    this.outputs = session.outputMetadata.map(toTensorInfo);
  }

  /**
   * Creates a session from a model file and its external data.
   *
   * Memory: ONNX Runtime takes the .onnx as bytes (no build accepts a Blob for it) and copies
   * them into its wasm heap; we read the Blob only inside the session queue, so that one model's
   * bytes are in JavaScript memory at a time, and drop them once the session exists: keep weights
   * in external data. External data is read by ONNX Runtime itself. The JSPI build keeps the
   * Blobs as they are and reads each initializer's byte range when it places it (1 MiB stream
   * reads into one buffer the size of the largest initializer, then a staging buffer per GPU
   * upload), whatever the file's size. The asyncify build reads every file whole into one
   * buffer it keeps until the session exists: a Blob with one `arrayBuffer()` (measured here the
   * cheaper way, see bench/storage.ts), a URL by fetching it. From 1 GiB on we give that build a
   * blob: URL instead, because for a response that big it streams into a buffer sized from
   * Content-Length and falls back to WebAssembly memory where the browser refuses an
   * ArrayBuffer that large — the way past the ~2 GB ArrayBuffer limits of some browsers.
   * @param model the .onnx file
   * @throws Error from ONNX Runtime when the model cannot be loaded on this backend
   */
  static create(model: Blob, options: SessionOptions): Promise<OrtSession> {
    const { backend, device, outputsOnGpu = false, externalData = [], runtime: kind = preferredRuntime(), logSeverity } = options;
    if (backend === 'webgpu' && device === undefined) {
      throw new TypeError('a WebGPU session needs the GPUDevice to run on');
    }
    const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
      backend === 'webgpu'
        ? // The `device` option is how ONNX Runtime's native WebGPU provider takes a device of
          // ours (read in its session setup); `env.webgpu.device` would make it create its own.
          [{ name: 'webgpu', device } as ort.InferenceSession.WebGpuExecutionProviderOption]
        : ['wasm'];
    return queue.run(async () => {
      const bytes = new Uint8Array(await model.arrayBuffer());
      const files = externalData.map(({ path, data }) => ({
        path,
        data: kind === 'asyncify' && data.size >= STREAMED_EXTERNAL_DATA ? URL.createObjectURL(data) : data,
      }));
      try {
        const session = await (
          await loadRuntime(kind)
        ).InferenceSession.create(bytes, {
          executionProviders,
          ...(outputsOnGpu ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
          ...(files.length > 0 ? { externalData: files } : {}),
          ...(logSeverity !== undefined ? { logSeverityLevel: logSeverity === 'verbose' ? 0 : 1, logVerbosityLevel: 0 } : {}),
        });
        return new OrtSession(session, backend, kind);
      } finally {
        for (const { data } of files) if (typeof data === 'string') URL.revokeObjectURL(data);
      }
    });
  }

  /**
   * Runs the model. The caller owns the returned tensors and must `dispose()` them (GPU outputs
   * hold a buffer of ONNX Runtime's pool until then).
   */
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    return queue.run(() => this.session.run({ ...this.fixedFeeds, ...feeds }));
  }

  /**
   * Inputs every later `run` is given besides its own: the LoRA branch inputs, which stay the
   * same for a whole request. Replaces the ones set before (CPU tensors: nothing to dispose).
   */
  setFixedFeeds(feeds: Readonly<Record<string, Tensor>>): void {
    this.fixedFeeds = feeds;
  }

  release(): Promise<void> {
    return queue.run(() => this.session.release());
  }
}

/**
 * A float tensor over a GPU buffer we own; ONNX Runtime reads it in place. Destroying the buffer
 * stays our job, unless `dispose` is given: the tensor's `dispose()` then calls it.
 */
export function gpuTensor(buffer: GPUBuffer, dims: readonly number[], dataType: 'float32' | 'float16' = 'float32', dispose?: () => void): Tensor {
  return loadedRuntime().Tensor.fromGpuBuffer(buffer, { dataType, dims, ...(dispose !== undefined ? { dispose } : {}) });
}

type CpuData = {
  float32: Float32Array;
  /** Half-precision bits (src/util/float16.ts). */
  float16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
};

/** A CPU tensor; ONNX Runtime uploads it when a WebGPU session needs it on the GPU. */
export function cpuTensor<T extends TensorDataType>(dtype: T, data: CpuData[T], dims: readonly number[]): Tensor {
  return new (loadedRuntime().Tensor)(dtype, data, dims);
}

/** The buffer of a tensor ONNX Runtime left on the GPU. */
export function gpuBufferOf(tensor: Tensor): GPUBuffer {
  if (tensor.location !== 'gpu-buffer') {
    throw new TypeError(`expected a tensor in a GPU buffer, got one at '${tensor.location}'`);
  }
  return tensor.gpuBuffer as GPUBuffer;
}

/** A CPU tensor's values as float32, converting float16 data. */
export function floatDataOf(tensor: Tensor): Float32Array {
  if (tensor.location === 'cpu' && tensor.type === 'float16') return float16ToFloat32(tensor.data as ArrayLike<number>);
  return float32DataOf(tensor);
}

/** A CPU tensor's float32 data. */
export function float32DataOf(tensor: Tensor): Float32Array {
  if (tensor.location !== 'cpu' || tensor.type !== 'float32') {
    throw new TypeError(`expected a float32 tensor on the CPU, got ${tensor.type} at '${tensor.location}'`);
  }
  return tensor.data as Float32Array;
}

function toTensorInfo(metadata: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!metadata.isTensor) return { name: metadata.name, dtype: 'non-tensor' };
  return { name: metadata.name, dtype: metadata.type, shape: metadata.shape };
}

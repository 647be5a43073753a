/**
 * WebGPU in Node: Dawn's `dawn.node` (the npm `webgpu` package) as `navigator.gpu`, its classes
 * and constants (GPUBufferUsage, GPUMapMode, …) as globals, the way a browser worker has them,
 * so that src/gpu/device.ts and ONNX Runtime find WebGPU where they look for it.
 */
import { createRequire } from 'node:module';

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

/**
 * Loads `dawn.node` from `path` and installs it. `dawnOptions` go to Dawn's `create()`, e.g.
 * `enable-dawn-features=disable_robustness`.
 */
export function installWebGpu(path: string, dawnOptions: readonly string[] = []): GPU {
  const dawn = createRequire(import.meta.url)(path) as DawnModule;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([...dawnOptions]);
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`.
  if (typeof navigator === 'undefined') Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  else Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true });
  shimWriteBuffer();
  return gpu;
}

/**
 * ONNX Runtime's threaded wasm hands `writeBuffer` views of its SharedArrayBuffer heap, which
 * Dawn for Node refuses: those go through a copy in an ordinary ArrayBuffer.
 */
function shimWriteBuffer(): void {
  const proto = GPUQueue.prototype;
  const write = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) {
    const view = ArrayBuffer.isView(data) ? data : null;
    if (view !== null && view.buffer instanceof SharedArrayBuffer) {
      const element = 'BYTES_PER_ELEMENT' in view ? (view.BYTES_PER_ELEMENT as number) : 1;
      const start = view.byteOffset + (dataOffset ?? 0) * element;
      const length = size !== undefined ? size * element : view.byteLength - (dataOffset ?? 0) * element;
      const copy = new Uint8Array(length);
      copy.set(new Uint8Array(view.buffer, start, length));
      return write.call(this, buffer, offset, copy);
    }
    if (data instanceof SharedArrayBuffer)
      return write.call(this, buffer, offset, new Uint8Array(data).slice(dataOffset ?? 0, size !== undefined ? (dataOffset ?? 0) + size : undefined));
    return write.call(this, buffer, offset, data as BufferSource, dataOffset, size);
  } as GPUQueue['writeBuffer'];
}

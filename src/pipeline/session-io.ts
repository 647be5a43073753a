/**
 * What every network of a model shares at its session's boundary: finding its inputs and
 * outputs by name and checking their types (ModelLoadError naming what the export has), free
 * and static dimensions, and float32 <-> float16 conversion where a model's tensors are half
 * precision — the loop works in float32 everywhere; on the GPU the cast kernel converts (the
 * latents stay on the GPU), on the CPU backend JavaScript does.
 */
import { castOnGpu, halfBufferBytes } from '../gpu/cast.ts';
import { createStorageBuffer } from '../gpu/device.ts';
import { ModelLoadError } from '../errors.ts';
import { cpuTensor, floatDataOf, gpuBufferOf, gpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';
import { float16ToFloat32, float32ToFloat16 } from '../util/float16.ts';

/** Which of a model's files a component is, for messages. */
export type Role = 'text_encoder' | 'text_encoder_2' | 'unet' | 'transformer' | 'vae_decoder' | 'vae_encoder';

export type FloatType = 'float32' | 'float16';

export function fail(role: Role, message: string, session: OrtSession): never {
  const describe = (infos: readonly TensorInfo[]) => infos.map((i) => `${i.name}: ${i.dtype}`).join(', ');
  throw new ModelLoadError(`${role}: ${message} (inputs ${describe(session.inputs)}; outputs ${describe(session.outputs)})`, {
    role,
  });
}

/** The tensor called `name` when the model has one, else its only/first one when `fallback`. */
export function pick(infos: readonly TensorInfo[], name: string, fallback: boolean): TensorInfo | undefined {
  return infos.find((info) => info.name === name) ?? (fallback ? infos[0] : undefined);
}

export function requireFloat(role: Role, info: TensorInfo | undefined, what: string, session: OrtSession): TensorInfo & { dtype: FloatType } {
  if (info === undefined) fail(role, `no ${what}`, session);
  if (info.dtype !== 'float32' && info.dtype !== 'float16') {
    fail(role, `${what} "${info.name}" is ${info.dtype}; float32 or float16 was expected`, session);
  }
  return info as TensorInfo & { dtype: FloatType };
}

/** A static (numeric) size of dimension `axis`, or undefined when the model leaves it free. */
export function staticDim(info: TensorInfo, axis: number): number | undefined {
  const dim = info.shape?.[axis];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

/** `shape` with its free dimensions (batch, steps) set to `batch`. */
export function concreteDims(info: TensorInfo, fallback: readonly number[], batch: number): number[] {
  if (info.shape === undefined) return [...fallback];
  return info.shape.map((dim) => (typeof dim === 'number' && dim > 0 ? dim : batch));
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Float tensors between the loop's float32 and a model's own float type, where the tensors are:
 * on the GPU (the 'webgpu' backend, `device` given) or on the CPU.
 */
export class FloatBridge {
  private readonly device: GPUDevice | undefined;

  constructor(device: GPUDevice | undefined) {
    this.device = device;
  }

  /** A float32 `tensor` as `dtype`: the same tensor for float32, else a new one the caller disposes. */
  toModel(tensor: Tensor, dtype: FloatType): Tensor {
    if (dtype === 'float32' || tensor.type === 'float16') return tensor;
    const count = elementCount(tensor.dims);
    if (tensor.location === 'gpu-buffer') {
      const device = this.requireDevice();
      const half = createStorageBuffer(device, 'float16 input', halfBufferBytes(count));
      castOnGpu(device, { wide: gpuBufferOf(tensor), half, count, direction: 'to-half' });
      return gpuTensor(half, tensor.dims, 'float16', () => half.destroy());
    }
    return cpuTensor('float16', float32ToFloat16(floatDataOf(tensor)), tensor.dims);
  }

  /** A model output as float32: the same tensor when it is, else a new one (the output is disposed). */
  toFloat32(tensor: Tensor): Tensor {
    if (tensor.type === 'float32') return tensor;
    if (tensor.type !== 'float16') throw new TypeError(`expected a float tensor, got ${tensor.type}`);
    const count = elementCount(tensor.dims);
    if (tensor.location === 'gpu-buffer') {
      const device = this.requireDevice();
      const wide = createStorageBuffer(device, 'float32 output', count * 4);
      castOnGpu(device, { wide, half: gpuBufferOf(tensor), count, direction: 'to-float' });
      // Safe once the cast is queued: ONNX Runtime reuses the buffer only in work it submits later.
      tensor.dispose();
      return gpuTensor(wide, tensor.dims, 'float32', () => wide.destroy());
    }
    const converted = cpuTensor('float32', floatDataOf(tensor), tensor.dims);
    tensor.dispose();
    return converted;
  }

  private requireDevice(): GPUDevice {
    if (this.device === undefined) throw new TypeError('a GPU tensor reached a model loaded without a GPU device');
    return this.device;
  }
}

/** float32 values of a tensor, wherever it is (a GPU tensor is read back). */
export async function readFloats(tensor: Tensor): Promise<Float32Array> {
  if (tensor.location === 'cpu') return floatDataOf(tensor);
  const data = (await tensor.getData()) as ArrayLike<number>;
  return tensor.type === 'float32' ? (data as Float32Array) : float16ToFloat32(data);
}

/** The outputs called `names`, in that order; every other output is disposed (their GPU buffers go back to ORT). */
export function takeOutputs(outputs: Record<string, Tensor>, names: readonly string[]): Tensor[] {
  const taken: Tensor[] = [];
  for (const [key, tensor] of Object.entries(outputs)) {
    if (!names.includes(key)) tensor.dispose();
  }
  for (const name of names) {
    const tensor = outputs[name];
    if (tensor === undefined) {
      for (const t of taken) t.dispose();
      throw new Error(`the session returned no output "${name}"`);
    }
    taken.push(tensor);
  }
  return taken;
}

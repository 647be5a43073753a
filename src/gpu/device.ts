/**
 * The one GPUDevice the engine uses, shared with ONNX Runtime so that model outputs and our
 * kernels read and write the same buffers.
 */
import { GpuUnavailableError } from '../errors.ts';

/**
 * Features ONNX Runtime's WebGPU kernels use when present (f16 models need shader-f16); asked for
 * only where the adapter has them.
 */
const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups'];

/**
 * Limits worth the adapter's maximum rather than the spec's defaults (128 MiB storage bindings,
 * 256 MiB buffers): real diffusion models need more, and a device only gets what it asks for.
 */
export const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * A device with the adapter's raised limits and optional features.
 * @throws GpuUnavailableError when WebGPU is missing, or no adapter or device can be had
 */
export async function requestGpuDevice(): Promise<GPUDevice> {
  if (typeof navigator === 'undefined' || navigator.gpu === undefined) {
    throw new GpuUnavailableError('WebGPU is not available in this browser; use a recent Chrome or Edge, or the CPU backend');
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new GpuUnavailableError('WebGPU is present but no GPU adapter was offered (blocklisted GPU or driver?)');
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = OPTIONAL_FEATURES.filter((feature) => adapter.features.has(feature));
  try {
    return await adapter.requestDevice({ label: 'webdiffusion', requiredLimits, requiredFeatures });
  } catch (error) {
    throw new GpuUnavailableError('The GPU adapter refused to create a device', { requiredLimits, requiredFeatures }, { cause: error });
  }
}

/**
 * Copies `size` bytes of a buffer (which needs COPY_SRC usage) back to the CPU.
 * The one readback of a generation: the finished picture.
 */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, size: number = buffer.size): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

/** A buffer of `size` bytes that kernels, ONNX Runtime and copies may all use; the caller destroys it. */
export function createStorageBuffer(device: GPUDevice, label: string, size: number, contents?: Float32Array<ArrayBuffer>): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    // Rounded up to 4: copyBufferToBuffer and writeBuffer work in multiples of 4 bytes.
    size: Math.max(4, Math.ceil(size / 4) * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (contents !== undefined) device.queue.writeBuffer(buffer, 0, contents);
  return buffer;
}

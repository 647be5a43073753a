/**
 * What every elementwise kernel shares: one thread per element, pipelines compiled once per
 * device, and a dispatch grid that fits the device's per-dimension limit.
 */

/**
 * Threads per workgroup of every elementwise kernel; passed to the WGSL as the override constant
 * `WORKGROUP_SIZE`, so the number lives here only.
 */
export const WORKGROUP_SIZE = 64;

/**
 * Compiled pipelines per device, then per WGSL source: a lost or collected device takes its
 * pipelines with it.
 */
const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, code: string, label: string): GPUComputePipeline {
  let byCode = pipelines.get(device);
  if (byCode === undefined) {
    byCode = new Map();
    pipelines.set(device, byCode);
  }
  let pipeline = byCode.get(code);
  if (pipeline === undefined) {
    pipeline = device.createComputePipeline({
      label,
      layout: 'auto',
      compute: {
        module: device.createShaderModule({ label, code }),
        entryPoint: 'main',
        constants: { WORKGROUP_SIZE },
      },
    });
    byCode.set(code, pipeline);
  }
  return pipeline;
}

/**
 * Workgroup counts for `count` threads. Past `maxComputeWorkgroupsPerDimension` (65535 by
 * default, ~4 M elements) the grid goes 2-D; the shaders flatten it back with
 * `gid.x + gid.y * num_workgroups.x * WORKGROUP_SIZE` and skip the tail.
 */
export function dispatchGrid(count: number, maxPerDimension: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / WORKGROUP_SIZE));
  if (groups <= maxPerDimension) return [groups, 1];
  const x = maxPerDimension;
  const y = Math.ceil(groups / x);
  if (y > maxPerDimension) {
    throw new RangeError(`${count} elements exceed one dispatch (${maxPerDimension}^2 workgroups of ${WORKGROUP_SIZE})`);
  }
  return [x, y];
}

/** A storage buffer a kernel binds, with the number of 4-byte elements it must hold. */
export interface Binding {
  readonly buffer: GPUBuffer;
  readonly elements: number;
}

/**
 * Runs one elementwise kernel: binding 0 is the uniform block `params`, bindings 1.. the storage
 * buffers in order. Submits at once, so the work is ordered with ONNX Runtime's own submissions.
 * @throws RangeError when a buffer is smaller than the elements it must hold
 */
export function runElementwise(
  device: GPUDevice,
  kernel: { readonly code: string; readonly label: string },
  params: ArrayBuffer,
  bindings: readonly Binding[],
  count: number,
): void {
  for (const [index, { buffer, elements }] of bindings.entries()) {
    if (buffer.size < elements * 4) {
      throw new RangeError(`${kernel.label}: binding ${index + 1} holds ${buffer.size} bytes, needs ${elements * 4}`);
    }
  }
  const pipeline = pipelineFor(device, kernel.code, kernel.label);
  const uniform = device.createBuffer({
    label: `${kernel.label} params`,
    size: params.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(uniform, 0, params);
  const bindGroup = device.createBindGroup({
    label: kernel.label,
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: uniform } }, ...bindings.map(({ buffer }, index) => ({ binding: index + 1, resource: { buffer } }))],
  });
  const encoder = device.createCommandEncoder({ label: kernel.label });
  const pass = encoder.beginComputePass({ label: kernel.label });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...dispatchGrid(count, device.limits.maxComputeWorkgroupsPerDimension));
  pass.end();
  device.queue.submit([encoder.finish()]);
  // Destroying after submit is allowed: the submitted work still sees the buffer.
  uniform.destroy();
}

/**
 * Packs a uniform block of 4-byte fields, in declaration order, padded to 16 bytes (the
 * alignment WGSL gives a uniform struct's size).
 */
export function packParams(fields: readonly (readonly ['u32' | 'f32', number])[]): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.ceil((fields.length * 4) / 16) * 16);
  const view = new DataView(bytes);
  fields.forEach(([type, value], index) => {
    if (type === 'u32') view.setUint32(index * 4, value, true);
    else view.setFloat32(index * 4, value, true);
  });
  return bytes;
}

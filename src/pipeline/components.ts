/**
 * The networks of a latent diffusion model, each bound to its session's actual inputs and
 * outputs: names, element types and static sizes are read from the model (exports differ: SD's
 * UNet takes an int64 timestep, ours a float32 one, Microsoft's WebNN exports float16 tensors
 * and a static batch of 2, SDXL a second text encoder and two more UNet inputs), never assumed.
 *
 * The loop works in float32 everywhere. Where a model's inputs or outputs are float16, the
 * tensors are converted at this boundary: on the GPU by the cast kernel (the latents stay on the
 * GPU), on the CPU backend in JavaScript.
 */
import { castOnGpu, halfBufferBytes } from '../gpu/cast.ts';
import { createStorageBuffer } from '../gpu/device.ts';
import { ModelLoadError } from '../errors.ts';
import { cpuTensor, floatDataOf, gpuBufferOf, gpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';
import { float16ToFloat32, float32ToFloat16, toFloat16Bits } from '../util/float16.ts';

/** Which of a model's files a component is, for messages. */
export type Role = 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae_decoder' | 'vae_encoder';

type FloatType = 'float32' | 'float16';

function fail(role: Role, message: string, session: OrtSession): never {
  const describe = (infos: readonly TensorInfo[]) => infos.map((i) => `${i.name}: ${i.dtype}`).join(', ');
  throw new ModelLoadError(`${role}: ${message} (inputs ${describe(session.inputs)}; outputs ${describe(session.outputs)})`, {
    role,
  });
}

/** The tensor called `name` when the model has one, else its only/first one when `fallback`. */
function pick(infos: readonly TensorInfo[], name: string, fallback: boolean): TensorInfo | undefined {
  return infos.find((info) => info.name === name) ?? (fallback ? infos[0] : undefined);
}

function requireFloat(role: Role, info: TensorInfo | undefined, what: string, session: OrtSession): TensorInfo & { dtype: FloatType } {
  if (info === undefined) fail(role, `no ${what}`, session);
  if (info.dtype !== 'float32' && info.dtype !== 'float16') {
    fail(role, `${what} "${info.name}" is ${info.dtype}; float32 or float16 was expected`, session);
  }
  return info as TensorInfo & { dtype: FloatType };
}

/** A static (numeric) size of dimension `axis`, or undefined when the model leaves it free. */
function staticDim(info: TensorInfo, axis: number): number | undefined {
  const dim = info.shape?.[axis];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

/** `shape` with its free dimensions (batch, steps) set to `batch`. */
function concreteDims(info: TensorInfo, fallback: readonly number[], batch: number): number[] {
  if (info.shape === undefined) return [...fallback];
  return info.shape.map((dim) => (typeof dim === 'number' && dim > 0 ? dim : batch));
}

function elementCount(dims: readonly number[]): number {
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

/** One prompt's text encoding, as the UNet takes it. */
export interface TextEncoding {
  /** [1, length, hidden] float32, where the backend keeps tensors; the caller disposes it. */
  readonly hidden: Tensor;
  /** The pooled embedding (SDXL's `text_embeds`), float32; undefined when no encoder gives one. */
  readonly pooled: Float32Array | undefined;
}

/** A CLIP text encoder: token ids in; hidden states (and, for some, a pooled embedding) out. */
export class TextEncoderModel {
  readonly session: OrtSession;
  readonly role: Role;
  private readonly input: TensorInfo;
  private readonly hidden: TensorInfo & { dtype: FloatType };
  private readonly pooled: (TensorInfo & { dtype: FloatType }) | undefined;
  /** The batch size the graph is fixed to, if it is. */
  readonly staticBatch: number | undefined;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a text encoder */
  constructor(session: OrtSession, role: Role = 'text_encoder') {
    this.session = session;
    this.role = role;
    const input = session.inputs[0];
    if (input === undefined || (input.dtype !== 'int32' && input.dtype !== 'int64')) {
      fail(role, 'the first input must be int32 or int64 token ids', session);
    }
    this.input = input;
    this.staticBatch = staticDim(input, 0);
    // SDXL conditions on the penultimate layer: exports that give every layer's output name them
    // hidden_states.0 (the embeddings) … hidden_states.N (the last layer).
    const layers = session.outputs
      .map((info) => ({ info, index: /^hidden_states\.(\d+)$/.exec(info.name)?.[1] }))
      .filter((layer): layer is { info: TensorInfo; index: string } => layer.index !== undefined)
      .sort((a, b) => Number(a.index) - Number(b.index));
    const penultimate = layers.length >= 2 ? layers[layers.length - 2]!.info : undefined;
    const hidden =
      penultimate ?? pick(session.outputs, 'last_hidden_state', false) ?? session.outputs.find((info) => info.shape?.length === 3) ?? session.outputs[0];
    this.hidden = requireFloat(role, hidden, 'hidden-state output', session);
    const pooled = pick(session.outputs, 'text_embeds', false) ?? pick(session.outputs, 'pooler_output', false);
    this.pooled = pooled !== undefined ? requireFloat(role, pooled, 'pooled output', session) : undefined;
  }

  /** Whether `encodeOnDevice` applies: float32 hidden states and a free batch size. */
  get keepsOnDevice(): boolean {
    return this.hidden.dtype === 'float32' && (this.staticBatch === undefined || this.staticBatch === 1);
  }

  /** Whether the encoder gives a pooled embedding. */
  get hasPooled(): boolean {
    return this.pooled !== undefined;
  }

  /** One text's hidden states, [1, length, hidden] float32 where the session left them; the caller disposes them. */
  async encodeOnDevice(ids: Int32Array): Promise<Tensor> {
    const outputs = await this.session.run({ [this.input.name]: this.idsTensor([ids]) });
    return takeOutputs(outputs, [this.hidden.name])[0]!;
  }

  /**
   * Several texts' hidden states and pooled embeddings, read to the CPU as float32: one run per
   * batch the graph takes (a graph fixed to batch 2 encodes a guided request's two texts at once).
   */
  async encodeAll(ids: readonly Int32Array[]): Promise<{ hidden: Float32Array[]; pooled: Float32Array[] | undefined; dims: [number, number] }> {
    const hidden: Float32Array[] = [];
    const pooled: Float32Array[] = [];
    let dims: [number, number] = [0, 0];
    const batch = this.staticBatch ?? ids.length;
    for (let start = 0; start < ids.length; start += batch) {
      const chunk = ids.slice(start, start + batch);
      // A fixed batch is filled up with the last text; the extra results are dropped.
      while (chunk.length < batch) chunk.push(chunk[chunk.length - 1]!);
      const names = [this.hidden.name, ...(this.pooled !== undefined ? [this.pooled.name] : [])];
      const [h, p] = takeOutputs(await this.session.run({ [this.input.name]: this.idsTensor(chunk) }), names);
      try {
        const [, length = 0, width = 0] = h!.dims;
        dims = [length, width];
        const hData = await readFloats(h!);
        const pData = p !== undefined ? await readFloats(p) : undefined;
        const pWidth = p !== undefined ? p.dims[p.dims.length - 1]! : 0;
        for (let k = 0; k < Math.min(batch, ids.length - start); k++) {
          hidden.push(hData.slice(k * length * width, (k + 1) * length * width));
          if (pData !== undefined) pooled.push(pData.slice(k * pWidth, (k + 1) * pWidth));
        }
      } finally {
        h?.dispose();
        p?.dispose();
      }
    }
    return { hidden, pooled: this.pooled !== undefined ? pooled : undefined, dims };
  }

  private idsTensor(ids: readonly Int32Array[]): Tensor {
    const length = ids[0]!.length;
    const dims = [ids.length, length];
    const flat = new Int32Array(ids.length * length);
    ids.forEach((row, k) => flat.set(row, k * length));
    return this.input.dtype === 'int64' ? cpuTensor('int64', BigInt64Array.from(flat, BigInt), dims) : cpuTensor('int32', flat, dims);
  }
}

/**
 * The text side of a model: one encoder (SD 1.5, SD-Turbo) or two whose hidden states are joined
 * along the hidden axis (SDXL), giving each prompt's conditioning.
 */
export class TextConditioner {
  readonly encoders: readonly TextEncoderModel[];
  private readonly device: GPUDevice | undefined;

  constructor(encoders: readonly TextEncoderModel[], device: GPUDevice | undefined) {
    this.encoders = encoders;
    this.device = device;
  }

  /** Each text's conditioning, in order. */
  async encode(ids: readonly Int32Array[]): Promise<TextEncoding[]> {
    const [only] = this.encoders;
    if (this.encoders.length === 1 && only!.keepsOnDevice && !only!.hasPooled) {
      // The common case stays where the session put it (on the GPU, with WebGPU): no readback.
      const results: TextEncoding[] = [];
      try {
        for (const row of ids) results.push({ hidden: await only!.encodeOnDevice(row), pooled: undefined });
      } catch (error) {
        for (const result of results) result.hidden.dispose();
        throw error;
      }
      return results;
    }
    const encoded: Awaited<ReturnType<TextEncoderModel['encodeAll']>>[] = [];
    for (const encoder of this.encoders) encoded.push(await encoder.encodeAll(ids));
    const length = encoded[0]!.dims[0];
    const width = encoded.reduce((sum, e) => sum + e.dims[1], 0);
    const pooledFrom = [...encoded].reverse().find((e) => e.pooled !== undefined);
    return ids.map((_, k) => {
      const joined = new Float32Array(length * width);
      let offset = 0;
      for (const e of encoded) {
        const [, w] = e.dims;
        const part = e.hidden[k]!;
        for (let token = 0; token < length; token++) joined.set(part.subarray(token * w, (token + 1) * w), token * width + offset);
        offset += w;
      }
      return { hidden: this.placed(joined, [1, length, width]), pooled: pooledFrom?.pooled?.[k] };
    });
  }

  /** float32 data as a tensor where the backend keeps them: a GPU buffer with WebGPU. */
  private placed(data: Float32Array<ArrayBuffer>, dims: number[]): Tensor {
    if (this.device === undefined) return cpuTensor('float32', data, dims);
    const buffer = createStorageBuffer(this.device, 'text encoding', data.byteLength, data);
    return gpuTensor(buffer, dims, 'float32', () => buffer.destroy());
  }
}

/** What the UNet is conditioned on besides the text's hidden states. */
export interface UnetConditions {
  /** Pooled text embeddings, one per batch entry, in batch order ([negative, prompt] when guided). */
  readonly pooled: readonly (Float32Array | undefined)[];
  readonly width: number;
  readonly height: number;
  /** The request's guidance scale (a UNet that embeds guidance takes it as an input). */
  readonly guidance: number;
  readonly batch: number;
}

/** The inputs a UNet may take beyond sample, timestep and encoder_hidden_states. */
const EXTRA_INPUTS = ['text_embeds', 'time_ids', 'timestep_cond'] as const;

/** The denoising UNet: noisy latent, timestep and text conditioning in; predicted noise out. */
export class UnetModel {
  readonly session: OrtSession;
  private readonly sample: TensorInfo & { dtype: FloatType };
  private readonly timestep: TensorInfo;
  private readonly context: TensorInfo & { dtype: FloatType };
  private readonly output: TensorInfo & { dtype: FloatType };
  private readonly extras: readonly (TensorInfo & { dtype: FloatType })[];
  private readonly floats: FloatBridge;
  /** The batch size the graph is fixed to, if it is (Microsoft's SD 1.5 export: 2). */
  readonly staticBatch: number | undefined;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a UNet */
  constructor(session: OrtSession, device?: GPUDevice) {
    this.session = session;
    this.floats = new FloatBridge(device);
    this.sample = requireFloat('unet', pick(session.inputs, 'sample', false), 'input "sample"', session);
    this.context = requireFloat('unet', pick(session.inputs, 'encoder_hidden_states', false), 'input "encoder_hidden_states"', session);
    this.output = requireFloat('unet', pick(session.outputs, 'out_sample', true), 'output', session);
    const timestep = pick(session.inputs, 'timestep', false);
    if (timestep === undefined || !['float32', 'float16', 'int32', 'int64'].includes(timestep.dtype)) {
      fail('unet', 'input "timestep" must be float32, float16, int32 or int64', session);
    }
    this.timestep = timestep;
    const known = new Set(['sample', 'timestep', 'encoder_hidden_states', ...EXTRA_INPUTS]);
    const unknown = session.inputs.find((info) => !known.has(info.name));
    if (unknown !== undefined) {
      fail('unet', `input "${unknown.name}" is not one we know how to feed (we feed ${[...known].join(', ')})`, session);
    }
    this.extras = EXTRA_INPUTS.flatMap((name) => {
      const info = pick(session.inputs, name, false);
      return info !== undefined ? [requireFloat('unet', info, `input "${name}"`, session)] : [];
    });
    this.staticBatch = staticDim(this.sample, 0);
  }

  /** Whether guidance is an input of the model (LCM's `timestep_cond`) rather than two passes. */
  get embedsGuidance(): boolean {
    return this.extras.some((info) => info.name === 'timestep_cond');
  }

  /** Whether the model needs a pooled text embedding (SDXL's `text_embeds`). */
  get needsPooled(): boolean {
    return this.extras.some((info) => info.name === 'text_embeds');
  }

  /**
   * The request's fixed extra inputs, built once and fed at every step; the caller disposes them.
   * @throws ModelLoadError when the model needs a pooled embedding the text encoders do not give
   */
  conditionFeeds(c: UnetConditions): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const info of this.extras) {
      const dims = concreteDims(info, [c.batch, 1], c.batch);
      const width = dims[dims.length - 1]!;
      const values = new Float32Array(elementCount(dims));
      for (let row = 0; row < c.batch; row++) {
        const target = values.subarray(row * width, (row + 1) * width);
        if (info.name === 'text_embeds') {
          const pooled = c.pooled[row];
          if (pooled === undefined || pooled.length !== width) {
            throw new ModelLoadError(`unet: input "text_embeds" needs a pooled text embedding of ${width} values, and the text encoders give ${pooled?.length ?? 'none'}`, {
              role: 'unet',
            });
          }
          target.set(pooled);
        } else if (info.name === 'time_ids') {
          // SDXL's size conditioning: original size, crop offset, target size.
          target.set([c.height, c.width, 0, 0, c.height, c.width].slice(0, width));
        } else {
          target.set(guidanceEmbedding(c.guidance, width));
        }
      }
      feeds[info.name] = info.dtype === 'float16' ? cpuTensor('float16', float32ToFloat16(values), dims) : cpuTensor('float32', values, dims);
    }
    return feeds;
  }

  /** The joined text conditioning in the model's float type: the same tensor, or a new one the caller disposes. */
  prepareContext(context: Tensor): Tensor {
    return this.floats.toModel(context, this.context.dtype);
  }

  /**
   * One evaluation for a batch of `batch` latents; the caller disposes the returned float32 prediction.
   * @param sample [batch, channels, h, w] float32
   * @param context [batch, length, hidden], from `prepareContext`
   * @param feeds from `conditionFeeds`
   */
  async predict(sample: Tensor, timestep: number, context: Tensor, batch: number, feeds: Readonly<Record<string, Tensor>> = {}): Promise<Tensor> {
    const dims = concreteDims(this.timestep, [batch], batch);
    const count = elementCount(dims);
    const t =
      this.timestep.dtype === 'int64'
        ? cpuTensor('int64', new BigInt64Array(count).fill(BigInt(Math.round(timestep))), dims)
        : this.timestep.dtype === 'int32'
          ? cpuTensor('int32', new Int32Array(count).fill(Math.round(timestep)), dims)
          : this.timestep.dtype === 'float16'
            ? cpuTensor('float16', new Uint16Array(count).fill(toFloat16Bits(timestep)), dims)
            : cpuTensor('float32', new Float32Array(count).fill(timestep), dims);
    const input = this.floats.toModel(sample, this.sample.dtype);
    try {
      const outputs = await this.session.run({ ...feeds, [this.sample.name]: input, [this.timestep.name]: t, [this.context.name]: context });
      return this.floats.toFloat32(takeOutputs(outputs, [this.output.name])[0]!);
    } finally {
      if (input !== sample) input.dispose();
    }
  }
}

/**
 * LCM's guidance embedding: the scale w (guidance - 1, times 1000) as `width` sinusoidal
 * features, sines then cosines, frequencies from 1 down to 1/10000.
 */
export function guidanceEmbedding(guidance: number, width: number): Float32Array {
  const w = (guidance - 1) * 1000;
  const half = Math.floor(width / 2);
  const out = new Float32Array(width);
  for (let k = 0; k < half; k++) {
    const frequency = Math.exp((-Math.log(10000) * k) / Math.max(1, half - 1));
    out[k] = Math.sin(w * frequency);
    out[half + k] = Math.cos(w * frequency);
  }
  return out;
}

/** The VAE decoder: a scaled latent in, a [1, 3, H, W] picture in [-1, 1] out. */
export class VaeDecoderModel {
  readonly session: OrtSession;
  private readonly input: TensorInfo & { dtype: FloatType };
  private readonly output: TensorInfo & { dtype: FloatType };
  private readonly floats: FloatBridge;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a VAE decoder */
  constructor(session: OrtSession, device?: GPUDevice) {
    this.session = session;
    this.floats = new FloatBridge(device);
    this.input = requireFloat('vae_decoder', pick(session.inputs, 'latent_sample', true), 'latent input', session);
    this.output = requireFloat('vae_decoder', pick(session.outputs, 'sample', true), 'picture output', session);
  }

  /** The decoded picture, float32; the caller disposes it. */
  async decode(latent: Tensor): Promise<Tensor> {
    const input = this.floats.toModel(latent, this.input.dtype);
    try {
      return this.floats.toFloat32(takeOutputs(await this.session.run({ [this.input.name]: input }), [this.output.name])[0]!);
    } finally {
      if (input !== latent) input.dispose();
    }
  }
}

/**
 * The VAE encoder: a picture in [-1, 1] in, its latent out (before the scaling factor). Exports
 * that give the distribution's parameters (mean and log-variance, twice the latent channels)
 * are read at the mean: image-to-image wants the picture's own latent, not a sample around it.
 */
export class VaeEncoderModel {
  readonly session: OrtSession;
  private readonly input: TensorInfo & { dtype: FloatType };
  private readonly output: TensorInfo & { dtype: FloatType };

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a VAE encoder */
  constructor(session: OrtSession) {
    this.session = session;
    this.input = requireFloat('vae_encoder', pick(session.inputs, 'sample', true), 'picture input', session);
    this.output = requireFloat('vae_encoder', pick(session.outputs, 'latent_sample', true), 'latent output', session);
  }

  /**
   * The latent of one planar [3, height, width] picture, float32 [channels * h * w] on the CPU.
   * @param channels the model's latent channels (to tell a mean-and-variance output apart)
   */
  async encode(planar: Float32Array<ArrayBuffer>, width: number, height: number, channels: number): Promise<Float32Array> {
    const dims = [1, 3, height, width];
    const input = this.input.dtype === 'float16' ? cpuTensor('float16', float32ToFloat16(planar), dims) : cpuTensor('float32', planar, dims);
    const [output] = takeOutputs(await this.session.run({ [this.input.name]: input }), [this.output.name]);
    try {
      const values = await readFloats(output!);
      const [, outChannels = channels, h = 0, w = 0] = output!.dims;
      // Mean and log-variance stacked on the channel axis: the first half is the mean.
      return outChannels === 2 * channels ? values.slice(0, channels * h * w) : values.slice();
    } finally {
      output!.dispose();
    }
  }
}

/** float32 values of a tensor, wherever it is (a GPU tensor is read back). */
async function readFloats(tensor: Tensor): Promise<Float32Array> {
  if (tensor.location === 'cpu') return floatDataOf(tensor);
  const data = (await tensor.getData()) as ArrayLike<number>;
  return tensor.type === 'float32' ? (data as Float32Array) : float16ToFloat32(data);
}

/** The outputs called `names`, in that order; every other output is disposed (their GPU buffers go back to ORT). */
function takeOutputs(outputs: Record<string, Tensor>, names: readonly string[]): Tensor[] {
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

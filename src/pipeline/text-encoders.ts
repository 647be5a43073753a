/**
 * The text side of a model: CLIP text encoders (token ids in; hidden states and, for some, a
 * pooled embedding out), one (SD 1.5, SD-Turbo) or two joined along the hidden axis (SDXL).
 */
import { createStorageBuffer } from '../gpu/device.ts';
import { cpuTensor, gpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';
import { fail, pick, readFloats, requireFloat, staticDim, takeOutputs, type FloatType, type Role } from './session-io.ts';

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

/**
 * The text side of a model: CLIP text encoders (token ids in; hidden states and, for some, a
 * pooled embedding out), one (SD 1.5, SD-Turbo) or two joined along the hidden axis (SDXL); or a
 * decoder-only language model (Qwen3 for Z-Image and FLUX.2: input_ids and attention_mask in,
 * the hidden states of the layers its description names out, joined per token).
 */
import { createStorageBuffer } from '../gpu/device.ts';
import type { TextEncoderSpec } from '../models/text-spec.ts';
import { cpuTensor, gpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';
import type { EncodedPrompt } from '../tokenizer/prompt-tokenizer.ts';
import { fail, pick, readFloats, requireFloat, staticDim, takeOutputs, type FloatType, type Role } from './session-io.ts';

/** One prompt's text encoding, as the UNet takes it. */
export interface TextEncoding {
  /** [1, length, hidden] float32, where the backend keeps tensors; the caller disposes it. */
  readonly hidden: Tensor;
  /** The pooled embedding (SDXL's `text_embeds`), float32; undefined when no encoder gives one. */
  readonly pooled: Float32Array | undefined;
}

type FloatInfo = TensorInfo & { dtype: FloatType };
/** A language model export's inputs besides the ids: what we feed them. */
const LM_INPUTS = ['attention_mask', 'position_ids'] as const;
const INDEX_TYPES = ['int32', 'int64'];

/** The outputs named `hidden_states.N` (an export that gives every layer), by N. */
function layerOutputs(session: OrtSession): TensorInfo[] {
  return session.outputs
    .map((info) => ({ info, index: /^hidden_states\.(\d+)$/.exec(info.name)?.[1] }))
    .filter((layer): layer is { info: TensorInfo; index: string } => layer.index !== undefined)
    .sort((a, b) => Number(a.index) - Number(b.index))
    .map((layer) => layer.info);
}

/** A text encoder: token ids (and for a language model its attention mask) in; hidden states (and, for some, a pooled embedding) out. */
export class TextEncoderModel {
  readonly session: OrtSession;
  readonly role: Role;
  private readonly input: TensorInfo;
  /** The language model's other index inputs (attention_mask, position_ids), as the session has them. */
  private readonly extras: readonly TensorInfo[];
  /** The hidden states given to the denoiser, joined per token in this order. */
  private readonly hidden: readonly FloatInfo[];
  private readonly pooled: FloatInfo | undefined;
  /** The batch size the graph is fixed to, if it is. */
  readonly staticBatch: number | undefined;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit the declared text encoder */
  constructor(session: OrtSession, role: Role = 'text_encoder', spec?: TextEncoderSpec) {
    this.session = session;
    this.role = role;
    const input = pick(session.inputs, 'input_ids', false) ?? session.inputs[0];
    if (input === undefined || !INDEX_TYPES.includes(input.dtype)) {
      fail(role, 'the first input must be int32 or int64 token ids', session);
    }
    this.input = input;
    this.staticBatch = staticDim(input, 0);
    const decoder = spec?.kind === 'decoder';
    // LoRA branch inputs (src/lora/lora-graph.ts) are the session's own fixed feeds.
    this.extras = session.inputs.filter((info) => info !== input && !info.name.startsWith('lora:'));
    for (const info of this.extras) {
      if (!decoder || !(LM_INPUTS as readonly string[]).includes(info.name) || !INDEX_TYPES.includes(info.dtype)) {
        fail(
          role,
          `input "${info.name}" is not one we know how to feed (we feed the token ids${decoder ? ` and int32/int64 ${LM_INPUTS.join(', ')}` : ''})`,
          session,
        );
      }
    }
    if (spec?.padding === 'drop' && staticDim(input, 1) !== undefined) {
      fail(
        role,
        `its padding is dropped, so the prompt's own tokens are fed, but its input "${input.name}" is fixed to ${staticDim(input, 1)} tokens`,
        session,
      );
    }
    const layers = layerOutputs(session);
    let hidden: (TensorInfo | undefined)[];
    if (decoder && spec.layers !== undefined && layers.length > 0) {
      // Hugging Face's hidden_states tuple: index 0 the embeddings, negative from the end.
      hidden = spec.layers.map((k) => layers[k < 0 ? layers.length + k : k]);
      const missing = spec.layers.find((_, n) => hidden[n] === undefined);
      if (missing !== undefined) fail(role, `it has ${layers.length} hidden_states outputs, so no layer ${missing}`, session);
    } else {
      // SDXL conditions on the penultimate layer: exports that give every layer's output name them
      // hidden_states.0 (the embeddings) … hidden_states.N (the last layer).
      const penultimate = !decoder && layers.length >= 2 ? layers[layers.length - 2] : undefined;
      hidden = [
        penultimate ??
          pick(session.outputs, 'last_hidden_state', false) ??
          pick(session.outputs, 'hidden_states', false) ??
          session.outputs.find((info) => info.shape?.length === 3) ??
          session.outputs[0],
      ];
    }
    this.hidden = hidden.map((info) => requireFloat(role, info, 'hidden-state output', session));
    const widths = this.hidden.map((info) => staticDim(info, 2));
    if (decoder && widths.every((w) => w !== undefined) && widths.reduce((a, b) => a! + b!, 0) !== spec.hiddenSize) {
      fail(role, `its hidden states are ${widths.join(' + ')} wide, and the model's description says ${spec.hiddenSize}`, session);
    }
    const pooled = pick(session.outputs, 'text_embeds', false) ?? pick(session.outputs, 'pooler_output', false);
    this.pooled = pooled !== undefined && !decoder ? requireFloat(role, pooled, 'pooled output', session) : undefined;
  }

  /** Whether `encodeOnDevice` applies: one float32 hidden-state output and a free batch size. */
  get keepsOnDevice(): boolean {
    return this.hidden.length === 1 && this.hidden[0]!.dtype === 'float32' && (this.staticBatch === undefined || this.staticBatch === 1);
  }

  /** Whether the encoder gives a pooled embedding. */
  get hasPooled(): boolean {
    return this.pooled !== undefined;
  }

  /** One text's hidden states, [1, length, hidden] float32 where the session left them; the caller disposes them. */
  async encodeOnDevice(prompt: EncodedPrompt): Promise<Tensor> {
    const outputs = await this.session.run(this.feeds([prompt]));
    return takeOutputs(outputs, [this.hidden[0]!.name])[0]!;
  }

  /**
   * Several texts' hidden states (several layers joined per token) and pooled embeddings, read
   * to the CPU as float32: one run per batch the graph takes (a graph fixed to batch 2 encodes a
   * guided request's two texts at once).
   */
  async encodeAll(prompts: readonly EncodedPrompt[]): Promise<{ hidden: Float32Array[]; pooled: Float32Array[] | undefined; dims: [number, number] }> {
    const hidden: Float32Array[] = [];
    const pooled: Float32Array[] = [];
    let dims: [number, number] = [0, 0];
    const batch = this.staticBatch ?? prompts.length;
    for (let start = 0; start < prompts.length; start += batch) {
      const chunk = prompts.slice(start, start + batch);
      // A fixed batch is filled up with the last text; the extra results are dropped.
      while (chunk.length < batch) chunk.push(chunk[chunk.length - 1]!);
      const names = [...this.hidden.map((info) => info.name), ...(this.pooled !== undefined ? [this.pooled.name] : [])];
      const taken = takeOutputs(await this.session.run(this.feeds(chunk)), names);
      try {
        const layers = taken.slice(0, this.hidden.length);
        const p = this.pooled !== undefined ? taken[this.hidden.length] : undefined;
        const length = layers[0]!.dims[1] ?? 0;
        const widths = layers.map((t) => t.dims[2] ?? 0);
        const width = widths.reduce((a, b) => a + b, 0);
        dims = [length, width];
        const data = await Promise.all(layers.map((t) => readFloats(t)));
        const pData = p !== undefined ? await readFloats(p) : undefined;
        const pWidth = p !== undefined ? p.dims[p.dims.length - 1]! : 0;
        for (let k = 0; k < Math.min(batch, prompts.length - start); k++) {
          hidden.push(joinPerToken(data, widths, k, length));
          if (pData !== undefined) pooled.push(pData.slice(k * pWidth, (k + 1) * pWidth));
        }
      } finally {
        for (const t of taken) t.dispose();
      }
    }
    return { hidden, pooled: this.pooled !== undefined ? pooled : undefined, dims };
  }

  /** The ids (all prompts the same length), and a language model's attention mask (1 on the text, 0 on padding) and positions. */
  private feeds(prompts: readonly EncodedPrompt[]): Record<string, Tensor> {
    const length = prompts[0]!.ids.length;
    const dims = [prompts.length, length];
    const ids = new Int32Array(prompts.length * length);
    const mask = new Int32Array(prompts.length * length);
    const positions = new Int32Array(prompts.length * length);
    prompts.forEach((prompt, k) => {
      ids.set(prompt.ids, k * length);
      mask.fill(1, k * length, k * length + prompt.length);
      // Padding is on the right: every text's positions count from 0.
      for (let t = 0; t < length; t++) positions[k * length + t] = t;
    });
    const tensor = (info: TensorInfo, values: Int32Array): Tensor =>
      info.dtype === 'int64' ? cpuTensor('int64', BigInt64Array.from(values, BigInt), dims) : cpuTensor('int32', values, dims);
    const feeds: Record<string, Tensor> = { [this.input.name]: tensor(this.input, ids) };
    for (const info of this.extras) feeds[info.name] = tensor(info, info.name === 'attention_mask' ? mask : positions);
    return feeds;
  }
}

/** Text `k`'s hidden states from several layers' outputs ([batch, length, width_i] each), joined per token: [length, sum of widths]. */
function joinPerToken(layers: readonly Float32Array[], widths: readonly number[], k: number, length: number): Float32Array {
  const width = widths.reduce((a, b) => a + b, 0);
  if (layers.length === 1) return layers[0]!.slice(k * length * width, (k + 1) * length * width);
  const joined = new Float32Array(length * width);
  let offset = 0;
  layers.forEach((data, n) => {
    const w = widths[n]!;
    for (let token = 0; token < length; token++) joined.set(data.subarray((k * length + token) * w, (k * length + token + 1) * w), token * width + offset);
    offset += w;
  });
  return joined;
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
  async encode(ids: readonly EncodedPrompt[]): Promise<TextEncoding[]> {
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
      const joined = joinPerToken(
        encoded.map((e) => e.hidden[k]!),
        encoded.map((e) => e.dims[1]),
        0,
        length,
      ) as Float32Array<ArrayBuffer>;
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

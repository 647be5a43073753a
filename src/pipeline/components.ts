/**
 * The image side of a latent diffusion model — the denoiser (a UNet, or a diffusion transformer
 * over latent patches) and the VAE's decoder and encoder — each bound to its session's actual
 * inputs and outputs: names, element types and static sizes are read from the model (exports
 * differ: SD's UNet takes an int64 timestep, ours a float32 one, Microsoft's WebNN exports
 * float16 tensors and a static batch of 2, SDXL two more UNet inputs, LCM a guidance embedding,
 * FLUX packed `hidden_states` and a guidance scale), never assumed. The text side is text-encoders.ts; the
 * shared boundary (lookup, checks, float16) is session-io.ts.
 */
import { ModelLoadError } from '../errors.ts';
import { timestepInput, type DenoiserSpec } from '../models/denoiser.ts';
import { cpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';
import { float32ToFloat16, toFloat16Bits } from '../util/float16.ts';
import { concreteDims, elementCount, fail, FloatBridge, pick, readFloats, requireFloat, staticDim, takeOutputs, type FloatType } from './session-io.ts';

/** What the denoiser is conditioned on besides the text's hidden states. */
export interface DenoiserConditions {
  /** Pooled text embeddings, one per batch entry, in batch order ([negative, prompt] when guided). */
  readonly pooled: readonly (Float32Array | undefined)[];
  readonly width: number;
  readonly height: number;
  /** The request's guidance scale (a UNet that embeds guidance takes it as an input). */
  readonly guidance: number;
  readonly batch: number;
  /** The latent's patches, rows by columns (a transformer's image tokens), for position ids. */
  readonly patches: { readonly rows: number; readonly columns: number };
}

/**
 * The inputs a denoiser may take beyond its latent, timestep and encoder_hidden_states: SDXL's
 * pooled text and sizes, LCM's guidance embedding, FLUX's guidance scale.
 */
const EXTRA_INPUTS = ['text_embeds', 'time_ids', 'timestep_cond', 'guidance', 'img_ids', 'txt_ids'] as const;
/** Names the latent input goes by: diffusers' UNet, FLUX's transformer (packed), others' plain latent. */
const LATENT_INPUTS = ['sample', 'hidden_states', 'latent'] as const;
/** Names the prediction goes by, in order of preference; else the sole output. */
const PREDICTION_OUTPUTS = ['out_sample', 'sample', 'noise_pred', 'latent'] as const;

/**
 * The denoiser: noisy latent (in the layout its description declares), timestep and text
 * conditioning in; its prediction (noise or flow velocity, as declared) out.
 */
export class DenoiserModel {
  readonly session: OrtSession;
  readonly spec: DenoiserSpec;
  private readonly sample: TensorInfo & { dtype: FloatType };
  private readonly timestep: TensorInfo;
  private readonly context: TensorInfo & { dtype: FloatType };
  private readonly output: TensorInfo & { dtype: FloatType };
  private readonly extras: readonly (TensorInfo & { dtype: FloatType })[];
  private readonly floats: FloatBridge;
  /** The batch size the graph is fixed to, if it is (Microsoft's SD 1.5 export: 2). */
  readonly staticBatch: number | undefined;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit the declared denoiser */
  constructor(session: OrtSession, spec: DenoiserSpec, device?: GPUDevice) {
    this.session = session;
    this.spec = spec;
    this.floats = new FloatBridge(device);
    const role = spec.kind;
    const latent = LATENT_INPUTS.map((name) => pick(session.inputs, name, false)).find((info) => info !== undefined);
    this.sample = requireFloat(role, latent, `latent input (${LATENT_INPUTS.join(', ')})`, session);
    this.context = requireFloat(role, pick(session.inputs, 'encoder_hidden_states', false), 'input "encoder_hidden_states"', session);
    const output = PREDICTION_OUTPUTS.map((name) => pick(session.outputs, name, false)).find((info) => info !== undefined) ?? pick(session.outputs, '', true);
    this.output = requireFloat(role, output, 'output', session);
    const timestep = pick(session.inputs, 'timestep', false);
    if (timestep === undefined || !['float32', 'float16', 'int32', 'int64'].includes(timestep.dtype)) {
      fail(role, 'input "timestep" must be float32, float16, int32 or int64', session);
    }
    this.timestep = timestep;
    const known = new Set([this.sample.name, 'timestep', 'encoder_hidden_states', ...EXTRA_INPUTS]);
    // LoRA branch inputs (src/lora/lora-graph.ts) are the session's own fixed feeds.
    const unknown = session.inputs.find((info) => !known.has(info.name) && !info.name.startsWith('lora:'));
    if (unknown !== undefined) {
      fail(role, `input "${unknown.name}" is not one we know how to feed (we feed ${[...known].join(', ')})`, session);
    }
    this.extras = EXTRA_INPUTS.flatMap((name) => {
      const info = pick(session.inputs, name, false);
      return info !== undefined ? [requireFloat(role, info, `input "${name}"`, session)] : [];
    });
    this.staticBatch = staticDim(this.sample, 0);
  }

  /**
   * Whether guidance is an input of the model (LCM's `timestep_cond`, FLUX-dev's `guidance`, or
   * declared 'embedded') rather than two passes.
   */
  get embedsGuidance(): boolean {
    return this.spec.guidance === 'embedded' || this.extras.some((info) => info.name === 'timestep_cond' || info.name === 'guidance');
  }

  /** Whether the model needs a pooled text embedding (SDXL's `text_embeds`). */
  get needsPooled(): boolean {
    return this.extras.some((info) => info.name === 'text_embeds');
  }

  /**
   * The request's fixed extra inputs, built once and fed at every step; the caller disposes them.
   * @throws ModelLoadError when the model needs a pooled embedding the text encoders do not give
   */
  conditionFeeds(c: DenoiserConditions): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const info of this.extras) {
      if (info.name === 'img_ids' || info.name === 'txt_ids') {
        feeds[info.name] = positionIds(info, c);
        continue;
      }
      const dims = concreteDims(info, [c.batch, 1], c.batch);
      // FLUX's guidance is one scale per batch entry, [batch]: a row of one.
      const width = dims.length === 1 ? 1 : dims[dims.length - 1]!;
      const values = new Float32Array(elementCount(dims));
      for (let row = 0; row < c.batch; row++) {
        const target = values.subarray(row * width, (row + 1) * width);
        if (info.name === 'text_embeds') {
          const pooled = c.pooled[row];
          if (pooled === undefined || pooled.length !== width) {
            throw new ModelLoadError(
              `${this.spec.kind}: input "text_embeds" needs a pooled text embedding of ${width} values, and the text encoders give ${pooled?.length ?? 'none'}`,
              {
                role: this.spec.kind,
              },
            );
          }
          target.set(pooled);
        } else if (info.name === 'time_ids') {
          // SDXL's size conditioning: original size, crop offset, target size.
          target.set([c.height, c.width, 0, 0, c.height, c.width].slice(0, width));
        } else if (info.name === 'guidance') {
          target.fill(c.guidance);
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
   * @param sample float32, in the layout the denoiser takes ([batch, channels, h, w], or packed patches)
   * @param timestep the scheduler's; converted to what the export takes (`DenoiserSpec.timestep`)
   * @param context [batch, length, hidden], from `prepareContext`
   * @param feeds from `conditionFeeds`
   */
  async predict(sample: Tensor, scheduled: number, context: Tensor, batch: number, feeds: Readonly<Record<string, Tensor>> = {}): Promise<Tensor> {
    const timestep = timestepInput(this.spec, scheduled);
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
 * FLUX's position ids, one row per token, [tokens, axes] or [batch, tokens, axes] (unverified for
 * the FLUX.2 exports; diffusers' Flux2Pipeline): image tokens (0, row, column[, 0]), text tokens
 * zero but for FLUX.2's fourth axis, the token's index (FLUX.1's three axes are all zero).
 */
function positionIds(info: TensorInfo, c: DenoiserConditions): Tensor {
  const image = info.name === 'img_ids';
  const tokens = image ? c.patches.rows * c.patches.columns : 0;
  const dims = concreteDims(info, [tokens, 3], c.batch);
  const axes = dims[dims.length - 1]!;
  const rows = dims[dims.length - 2]!;
  const values = new Float32Array(elementCount(dims));
  for (let k = 0; k < values.length / axes; k++) {
    const token = k % rows;
    const row = values.subarray(k * axes, (k + 1) * axes);
    if (image) {
      row[1] = Math.floor(token / c.patches.columns);
      row[2] = token % c.patches.columns;
    } else if (axes >= 4) {
      row[3] = token;
    }
  }
  return info.dtype === 'float16' ? cpuTensor('float16', float32ToFloat16(values), dims) : cpuTensor('float32', values, dims);
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

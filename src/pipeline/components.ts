/**
 * The three networks of a latent diffusion model, each bound to its session's actual inputs and
 * outputs: names and element types are read from the model (exports differ: SD's UNet takes an
 * int64 timestep, ours a float32 one), never assumed.
 */
import { ModelLoadError } from '../errors.ts';
import { cpuTensor, type OrtSession, type Tensor, type TensorInfo } from '../ort/ort.ts';

/** Which of a model's files a component is, for messages. */
type Role = 'text_encoder' | 'unet' | 'vae_decoder';

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

function requireFloat32(role: Role, info: TensorInfo | undefined, what: string, session: OrtSession): TensorInfo {
  if (info === undefined) fail(role, `no ${what}`, session);
  if (info.dtype !== 'float32') {
    // Our kernels read and write float32; float16 models need f16 variants of them.
    fail(role, `${what} "${info.name}" is ${info.dtype}; only float32 model inputs and outputs are supported`, session);
  }
  return info;
}

/** `shape` with its symbolic dimensions (batch) set to `batch`. */
function concreteDims(info: TensorInfo, fallback: readonly number[], batch: number): number[] {
  if (info.shape === undefined) return [...fallback];
  return info.shape.map((dim) => (typeof dim === 'number' && dim > 0 ? dim : batch));
}

/** CLIP text encoder: token ids in, `last_hidden_state` out. */
export class TextEncoderModel {
  readonly session: OrtSession;
  private readonly input: TensorInfo;
  private readonly output: TensorInfo;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a text encoder */
  constructor(session: OrtSession) {
    this.session = session;
    const input = session.inputs[0];
    if (input === undefined || (input.dtype !== 'int32' && input.dtype !== 'int64')) {
      fail('text_encoder', 'the first input must be int32 or int64 token ids', session);
    }
    this.input = input;
    this.output = requireFloat32('text_encoder', pick(session.outputs, 'last_hidden_state', true), 'hidden-state output', session);
  }

  /** The hidden states of one tokenized text, [1, length, hidden]; the caller disposes them. */
  async encode(ids: Int32Array): Promise<Tensor> {
    const dims = [1, ids.length];
    const tensor =
      this.input.dtype === 'int64' ? cpuTensor('int64', BigInt64Array.from(ids, BigInt), dims) : cpuTensor('int32', ids, dims);
    return takeOutput(await this.session.run({ [this.input.name]: tensor }), this.output.name);
  }
}

/** The denoising UNet: noisy latent, timestep and text conditioning in; predicted noise out. */
export class UnetModel {
  readonly session: OrtSession;
  private readonly sample: TensorInfo;
  private readonly timestep: TensorInfo;
  private readonly context: TensorInfo;
  private readonly output: TensorInfo;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a UNet */
  constructor(session: OrtSession) {
    this.session = session;
    this.sample = requireFloat32('unet', pick(session.inputs, 'sample', false), 'input "sample"', session);
    this.context = requireFloat32('unet', pick(session.inputs, 'encoder_hidden_states', false), 'input "encoder_hidden_states"', session);
    this.output = requireFloat32('unet', pick(session.outputs, 'out_sample', true), 'output', session);
    const timestep = pick(session.inputs, 'timestep', false);
    if (timestep === undefined || !['float32', 'int32', 'int64'].includes(timestep.dtype)) {
      fail('unet', 'input "timestep" must be float32, int32 or int64', session);
    }
    this.timestep = timestep;
  }

  /**
   * One evaluation for a batch of `batch` latents; the caller disposes the returned prediction.
   * @param sample [batch, channels, h, w]
   * @param context [batch, length, hidden]
   */
  async predict(sample: Tensor, timestep: number, context: Tensor, batch: number): Promise<Tensor> {
    const dims = concreteDims(this.timestep, [batch], batch);
    const count = dims.reduce((a, b) => a * b, 1);
    const t =
      this.timestep.dtype === 'int64'
        ? cpuTensor('int64', new BigInt64Array(count).fill(BigInt(Math.round(timestep))), dims)
        : this.timestep.dtype === 'int32'
          ? cpuTensor('int32', new Int32Array(count).fill(Math.round(timestep)), dims)
          : cpuTensor('float32', new Float32Array(count).fill(timestep), dims);
    const outputs = await this.session.run({ [this.sample.name]: sample, [this.timestep.name]: t, [this.context.name]: context });
    return takeOutput(outputs, this.output.name);
  }
}

/** The VAE decoder: a scaled latent in, a [1, 3, H, W] picture in [-1, 1] out. */
export class VaeDecoderModel {
  readonly session: OrtSession;
  private readonly input: TensorInfo;
  private readonly output: TensorInfo;

  /** @throws ModelLoadError when the session's inputs and outputs do not fit a VAE decoder */
  constructor(session: OrtSession) {
    this.session = session;
    this.input = requireFloat32('vae_decoder', pick(session.inputs, 'latent_sample', true), 'latent input', session);
    this.output = requireFloat32('vae_decoder', pick(session.outputs, 'sample', true), 'picture output', session);
  }

  /** The decoded picture; the caller disposes it. */
  async decode(latent: Tensor): Promise<Tensor> {
    return takeOutput(await this.session.run({ [this.input.name]: latent }), this.output.name);
  }
}

/** The output called `name`; every other output is disposed (their GPU buffers go back to ORT). */
function takeOutput(outputs: Record<string, Tensor>, name: string): Tensor {
  let taken: Tensor | undefined;
  for (const [key, tensor] of Object.entries(outputs)) {
    if (key === name) taken = tensor;
    else tensor.dispose();
  }
  if (taken === undefined) throw new Error(`the session returned no output "${name}"`);
  return taken;
}

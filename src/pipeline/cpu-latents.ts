/**
 * Latents on the CPU: guidance in JavaScript and the scheduler's own `step`. The 'wasm'
 * backend's loop, and the reference the GPU loop is tested against.
 */
import { cpuTensor, float32DataOf, type Tensor } from '../ort/ort.ts';
import { checkFinite, countNonFinite, decodedToRgba } from './image.ts';
import { modelDims, type Latents, type LatentsSetup } from './latents.ts';
import { isPacked, packLatents, unpackLatents } from '../gpu/patch-index.ts';
import { batchStepNoise } from './prng.ts';
import { blendMaskedCpu } from '../gpu/blend-masked.ts';
import { latentAffineCpu } from '../gpu/latent-affine.ts';
import { latentPreviewCpu, type PreviewMap } from '../gpu/latent-preview.ts';
import { noisedSampleScales } from '../schedulers/linear-step.ts';

export class CpuLatents implements Latents {
  readonly batch: number;
  private readonly setup: LatentsSetup;
  private sample: Float32Array<ArrayBuffer>;
  /** The last step's denoised estimate, for a multistep scheduler's next step. */
  private denoised: Float32Array | undefined;

  constructor(setup: LatentsSetup) {
    this.setup = setup;
    this.batch = (setup.guidance === undefined ? 1 : 2) * setup.latentDims[0]!;
    this.sample = setup.initial.slice();
    this.denoised = setup.source?.latent;
  }

  conditioning(hidden: readonly Tensor[]): Tensor {
    const parts = hidden.map((tensor) => float32DataOf(tensor));
    const joined = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    const [, length = 0, width = 0] = hidden[0]?.dims ?? [];
    return cpuTensor('float32', joined, [this.batch, length, width]);
  }

  modelInput(i: number): Tensor {
    const scaled = packLatents(this.setup.scheduler.scaleModelInput(this.sample, i), this.setup.packing);
    const copies = this.setup.guidance === undefined ? 1 : 2;
    const input = new Float32Array(copies * scaled.length);
    for (let copy = 0; copy < copies; copy++) input.set(scaled, copy * scaled.length);
    return cpuTensor('float32', input, modelDims(this.setup, this.batch));
  }

  step(prediction: Tensor, i: number): void {
    const count = this.sample.length;
    // Packing keeps each batch entry in its own block: a guided batch unpacks as a whole.
    const packed = float32DataOf(prediction);
    const output = isPacked(this.setup.packing) ? unpackLatents(packed, this.setup.packing) : packed;
    const { guidance } = this.setup;
    let eps = output.subarray(0, count);
    if (guidance !== undefined) {
      const guided = new Float32Array(count);
      for (let k = 0; k < count; k++) guided[k] = output[k]! + guidance * (output[count + k]! - output[k]!);
      eps = guided;
    }
    const { scheduler, seeds } = this.setup;
    const noise = scheduler.coefficients(i).prevFromNoise !== 0 ? batchStepNoise(seeds, i, count / seeds.length) : undefined;
    const result = scheduler.step(eps, i, this.sample, { noise, previousDenoised: this.denoised });
    this.sample = result.prevSample as Float32Array<ArrayBuffer>;
    this.denoised = result.denoised;
    const source = this.setup.source;
    if (source?.mask !== undefined) {
      // Kept cells: the source at the next step's noise level, or after the last step the source itself.
      const last = i === scheduler.timesteps.length - 1;
      const { fromSource, fromNoise } = last ? { fromSource: 1, fromNoise: 0 } : noisedSampleScales(scheduler.coefficients(i + 1));
      blendMaskedCpu(this.sample, source.mask, source.latent, source.noise, fromSource, fromNoise);
    }
  }

  decoderInput(index: number): Tensor {
    const perPicture = this.sample.length / this.setup.latentDims[0]!;
    const scaled = this.sample.slice(index * perPicture, (index + 1) * perPicture).map((x) => x / this.setup.scalingFactor);
    const [, , height = 0, width = 0] = this.setup.latentDims;
    if (this.setup.decoderAffine !== undefined) latentAffineCpu(scaled, height, width, this.setup.decoderAffine);
    return cpuTensor('float32', scaled, [1, ...this.setup.latentDims.slice(1)]);
  }

  async pixels(decoded: Tensor, width: number, height: number): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const image = float32DataOf(decoded);
    checkFinite(countNonFinite(image, width * height), width * height);
    return decodedToRgba(image, width, height);
  }

  async preview(map: PreviewMap): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const [, channels = 0, h = 0, w = 0] = this.setup.latentDims;
    const denoised = this.denoised ?? this.sample;
    return latentPreviewCpu(denoised.subarray(0, channels * h * w), h * w, map);
  }

  async settle(): Promise<void> {}

  dispose(): void {}
}

/**
 * Latents on the GPU for the whole generation: uploaded once, stepped in place by our kernels
 * reading the UNet's output buffer, fed back to ONNX Runtime with `Tensor.fromGpuBuffer`, and
 * decoded to RGBA on the GPU, so the finished picture is the only readback.
 */
import { createStorageBuffer, readBuffer } from '../gpu/device.ts';
import { blendMasked } from '../gpu/blend-masked.ts';
import { guidedStep, type StepTerms } from '../gpu/guided-step.ts';
import { latentAffine } from '../gpu/latent-affine.ts';
import { latentPreview, type PreviewMap } from '../gpu/latent-preview.ts';
import { latentToImage } from '../gpu/latent-to-image.ts';
import { prepareUnetInput } from '../gpu/prepare-unet-input.ts';
import { gpuBufferOf, gpuTensor, type Tensor } from '../ort/ort.ts';
import { checkFinite } from './image.ts';
import { noisedSampleScales } from '../schedulers/linear-step.ts';
import { modelDims, type Latents, type LatentsSetup } from './latents.ts';
import { batchStepNoise } from './prng.ts';

export class GpuLatents implements Latents {
  readonly batch: number;
  private readonly device: GPUDevice;
  private readonly setup: LatentsSetup;
  private readonly count: number;
  /** The latent x, stepped in place. */
  private readonly sample: GPUBuffer;
  /** The denoiser's latent input: [batch, …] copies of inputScale * x, in its layout. */
  private readonly unetInput: GPUBuffer;
  /**
   * Second output of the step kernel: the denoised estimate (which the next step may read, as
   * DPM++ 2M does), and after the last step the decoder's input.
   */
  private readonly aux: GPUBuffer;
  /** The step's fresh noise, written from the CPU before the steps that add some (no readback). */
  private readonly noise: GPUBuffer;
  /** Buffers made later (conditioning, pixels), destroyed with the rest. */
  private readonly others: GPUBuffer[] = [];
  /** The cheap preview's pixels, made on the first preview. */
  private previewPixels: GPUBuffer | undefined;
  /** Inpainting's mask, source latent and starting noise. */
  private readonly inpaint: { readonly mask: GPUBuffer; readonly source: GPUBuffer; readonly noise: GPUBuffer; readonly cells: number } | undefined;

  constructor(device: GPUDevice, setup: LatentsSetup) {
    this.device = device;
    this.setup = setup;
    this.batch = (setup.guidance === undefined ? 1 : 2) * setup.latentDims[0]!;
    this.count = setup.initial.length;
    this.sample = createStorageBuffer(device, 'latent', this.count * 4, setup.initial);
    this.unetInput = createStorageBuffer(device, 'unet sample', this.batch * this.count * 4);
    // Image-to-image: the source's latent is the first step's "previous denoised estimate".
    this.aux = createStorageBuffer(device, 'denoised latent', this.count * 4, setup.source?.latent);
    if (setup.source?.mask !== undefined) {
      const { latent, noise, mask } = setup.source;
      this.inpaint = {
        mask: this.track(createStorageBuffer(device, 'inpainting mask', mask.byteLength, mask)),
        source: this.track(createStorageBuffer(device, 'source latent', latent.byteLength, latent)),
        noise: this.track(createStorageBuffer(device, 'source noise', noise.byteLength, noise)),
        cells: mask.length,
      };
    }
    this.noise = createStorageBuffer(device, 'step noise', this.count * 4);
  }

  conditioning(hidden: readonly Tensor[]): Tensor {
    const sizes = hidden.map((tensor) => tensor.dims.reduce((a, b) => a * b, 1) * 4);
    const joined = this.track(
      createStorageBuffer(
        this.device,
        'conditioning',
        sizes.reduce((a, b) => a + b, 0),
      ),
    );
    const encoder = this.device.createCommandEncoder({ label: 'conditioning' });
    let offset = 0;
    hidden.forEach((tensor, index) => {
      encoder.copyBufferToBuffer(gpuBufferOf(tensor), 0, joined, offset, sizes[index]!);
      offset += sizes[index]!;
    });
    this.device.queue.submit([encoder.finish()]);
    const [, length = 0, width = 0] = hidden[0]?.dims ?? [];
    return gpuTensor(joined, [this.batch, length, width]);
  }

  modelInput(i: number): Tensor {
    const { inputScale } = this.setup.scheduler.coefficients(i);
    prepareUnetInput(this.device, {
      sample: this.sample,
      modelInput: this.unetInput,
      count: this.count,
      copies: this.setup.guidance === undefined ? 1 : 2,
      inputScale,
      packing: this.setup.packing,
    });
    return gpuTensor(this.unetInput, modelDims(this.setup, this.batch));
  }

  step(prediction: Tensor, i: number): void {
    const { scheduler, guidance, scalingFactor, seeds } = this.setup;
    const c = scheduler.coefficients(i);
    const last = i === scheduler.timesteps.length - 1;
    // Queue writes are ordered after the work submitted before them: the previous step has read
    // the old noise by then.
    if (c.prevFromNoise !== 0) this.device.queue.writeBuffer(this.noise, 0, batchStepNoise(seeds, i, this.count / seeds.length));
    const sampleTerms: StepTerms = {
      fromSample: c.prevFromSample,
      fromOutput: c.prevFromOutput,
      fromAux: c.prevFromPreviousDenoised,
      fromNoise: c.prevFromNoise,
    };
    // On the last step aux is the final latent over the scaling factor: the decoder's input.
    const auxTerms: StepTerms = last
      ? {
          fromSample: sampleTerms.fromSample / scalingFactor,
          fromOutput: sampleTerms.fromOutput / scalingFactor,
          fromAux: sampleTerms.fromAux / scalingFactor,
          fromNoise: sampleTerms.fromNoise / scalingFactor,
        }
      : { fromSample: c.denoisedFromSample, fromOutput: c.denoisedFromOutput, fromAux: 0, fromNoise: 0 };
    guidedStep(this.device, {
      modelOutput: gpuBufferOf(prediction),
      sample: this.sample,
      aux: this.aux,
      noise: this.noise,
      count: this.count,
      guided: guidance !== undefined,
      guidance: guidance ?? 1,
      sampleTerms,
      auxTerms,
      packing: this.setup.packing,
    });
    if (this.inpaint !== undefined) {
      // Kept cells: the source at the next step's noise level; after the last step, aux (the
      // decoder's input) gets the source itself over the scaling factor.
      const { fromSource, fromNoise } = last ? { fromSource: 1 / scalingFactor, fromNoise: 0 } : noisedSampleScales(scheduler.coefficients(i + 1));
      blendMasked(this.device, { ...this.inpaint, target: last ? this.aux : this.sample, count: this.count, fromSource, fromNoise });
    }
  }

  decoderInput(index: number): Tensor {
    const [pictures = 1, , height = 0, width = 0] = this.setup.latentDims;
    const dims = [1, ...this.setup.latentDims.slice(1)];
    const map = this.setup.decoderAffine;
    if (pictures === 1 && map === undefined) return gpuTensor(this.aux, dims);
    // One picture's slice of the batch, copied out (ONNX Runtime takes whole buffers), and
    // mapped there: aux itself is left as the last step wrote it.
    const values = this.count / pictures;
    const slice = createStorageBuffer(this.device, 'decoder input', values * 4);
    const encoder = this.device.createCommandEncoder({ label: 'decoder input' });
    encoder.copyBufferToBuffer(this.aux, index * values * 4, slice, 0, values * 4);
    this.device.queue.submit([encoder.finish()]);
    if (map !== undefined) latentAffine(this.device, slice, values, height, width, map);
    return gpuTensor(slice, dims, 'float32', () => slice.destroy());
  }

  async pixels(decoded: Tensor, width: number, height: number): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const pixels = width * height;
    // The word after the pixels counts those with a NaN or infinite value.
    const rgba = this.track(createStorageBuffer(this.device, 'pixels', pixels * 4 + 4));
    latentToImage(this.device, { image: gpuBufferOf(decoded), rgba, pixels });
    const read = await readBuffer(this.device, rgba, pixels * 4 + 4);
    checkFinite(new Uint32Array(read, pixels * 4, 1)[0]!, pixels);
    return new Uint8ClampedArray(read, 0, pixels * 4);
  }

  async preview(map: PreviewMap): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const [, , h = 0, w = 0] = this.setup.latentDims;
    const cells = h * w;
    this.previewPixels ??= this.track(createStorageBuffer(this.device, 'preview', cells * 4));
    // aux holds the denoised estimate between steps.
    latentPreview(this.device, { latent: this.aux, rgba: this.previewPixels, cells, map });
    return new Uint8ClampedArray(await readBuffer(this.device, this.previewPixels, cells * 4));
  }

  settle(): Promise<void> {
    return this.device.queue.onSubmittedWorkDone();
  }

  dispose(): void {
    for (const buffer of [this.sample, this.unetInput, this.aux, this.noise, ...this.others]) buffer.destroy();
    this.others.length = 0;
  }

  private track(buffer: GPUBuffer): GPUBuffer {
    this.others.push(buffer);
    return buffer;
  }
}

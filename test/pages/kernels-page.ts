/**
 * Runs the WGSL kernels on the page's real WebGPU device for test/gpu/kernels.test.ts: each call
 * uploads its inputs, runs one kernel, reads the outputs back and destroys every buffer it made.
 * Arrays cross `page.evaluate` as plain number arrays.
 */
import { castOnGpu, halfBufferBytes } from '../../src/gpu/cast.ts';
import { createStorageBuffer, readBuffer, requestGpuDevice } from '../../src/gpu/device.ts';
import { guidedStep, type StepTerms } from '../../src/gpu/guided-step.ts';
import { latentAffine } from '../../src/gpu/latent-affine.ts';
import { latentPreview } from '../../src/gpu/latent-preview.ts';
import { latentToImage } from '../../src/gpu/latent-to-image.ts';
import type { Packing } from '../../src/gpu/patch-index.ts';
import { prepareUnetInput } from '../../src/gpu/prepare-unet-input.ts';

export interface GuidedStepCase {
  readonly modelOutput: number[];
  readonly sample: number[];
  /** aux before the step (the previous denoised estimate). */
  readonly aux: number[];
  readonly noise: number[];
  readonly guided: boolean;
  readonly guidance: number;
  readonly sampleTerms: StepTerms;
  readonly auxTerms: StepTerms;
  readonly packing?: Packing;
}

export interface KernelPage {
  prepareUnetInput(sample: number[], copies: 1 | 2, inputScale: number, packing?: Packing): Promise<number[]>;
  /** A latent past one dispatch dimension (2-D grid), checked here: returns the number of wrong values. */
  prepareUnetInputLarge(count: number): Promise<{ wrong: number; grid2d: boolean }>;
  guidedStep(c: GuidedStepCase): Promise<{ sample: number[]; aux: number[] }>;
  /** RGBA bytes, and the count of pixels with a non-finite value the kernel wrote after them. */
  latentToImage(image: number[], pixels: number): Promise<{ bytes: number[]; nonFinite: number }>;
  /** The cheap preview map over a planar latent: RGBA bytes, one pixel per cell. */
  latentPreview(latent: number[], cells: number, rgbFactors: number[][], rgbBias: number[]): Promise<number[]>;
  /** The latent space's per-channel map before decoding, in place on a [channels, height, width] latent. */
  latentAffine(latent: number[], height: number, width: number, scale: number[], offset: number[], patch: number): Promise<number[]>;
  /** float32 values to float16 on the GPU (the bits) and back to float32 (the values). */
  cast(values: number[]): Promise<{ half: number[]; back: number[] }>;
  /** What a kernel throws when a buffer is too small. */
  undersizedBufferError(): Promise<string>;
}

declare global {
  interface Window {
    kernelPage?: KernelPage;
  }
}

const device = await requestGpuDevice();

/** Creates buffers through `make`, runs `work`, and destroys every buffer made, even on failure. */
async function withBuffers<T>(work: (make: (label: string, size: number, contents?: Float32Array<ArrayBuffer>) => GPUBuffer) => Promise<T>): Promise<T> {
  const made: GPUBuffer[] = [];
  try {
    return await work((label, size, contents) => {
      const buffer = createStorageBuffer(device, label, size, contents);
      made.push(buffer);
      return buffer;
    });
  } finally {
    for (const buffer of made) buffer.destroy();
  }
}

async function readFloats(buffer: GPUBuffer, count: number): Promise<number[]> {
  return Array.from(new Float32Array(await readBuffer(device, buffer, count * 4)));
}

window.kernelPage = {
  prepareUnetInput: (sample, copies, inputScale, packing) =>
    withBuffers(async (make) => {
      const input = make('sample', sample.length * 4, new Float32Array(sample));
      const output = make('model input', copies * sample.length * 4);
      prepareUnetInput(device, { sample: input, modelInput: output, count: sample.length, copies, inputScale, ...(packing !== undefined ? { packing } : {}) });
      return readFloats(output, copies * sample.length);
    }),

  prepareUnetInputLarge: (count) =>
    withBuffers(async (make) => {
      const sample = new Float32Array(count).map((_, i) => (i % 1000) - 500);
      const input = make('sample', count * 4, sample);
      const output = make('model input', 2 * count * 4);
      prepareUnetInput(device, { sample: input, modelInput: output, count, copies: 2, inputScale: 0.5 });
      const result = new Float32Array(await readBuffer(device, output, 2 * count * 4));
      let wrong = 0;
      for (let i = 0; i < 2 * count; i++) if (result[i] !== sample[i % count]! * 0.5) wrong++;
      return { wrong, grid2d: Math.ceil(count / 64) > device.limits.maxComputeWorkgroupsPerDimension };
    }),

  guidedStep: (c) =>
    withBuffers(async (make) => {
      const count = c.sample.length;
      const modelOutput = make('model output', c.modelOutput.length * 4, new Float32Array(c.modelOutput));
      const sample = make('sample', count * 4, new Float32Array(c.sample));
      const aux = make('aux', count * 4, new Float32Array(c.aux));
      const noise = make('noise', count * 4, new Float32Array(c.noise));
      guidedStep(device, { ...c, modelOutput, sample, aux, noise, count });
      return { sample: await readFloats(sample, count), aux: await readFloats(aux, count) };
    }),

  latentToImage: (image, pixels) =>
    withBuffers(async (make) => {
      const decoded = make('decoded', image.length * 4, new Float32Array(image));
      const rgba = make('rgba', pixels * 4 + 4);
      latentToImage(device, { image: decoded, rgba, pixels });
      const read = await readBuffer(device, rgba, pixels * 4 + 4);
      return { bytes: Array.from(new Uint8Array(read, 0, pixels * 4)), nonFinite: new Uint32Array(read, pixels * 4, 1)[0]! };
    }),

  latentPreview: (latent, cells, rgbFactors, rgbBias) =>
    withBuffers(async (make) => {
      const input = make('latent', latent.length * 4, new Float32Array(latent));
      const rgba = make('rgba', cells * 4);
      latentPreview(device, { latent: input, rgba, cells, map: { rgbFactors, rgbBias } });
      return Array.from(new Uint8Array(await readBuffer(device, rgba, cells * 4)));
    }),

  latentAffine: (latent, height, width, scale, offset, patch) =>
    withBuffers(async (make) => {
      const buffer = make('latent', latent.length * 4, new Float32Array(latent));
      latentAffine(device, buffer, latent.length, height, width, { scale: new Float32Array(scale), offset: new Float32Array(offset), patch });
      return readFloats(buffer, latent.length);
    }),

  cast: (values) =>
    withBuffers(async (make) => {
      const count = values.length;
      const wide = make('wide', count * 4, new Float32Array(values));
      const half = make('half', halfBufferBytes(count));
      const back = make('back', count * 4);
      castOnGpu(device, { wide, half, count, direction: 'to-half' });
      castOnGpu(device, { wide: back, half, count, direction: 'to-float' });
      return { half: Array.from(new Uint16Array(await readBuffer(device, half), 0, count)), back: await readFloats(back, count) };
    }),

  undersizedBufferError: () =>
    withBuffers(async (make) => {
      try {
        prepareUnetInput(device, { sample: make('sample', 16), modelInput: make('model input', 16), count: 4, copies: 2, inputScale: 1 });
        return 'no error';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    }),
};

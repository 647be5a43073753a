/**
 * Each WGSL kernel on the real WebGPU device of headless Chromium (SwiftShader here), against
 * a CPU reference computed in float32.
 */
import { describe, expect, it } from 'vitest';
import { decodedToRgba } from '../../src/pipeline/image.ts';
import { useBrowserPage } from '../support/browser.ts';
import type { StepTerms } from '../../src/gpu/guided-step.ts';
import type { GuidedStepCase } from '../pages/kernels-page.ts';
import { float16ToFloat32, float32ToFloat16 } from '../../src/util/float16.ts';
import { latentAffineCpu } from '../../src/gpu/latent-affine.ts';
import { latentPreviewCpu } from '../../src/gpu/latent-preview.ts';
import { packedIndex, packLatents, unpackLatents } from '../../src/gpu/patch-index.ts';

const browser = useBrowserPage('/test/pages/kernels.html', {
  ready: (page) => page.waitForFunction(() => window.kernelPage !== undefined),
});

/** Deterministic float32 values in [-scale, scale) (a small LCG, so failures reproduce). */
function values(count: number, seed: number, scale = 1): number[] {
  let state = seed >>> 0;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return Math.fround((state / 2 ** 32) * 2 * scale - scale);
  });
}

function expectClose(actual: readonly number[], expected: readonly number[], relative = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!) / (1 + Math.abs(expected[i]!))));
  expect(worst).toBeLessThanOrEqual(relative);
}

describe('prepare-unet-input', () => {
  // 4 x 8 x 8 is the bundled model's latent; 1000 is not a multiple of the workgroup size.
  it.each([256, 1000])('scales %i values into one batch entry', async (count) => {
    const sample = values(count, count);
    const result = await browser.page.evaluate(([s]) => window.kernelPage!.prepareUnetInput(s, 1, 0.75), [sample] as const);
    expect(result).toEqual(sample.map((x) => Math.fround(0.75 * x)));
  });

  it('duplicates the scaled latent into both halves of a guidance batch', async () => {
    const sample = values(256, 7, 14);
    const scale = Math.fround(1 / Math.sqrt(14.6 ** 2 + 1));
    const result = await browser.page.evaluate(([s, k]) => window.kernelPage!.prepareUnetInput(s, 2, k), [sample, scale] as const);
    const scaled = sample.map((x) => Math.fround(scale * x));
    expect(result).toEqual([...scaled, ...scaled]);
  });

  it('covers a latent larger than one dispatch dimension with a 2-D grid', async () => {
    const count = 65_535 * 64 + 100;
    const result = await browser.page.evaluate((n) => window.kernelPage!.prepareUnetInputLarge(n), count);
    expect(result).toEqual({ wrong: 0, grid2d: true });
  }, 120_000);

  it('refuses a buffer too small for the batch with a RangeError', async () => {
    const message = await browser.page.evaluate(() => window.kernelPage!.undersizedBufferError());
    expect(message).toMatch(/^RangeError: prepare-unet-input: binding 2 holds 16 bytes, needs 32/);
  });
});

describe.each([1, 2])("packed patches of side %i (a transformer's layout)", (patch) => {
  // Two pictures of 4 x 8 x 8 latents: FLUX's packing (patch 2; patch 1 is the tokens-by-channels transpose), against the CPU map.
  const packing = { channels: 4, height: 8, width: 8, patch };
  const sample = values(512, 21, 3);

  it('prepare-unet-input writes both halves of a guidance batch in the packed layout', async () => {
    const result = await browser.page.evaluate(([s, p]) => window.kernelPage!.prepareUnetInput(s, 2, 0.5, p), [sample, packing] as const);
    const packed = Array.from(packLatents(Float32Array.from(sample.map((x) => Math.fround(0.5 * x))), packing));
    expect(result).toEqual([...packed, ...packed]);
  });

  it("guided-step reads a packed [uncond, cond] output as the latent's own layout", async () => {
    const uncond = values(512, 22);
    const cond = values(512, 23);
    const zeros = new Array(512).fill(0);
    const terms = {
      sampleTerms: { fromSample: 0, fromOutput: 1, fromAux: 0, fromNoise: 0 },
      auxTerms: { fromSample: 0, fromOutput: 0, fromAux: 0, fromNoise: 0 },
    };
    const modelOutput = [...packLatents(Float32Array.from(uncond), packing), ...packLatents(Float32Array.from(cond), packing)];
    const testCase: GuidedStepCase = { modelOutput, sample, aux: zeros, noise: zeros, guided: true, guidance: 3, packing, ...terms };
    const result = await browser.page.evaluate((tc) => window.kernelPage!.guidedStep(tc), testCase);
    expectClose(
      result.sample,
      uncond.map((u, i) => u + 3 * (cond[i]! - u)),
    );
  });

  it("the CPU map is FLUX's _pack_latents: [B, C, H, W] -> [B, (H/p)(W/p), C p p]", () => {
    // element (c, y, x) of picture 1 of 2 goes to token (y/p)(W/p) + x/p, channel c p p + (y%p) p + x%p
    const at = (b: number, c: number, y: number, x: number) => b * 256 + c * 64 + y * 8 + x;
    const expected = patch === 2 ? 256 + (2 * 4 + 3) * 16 + 3 * 4 + 1 * 2 + 0 : 256 + (5 * 8 + 6) * 4 + 3;
    expect(packedIndex(at(1, 3, 5, 6), packing)).toBe(expected);
    expect(Array.from(unpackLatents(packLatents(Float32Array.from(sample), packing), packing))).toEqual(sample.map(Math.fround));
  });
});

describe('guided-step', () => {
  const count = 256;
  const sample = values(count, 11, 3);
  const uncond = values(count, 12);
  const cond = values(count, 13);
  const oldAux = values(count, 14, 2);
  const noise = values(count, 15, 2);
  // Every term non-zero, so a term dropped or read from the wrong buffer shows.
  const terms = {
    sampleTerms: { fromSample: 1.02, fromOutput: -0.31, fromAux: 0.27, fromNoise: 0.45 },
    auxTerms: { fromSample: 1.4, fromOutput: -0.9, fromAux: -0.6, fromNoise: 0.12 },
  };

  function reference(eps: readonly number[]): { sample: number[]; aux: number[] } {
    const f = Math.fround;
    const apply = (t: StepTerms) =>
      sample.map((x, i) => {
        const fromX = f(f(t.fromSample) * x);
        const fromEps = f(f(t.fromOutput) * eps[i]!);
        const fromAux = f(f(t.fromAux) * oldAux[i]!);
        const fromNoise = f(f(t.fromNoise) * noise[i]!);
        return f(f(f(fromX + fromEps) + fromAux) + fromNoise);
      });
    return { sample: apply(terms.sampleTerms), aux: apply(terms.auxTerms) };
  }

  async function run(c: Pick<GuidedStepCase, 'modelOutput' | 'guided' | 'guidance'>): Promise<{ sample: number[]; aux: number[] }> {
    const testCase: GuidedStepCase = { ...c, sample, aux: oldAux, noise, ...terms };
    return browser.page.evaluate((tc) => window.kernelPage!.guidedStep(tc), testCase);
  }

  it('applies guidance to [uncond, cond] and steps the latent in place', async () => {
    const guidance = 4;
    const result = await run({ modelOutput: [...uncond, ...cond], guided: true, guidance });
    const eps = uncond.map((u, i) => Math.fround(u + Math.fround(guidance * Math.fround(cond[i]! - u))));
    const expected = reference(eps);
    expectClose(result.sample, expected.sample);
    expectClose(result.aux, expected.aux);
  });

  it('uses the single prediction as it is without guidance', async () => {
    // guidance is ignored on this path: a wrong branch would show as a 7x error.
    const result = await run({ modelOutput: cond, guided: false, guidance: 7 });
    const expected = reference(cond);
    expectClose(result.sample, expected.sample);
    expectClose(result.aux, expected.aux);
  });

  it('gives the conditional prediction at guidance 1 and the unconditional at 0', async () => {
    const at = (guidance: number) => run({ modelOutput: [...uncond, ...cond], guided: true, guidance });
    expectClose((await at(1)).sample, reference(cond).sample);
    expectClose((await at(0)).sample, reference(uncond).sample);
  });
});

describe('latent-to-image', () => {
  it('packs a planar [3, H, W] image into the same RGBA bytes as the CPU path', async () => {
    const [width, height] = [64, 64];
    const pixels = width * height;
    const image = values(3 * pixels, 21, 1.2);
    // Edges: the clamp at both ends, the exact ends of the range, and values whose scaled form
    // falls exactly on .5 (where half-to-even and half-up rounding would differ).
    const edges = [-5, -1, 1, 5, 0, Math.fround(0.5 / 127.5 - 1), Math.fround(2.5 / 127.5 - 1), Math.fround(253.5 / 127.5 - 1)];
    image.splice(0, edges.length, ...edges);
    const { bytes: result, nonFinite } = await browser.page.evaluate(([img, n]) => window.kernelPage!.latentToImage(img, n), [image, pixels] as const);
    expect(result).toEqual(Array.from(decodedToRgba(new Float32Array(image), width, height)));
    expect(result.slice(0, 4)).toEqual([0, Math.round((image[pixels]! + 1) * 127.5), Math.round((image[2 * pixels]! + 1) * 127.5), 255]);
    expect(nonFinite).toBe(0);
  });

  it('counts the pixels with a NaN or infinite value, whichever channel has it', async () => {
    const pixels = 16 * 16;
    const image = values(3 * pixels, 5, 0.9);
    // Pixel 3: NaN in red; pixel 10: +Inf in green; pixel 200: -Inf in blue and NaN in red.
    image[3] = Number.NaN;
    image[pixels + 10] = Number.POSITIVE_INFINITY;
    image[2 * pixels + 200] = Number.NEGATIVE_INFINITY;
    image[200] = Number.NaN;
    const { nonFinite } = await browser.page.evaluate(([img, n]) => window.kernelPage!.latentToImage(img, n), [image, pixels] as const);
    expect(nonFinite).toBe(3);
  });
});

describe('latent-affine', () => {
  it.each([
    ['per latent channel (a shift factor)', 1],
    ["per channel of a 2x2 patch (FLUX.2's batch-norm statistics)", 2],
  ])('maps each value %s as the CPU reference does', async (_, patch) => {
    const [channels, height, width] = [3, 6, 8];
    const latent = values(channels * height * width, 41, 3);
    const entries = channels * patch * patch;
    const scale = values(entries, 42, 2).map((v) => 1 + Math.abs(v));
    const offset = values(entries, 43, 1);
    const result = await browser.page.evaluate(([l, h, w, s, o, p]) => window.kernelPage!.latentAffine(l, h, w, s, o, p), [
      latent,
      height,
      width,
      scale,
      offset,
      patch,
    ] as const);
    const expected = new Float32Array(latent);
    latentAffineCpu(expected, height, width, { scale: new Float32Array(scale), offset: new Float32Array(offset), patch });
    expectClose(result, Array.from(expected));
  });
});

describe('latent-preview', () => {
  it('maps each latent cell to the same RGBA bytes as the CPU map', async () => {
    const cells = 8 * 8;
    const latent = values(4 * cells, 31, 2);
    const rgbFactors = [
      [0.46, 0.15, -0.1],
      [0, -0.06, -0.55],
      [-0.16, 0.36, 0.03],
      [0.36, 0.17, 0.18],
    ];
    const rgbBias = [0.18, 0, -0.15];
    const result = await browser.page.evaluate(([l, c, f, b]) => window.kernelPage!.latentPreview(l, c, f, b), [latent, cells, rgbFactors, rgbBias] as const);
    const expected = Array.from(latentPreviewCpu(new Float32Array(latent), cells, { rgbFactors, rgbBias }));
    const worst = Math.max(...result.map((v, k) => Math.abs(v - expected[k]!)));
    // Sums in another order can land a byte apart at a rounding boundary.
    expect(worst).toBeLessThanOrEqual(1);
    expect(result.filter((_, k) => k % 4 === 3).every((alpha) => alpha === 255)).toBe(true);
  });
});

describe('cast (float32 <-> float16 for half-precision models)', () => {
  it('rounds to the same float16 bits as the CPU conversion, and back to the float16 values', async () => {
    // Odd length (the last word holds one value), normal and subnormal halves, overflow, ties.
    const input = [...values(99, 9, 3), 65504, 70000, -70000, 1e-5, -3e-7, 6e-8, 0, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    const { half, back } = await browser.page.evaluate((v) => window.kernelPage!.cast(v), input);
    expect(half).toEqual(Array.from(float32ToFloat16(input)));
    expect(back).toEqual(Array.from(float16ToFloat32(float32ToFloat16(input))));
  });
});

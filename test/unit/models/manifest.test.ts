import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/errors.ts';
import { parseManifest } from '../../../src/models/manifest.ts';

const bundled = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes/manifest.json', import.meta.url), 'utf8'));

describe('parseManifest', () => {
  it('reads the bundled model manifest', () => {
    const manifest = parseManifest(bundled, 'tiny-shapes');
    expect(manifest).toMatchObject({
      id: 'tiny-shapes',
      resolution: { width: 64, height: 64 },
      latent: { channels: 4, downsample: 8 },
      textEncoder: { maxLength: 77 },
      defaults: { scheduler: 'ddim' },
      models: { unet: { file: 'unet/model.onnx' } },
    });
    expect(manifest.files.map((f) => f.path)).toContain('unet/model.onnx');
    expect(manifest.models.unet!.externalData).toBeUndefined();
  });

  it('reads the external-data files a model names', () => {
    const models = { ...bundled.models, unet: { file: 'unet/model.onnx', externalData: ['unet/weights.bin'] } };
    expect(parseManifest({ ...bundled, models }, 'm.json').models.unet).toEqual({ file: 'unet/model.onnx', externalData: ['unet/weights.bin'] });
  });

  it('reads the precision a quantized model declares; fp32 models may leave it out', () => {
    expect(parseManifest({ ...bundled, precision: 'q4' }, 'm.json').precision).toBe('q4');
    expect(parseManifest(bundled, 'm.json').precision).toBeUndefined();
    expect(() => parseManifest({ ...bundled, precision: 'int3' }, 'm.json')).toThrow(/"precision" must be one of fp32, fp16, q8, q4, q4f16, got "int3"/);
  });

  it.each([
    ['format', { format: 'webdiffusion-manifest/2' }, /"format" must be "webdiffusion-manifest\/1"/],
    ['resolution', { resolution: { width: 64 } }, /"resolution.height" must be a positive integer, got nothing/],
    ['scaling factor', { latent: { channels: 4, downsample: 8, scalingFactor: 0 } }, /"latent.scalingFactor" must be a positive number, got 0/],
    ['default scheduler', { defaults: { steps: 20, guidance: 4, scheduler: 'plms' } }, /"defaults.scheduler" must be a known scheduler name/],
    ['model file', { models: { ...bundled.models, unet: {} } }, /"models.unet.file" must be a non-empty string/],
    ['external data list', { models: { ...bundled.models, unet: { file: 'unet/model.onnx', externalData: ['ok', 3] } } }, /"models.unet.externalData" must be an array of file paths/],
    ['digest', { files: [{ path: 'a', size: 1, sha256: 'XYZ' }] }, /"files\[0\].sha256" must be 64 lower-case hex digits/],
  ])('refuses a bad %s with ManifestError naming the field', (_, change, message) => {
    const attempt = () => parseManifest({ ...bundled, ...change }, 'm.json');
    expect(attempt).toThrow(ManifestError);
    expect(attempt).toThrow(message);
  });
});

describe('the denoiser a manifest declares', () => {
  const flow = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes-flow/manifest.json', import.meta.url), 'utf8'));

  it("is Stable Diffusion's UNet when the manifest says nothing", () => {
    expect(parseManifest(bundled, 'tiny-shapes').denoiser).toEqual({ kind: 'unet', prediction: 'epsilon', timestep: 'index', patchSize: 1, packing: 'none', guidance: 'cfg', outputSign: 1 });
  });

  it("reads tiny-shapes-flow's transformer: flow velocity, t as the timestep, packed tokens, its model under models.transformer", () => {
    const manifest = parseManifest(flow, 'tiny-shapes-flow');
    expect(manifest.denoiser).toMatchObject({ kind: 'transformer', prediction: 'flow', timestep: 'sigma', packing: 'patches', guidance: 'cfg' });
    expect(manifest.models.transformer?.file).toBe('transformer/model.onnx');
    expect(manifest.models.unet).toBeUndefined();
  });

  it.each([
    ['an unknown prediction', { prediction: 'x0' }, 'denoiser.prediction'],
    ['an unknown guidance mode', { guidance: 'sometimes' }, 'denoiser.guidance'],
    ['patches of 2 without packing', { packing: 'none', patchSize: 2 }, 'denoiser.patchSize'],
  ])('refuses %s with a ManifestError naming the field', (_what, change, field) => {
    const bad = { ...flow, denoiser: { ...flow.denoiser, ...change } };
    expect(() => parseManifest(bad, 'bad')).toThrow(ManifestError);
    expect(() => parseManifest(bad, 'bad')).toThrow(`"${field}"`);
  });

  it('refuses a transformer model whose file is missing', () => {
    const { transformer: _, ...models } = flow.models;
    expect(() => parseManifest({ ...flow, models }, 'bad')).toThrow(/"models.transformer" must be an object/);
  });
});

describe('the text side a manifest declares', () => {
  const lm = {
    textEncoder: { hiddenSize: 64, maxLength: 64, kind: 'decoder', layers: [-2], padding: 'drop' },
    tokenizer: { format: 'tokenizer_json', file: 'tokenizer/tokenizer.json', template: '<|im_start|>user\n{prompt}<|im_end|>\n' },
  };

  it("is CLIP's, padded, from vocab.json and merges.txt when the manifest says nothing more", () => {
    const manifest = parseManifest(bundled, 'tiny-shapes');
    expect(manifest.textEncoder).toEqual({ hiddenSize: bundled.textEncoder.hiddenSize, maxLength: 77, kind: 'clip', padding: 'keep' });
    expect(manifest.tokenizer).toMatchObject({ format: 'clip', vocab: 'tokenizer/vocab.json', merges: 'tokenizer/merges.txt' });
  });

  it('reads a decoder language model with a tokenizer.json and its prompt template', () => {
    const manifest = parseManifest({ ...bundled, ...lm }, 'm.json');
    expect(manifest.textEncoder).toEqual(lm.textEncoder);
    expect(manifest.tokenizer).toEqual(lm.tokenizer);
  });

  it.each([
    ['text encoder kind', { textEncoder: { ...lm.textEncoder, kind: 't5' } }, /"textEncoder.kind" must be one of clip, decoder/],
    ['padding dropped from CLIP', { textEncoder: { hiddenSize: 64, maxLength: 77, padding: 'drop' } }, /"textEncoder.padding" must be "keep" for a CLIP text encoder/],
    ['layer list', { textEncoder: { ...lm.textEncoder, layers: [1.5] } }, /"textEncoder.layers" must be a non-empty array of hidden-state indices/],
    ['tokenizer format', { tokenizer: { ...lm.tokenizer, format: 'sentencepiece' } }, /"tokenizer.format" must be one of clip, tokenizer_json/],
    ['template without the prompt', { tokenizer: { ...lm.tokenizer, template: '<|im_start|>user\n' } }, /"tokenizer.template" must be a text with "\{prompt\}" exactly once/],
    ['tokenizer.json path', { tokenizer: { format: 'tokenizer_json' } }, /"tokenizer.file" must be a non-empty string/],
  ])('refuses a bad %s with ManifestError naming the field', (_, change, message) => {
    const attempt = () => parseManifest({ ...bundled, ...lm, ...change }, 'm.json');
    expect(attempt).toThrow(ManifestError);
    expect(attempt).toThrow(message);
  });
});

describe("the denoiser's output sign", () => {
  const flow = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes-flow/manifest.json', import.meta.url), 'utf8'));

  it("is 1 unless declared, -1 for a negated output (Z-Image), and nothing else", () => {
    expect(parseManifest(flow, 'f').denoiser.outputSign).toBe(1);
    expect(parseManifest({ ...flow, denoiser: { ...flow.denoiser, outputSign: -1 } }, 'f').denoiser.outputSign).toBe(-1);
    expect(() => parseManifest({ ...flow, denoiser: { ...flow.denoiser, outputSign: 2 } }, 'f')).toThrow(/"denoiser.outputSign" must be 1 or -1, got 2/);
  });
});

describe("the latent space's shift and statistics", () => {
  const latent = { channels: 2, downsample: 8, scalingFactor: 0.5 };

  it('reads a shift factor and batch-norm statistics per channel of a square patch', () => {
    const normalization = { mean: [0, 1, 2, 3, 4, 5, 6, 7], std: [1, 1, 1, 1, 2, 2, 2, 2] };
    expect(parseManifest({ ...bundled, latent: { ...latent, shiftFactor: 0.1159, normalization } }, 'm.json').latent).toMatchObject({ shiftFactor: 0.1159, normalization });
  });

  it.each([
    ['shift factor', { shiftFactor: 'x' }, /"latent.shiftFactor" must be a finite number/],
    ['std', { normalization: { mean: [0, 0], std: [1, 0] } }, /"latent.normalization.std" must be a non-empty array of positive numbers/],
    ['statistics count', { normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }, /"latent.normalization" must be as many means as standard deviations, one per channel of a square patch/],
    ['mean/std lengths', { normalization: { mean: [0, 0], std: [1, 1, 1, 1, 1, 1, 1, 1] } }, /"latent.normalization" must be as many means/],
  ])('refuses a bad %s', (_, change, message) => {
    expect(() => parseManifest({ ...bundled, latent: { ...latent, ...change } }, 'm.json')).toThrow(message);
  });
});

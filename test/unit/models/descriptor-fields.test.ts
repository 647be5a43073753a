/**
 * The fields of a model's descriptor that say how to run it — its denoiser, its text side, its
 * latent space — read from the bundled descriptors and refused, naming the field, when malformed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/errors.ts';
import { parseDescriptor } from '../../../src/models/model-reference.ts';

const read = (model: string) => JSON.parse(readFileSync(new URL(`../../../models/${model}/manifest.json`, import.meta.url), 'utf8'));
const bundled = read('tiny-shapes');
const flow = read('tiny-shapes-flow');
const parse = (json: unknown) => parseDescriptor(json, 'https://example.test/m/manifest.json');

describe('the denoiser a descriptor declares', () => {
  it("is Stable Diffusion's UNet when the descriptor says nothing", () => {
    expect(parse(bundled).denoiser).toBeUndefined();
    expect(parse({ ...bundled, denoiser: undefined }).variants[0]!.models.unet?.file).toBe('unet/model.onnx');
  });

  it("reads tiny-shapes-flow's transformer: flow velocity, t as the timestep, packed tokens, its network under models.transformer", () => {
    const entry = parse(flow);
    expect(entry.denoiser).toMatchObject({ kind: 'transformer', prediction: 'flow', timestep: 'sigma', packing: 'patches', guidance: 'cfg', outputSign: 1 });
    expect(entry.variants[0]!.models.transformer?.file).toBe('transformer/model.onnx');
    expect(entry.variants[0]!.models.unet).toBeUndefined();
  });

  it.each([
    ['an unknown prediction', { prediction: 'x0' }, 'denoiser.prediction'],
    ['an unknown guidance mode', { guidance: 'sometimes' }, 'denoiser.guidance'],
    ['patches of 2 without packing', { packing: 'none', patchSize: 2 }, 'denoiser.patchSize'],
  ])('refuses %s with a ManifestError naming the field', (_what, change, field) => {
    const bad = { ...flow, denoiser: { ...flow.denoiser, ...change } };
    expect(() => parse(bad)).toThrow(ManifestError);
    expect(() => parse(bad)).toThrow(`"${field}"`);
  });

  it('refuses a transformer model whose network is missing', () => {
    const { transformer: _, ...models } = flow.variants[0].models;
    expect(() => parse({ ...flow, variants: [{ ...flow.variants[0], models }] })).toThrow(/"variants\[0\].models.transformer" must be an object/);
  });

  it('takes an output sign of 1 unless declared, -1 for a negated output (Z-Image), and nothing else', () => {
    expect(parse({ ...flow, denoiser: { ...flow.denoiser, outputSign: -1 } }).denoiser?.outputSign).toBe(-1);
    expect(() => parse({ ...flow, denoiser: { ...flow.denoiser, outputSign: 2 } })).toThrow(/"denoiser.outputSign" must be 1 or -1, got 2/);
  });
});

describe('the text side a descriptor declares', () => {
  const lm = {
    textEncoder: { hiddenSize: 64, maxLength: 64, kind: 'decoder', layers: [-2], padding: 'drop' },
    tokenizer: { format: 'tokenizer_json', file: 'tokenizer/tokenizer.json', template: '<|im_start|>user\n{prompt}<|im_end|>\n', verified: true, evidence: 'test' },
  };

  it("is CLIP's, padded, from vocab.json and merges.txt when the descriptor says nothing more", () => {
    const entry = parse(bundled);
    expect(entry.textEncoder).toEqual({ hiddenSize: bundled.textEncoder.hiddenSize, maxLength: 77, kind: 'clip', padding: 'keep' });
    expect(entry.tokenizer).toMatchObject({ format: 'clip', vocab: 'tokenizer/vocab.json', merges: 'tokenizer/merges.txt' });
  });

  it('reads a decoder language model with a tokenizer.json and its prompt template', () => {
    const entry = parse({ ...bundled, ...lm });
    expect(entry.textEncoder).toEqual(lm.textEncoder);
    expect(entry.tokenizer).toEqual(lm.tokenizer);
  });

  it.each([
    ['text encoder kind', { textEncoder: { ...lm.textEncoder, kind: 't5' } }, /"textEncoder.kind" must be one of clip, decoder/],
    ['padding dropped from CLIP', { textEncoder: { hiddenSize: 64, maxLength: 77, padding: 'drop' } }, /"textEncoder.padding" must be "keep" for a CLIP text encoder/],
    ['layer list', { textEncoder: { ...lm.textEncoder, layers: [1.5] } }, /"textEncoder.layers" must be a non-empty array of hidden-state indices/],
    ['tokenizer format', { tokenizer: { ...lm.tokenizer, format: 'sentencepiece' } }, /"tokenizer.format" must be one of clip, tokenizer_json/],
    ['template without the prompt', { tokenizer: { ...lm.tokenizer, template: '<|im_start|>user\n' } }, /"tokenizer.template" must be a text with "\{prompt\}" exactly once/],
    ['tokenizer.json path', { tokenizer: { format: 'tokenizer_json', verified: true, evidence: 'test' } }, /"tokenizer.file" must be a non-empty string/],
  ])('refuses a bad %s with ManifestError naming the field', (_, change, message) => {
    const attempt = () => parse({ ...bundled, ...lm, ...change });
    expect(attempt).toThrow(ManifestError);
    expect(attempt).toThrow(message);
  });
});

describe("the latent space's shift and statistics", () => {
  const latent = { channels: 2, downsample: 8, scalingFactor: 0.5 };

  it('reads a shift factor and batch-norm statistics per channel of a square patch', () => {
    const normalization = { mean: [0, 1, 2, 3, 4, 5, 6, 7], std: [1, 1, 1, 1, 2, 2, 2, 2] };
    expect(parse({ ...bundled, latent: { ...latent, shiftFactor: 0.1159, normalization } }).latent).toMatchObject({ shiftFactor: 0.1159, normalization });
  });

  it.each([
    ['shift factor', { shiftFactor: 'x' }, /"latent.shiftFactor" must be a finite number/],
    ['std', { normalization: { mean: [0, 0], std: [1, 0] } }, /"latent.normalization.std" must be a non-empty array of positive numbers/],
    ['statistics count', { normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }, /"latent.normalization" must be as many means as standard deviations, one per channel of a square patch/],
    ['mean/std lengths', { normalization: { mean: [0, 0], std: [1, 1, 1, 1, 1, 1, 1, 1] } }, /"latent.normalization" must be as many means/],
  ])('refuses a bad %s', (_, change, message) => {
    expect(() => parse({ ...bundled, latent: { ...latent, ...change } })).toThrow(message);
  });
});

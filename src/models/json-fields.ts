/**
 * Typed readers for fields of a model's JSON (manifests and catalog entries), each failing with
 * the field's path and what was expected, through the caller's `fail` (which names the source).
 */
import { DENOISER_KINDS, GUIDANCE_MODES, PACKINGS, PREDICTIONS, SD_UNET, TIMESTEP_INPUTS, type DenoiserSpec } from './denoiser.ts';
import { TEXT_ENCODER_KINDS, TEXT_PADDINGS, TOKENIZER_FORMATS, type TextEncoderSpec, type TokenizerSpec } from './text-spec.ts';

export type Json = Record<string, unknown>;
export type Fail = (field: string, expected: string, got: unknown) => never;

export function fieldReaders(fail: Fail) {
  const object = (value: unknown, field: string): Json =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : fail(field, 'an object', value);
  const positiveInteger = (value: unknown, field: string): number =>
    Number.isInteger(value) && (value as number) > 0 ? (value as number) : fail(field, 'a positive integer', value);
  const positive = (value: unknown, field: string): number =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fail(field, 'a positive number', value);
  const oneOf = <T extends string>(value: unknown, field: string, allowed: readonly T[]): T =>
    allowed.includes(value as T) ? (value as T) : fail(field, `one of ${allowed.join(', ')}`, value);
  /** Batch-norm statistics: as many means as standard deviations (positive), per channel of a square patch. */
  const latentNormalization = (value: unknown, channels: number) => {
    const stats = object(value, 'latent.normalization');
    const finite = (v: unknown, field: string, check: (x: number) => boolean, what: string): number[] =>
      Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && check(x)) ? (v as number[]) : fail(field, what, v);
    const mean = finite(stats.mean, 'latent.normalization.mean', () => true, 'a non-empty array of finite numbers');
    const std = finite(stats.std, 'latent.normalization.std', (x) => x > 0, 'a non-empty array of positive numbers');
    const patch = Math.round(Math.sqrt(mean.length / channels));
    if (mean.length !== std.length || patch < 1 || patch * patch * channels !== mean.length) {
      fail('latent.normalization', `as many means as standard deviations, one per channel of a square patch (${channels} x 1, x 4, x 9, …)`, { mean: mean.length, std: std.length });
    }
    return { mean, std };
  };
  return {
    object,
    positiveInteger,
    positive,
    array: (value: unknown, field: string): unknown[] => (Array.isArray(value) ? value : fail(field, 'an array', value)),
    string: (value: unknown, field: string): string =>
      typeof value === 'string' && value !== '' ? value : fail(field, 'a non-empty string', value),
    boolean: (value: unknown, field: string): boolean => (typeof value === 'boolean' ? value : fail(field, 'true or false', value)),
    nonNegative: (value: unknown, field: string): number =>
      typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fail(field, 'a finite number >= 0', value),
    oneOf,
    /**
     * `denoiser`: its kind, prediction, timestep input, latent packing, guidance and output sign; absent,
     * Stable Diffusion's UNet. An unpacked layout has patch size 1.
     */
    denoiser: (value: unknown): DenoiserSpec => {
      if (value === undefined) return SD_UNET;
      const d = object(value, 'denoiser');
      const kind = oneOf(d.kind, 'denoiser.kind', DENOISER_KINDS);
      const prediction = oneOf(d.prediction, 'denoiser.prediction', PREDICTIONS);
      const packing = d.packing === undefined ? 'none' : oneOf(d.packing, 'denoiser.packing', PACKINGS);
      const patchSize = d.patchSize === undefined ? 1 : positiveInteger(d.patchSize, 'denoiser.patchSize');
      if (packing === 'none' && patchSize !== 1) fail('denoiser.patchSize', '1 without packing', d.patchSize);
      return {
        kind,
        prediction,
        timestep: d.timestep === undefined ? (prediction === 'flow' ? 'sigma' : 'index') : oneOf(d.timestep, 'denoiser.timestep', TIMESTEP_INPUTS),
        patchSize,
        packing,
        guidance: d.guidance === undefined ? 'cfg' : oneOf(d.guidance, 'denoiser.guidance', GUIDANCE_MODES),
        outputSign: d.outputSign === undefined || d.outputSign === 1 ? 1 : d.outputSign === -1 ? -1 : fail('denoiser.outputSign', '1 or -1', d.outputSign),
      };
    },
    /** `latent`: the latent space's shape and the VAE scaling factor, as manifests and the catalog write it. */
    latent: (value: unknown) => {
      const latent = object(value, 'latent');
      const channels = positiveInteger(latent.channels, 'latent.channels');
      const numbers = (v: unknown, field: string, length: number): number[] =>
        Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : fail(field, `${length} finite numbers`, v);
      // The cheap previews' latent-to-RGB map: optional, both or neither.
      const preview =
        latent.rgbFactors === undefined && latent.rgbBias === undefined
          ? {}
          : {
              rgbFactors: Array.isArray(latent.rgbFactors) && latent.rgbFactors.length === channels
                ? latent.rgbFactors.map((row, c) => numbers(row, `latent.rgbFactors[${c}]`, 3))
                : fail('latent.rgbFactors', `${channels} rows of 3 numbers (one per latent channel)`, latent.rgbFactors),
              rgbBias: numbers(latent.rgbBias, 'latent.rgbBias', 3),
            };
      const shiftFactor =
        latent.shiftFactor === undefined
          ? undefined
          : typeof latent.shiftFactor === 'number' && Number.isFinite(latent.shiftFactor)
            ? latent.shiftFactor
            : fail('latent.shiftFactor', 'a finite number', latent.shiftFactor);
      const normalization = latent.normalization === undefined ? undefined : latentNormalization(latent.normalization, channels);
      return {
        channels,
        downsample: positiveInteger(latent.downsample, 'latent.downsample'),
        scalingFactor: positive(latent.scalingFactor, 'latent.scalingFactor'),
        ...preview,
        ...(shiftFactor !== undefined ? { shiftFactor } : {}),
        ...(normalization !== undefined ? { normalization } : {}),
      };
    },
    /**
     * `textEncoder`: the width of its conditioning and the token count it takes; its kind (CLIP,
     * the default, or a decoder language model), which hidden layers, and whether padding
     * reaches the denoiser ('keep', the default; 'drop' only for a decoder).
     */
    textEncoder: (value: unknown): TextEncoderSpec => {
      const textEncoder = object(value, 'textEncoder');
      const kind = textEncoder.kind === undefined ? 'clip' : oneOf(textEncoder.kind, 'textEncoder.kind', TEXT_ENCODER_KINDS);
      const padding = textEncoder.padding === undefined ? 'keep' : oneOf(textEncoder.padding, 'textEncoder.padding', TEXT_PADDINGS);
      if (padding === 'drop' && kind !== 'decoder') fail('textEncoder.padding', '"keep" for a CLIP text encoder (it is trained on padded prompts)', padding);
      const layers =
        textEncoder.layers === undefined
          ? undefined
          : Array.isArray(textEncoder.layers) && textEncoder.layers.length > 0 && textEncoder.layers.every((k) => Number.isInteger(k))
            ? (textEncoder.layers as number[])
            : fail('textEncoder.layers', 'a non-empty array of hidden-state indices (0 the embeddings, -1 the last layer)', textEncoder.layers);
      return {
        hiddenSize: positiveInteger(textEncoder.hiddenSize, 'textEncoder.hiddenSize'),
        maxLength: positiveInteger(textEncoder.maxLength, 'textEncoder.maxLength'),
        kind,
        ...(layers !== undefined ? { layers } : {}),
        padding,
      };
    },
    /**
     * `tokenizer`: CLIP's vocab.json and merges.txt (`format` "clip", the default), or a
     * tokenizer.json (`format` "tokenizer_json") with the prompt template the model applies.
     */
    tokenizer: (value: unknown): TokenizerSpec => {
      const tokenizer = object(value, 'tokenizer');
      const format = tokenizer.format === undefined ? 'clip' : oneOf(tokenizer.format, 'tokenizer.format', TOKENIZER_FORMATS);
      const text = (v: unknown, field: string): string => (typeof v === 'string' && v !== '' ? v : fail(field, 'a non-empty string', v));
      const padToken = tokenizer.padToken === undefined ? undefined : text(tokenizer.padToken, 'tokenizer.padToken');
      if (format === 'tokenizer_json') {
        const template = tokenizer.template === undefined ? undefined : text(tokenizer.template, 'tokenizer.template');
        if (template !== undefined && template.split('{prompt}').length !== 2) fail('tokenizer.template', 'a text with "{prompt}" exactly once', template);
        return {
          format,
          file: text(tokenizer.file, 'tokenizer.file'),
          ...(template !== undefined ? { template } : {}),
          ...(padToken !== undefined ? { padToken } : {}),
        };
      }
      const padTokenId =
        tokenizer.padTokenId === undefined
          ? undefined
          : Number.isInteger(tokenizer.padTokenId) && (tokenizer.padTokenId as number) >= 0
            ? (tokenizer.padTokenId as number)
            : fail('tokenizer.padTokenId', 'an integer >= 0', tokenizer.padTokenId);
      return {
        format,
        vocab: text(tokenizer.vocab, 'tokenizer.vocab'),
        merges: text(tokenizer.merges, 'tokenizer.merges'),
        ...(padToken !== undefined ? { padToken } : {}),
        ...(padTokenId !== undefined ? { padTokenId } : {}),
      };
    },
  };
}

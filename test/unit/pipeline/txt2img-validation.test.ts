/**
 * What txt2img refuses before any model work: a malformed mask is refused before the VAE encoder
 * (the first GPU work of an image-to-image request) is even created.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../src/errors.ts';
import type { DiffusionModel } from '../../../src/pipeline/model.ts';
import { SD_UNET } from '../../../src/models/denoiser.ts';
import { resolveRequest } from '../../../src/pipeline/request.ts';
import { txt2img } from '../../../src/pipeline/txt2img.ts';

const schedulerConfig = JSON.parse(
  readFileSync(new URL('../../../models/tiny-shapes/scheduler/scheduler_config.json', import.meta.url), 'utf8'),
) as DiffusionModel['schedulerConfig'];
const info = {
  id: 'tiny-shapes',
  name: 'tiny-shapes',
  precision: 'fp32',
  warnings: [],
  width: 64,
  height: 64,
  defaults: { steps: 4, guidance: 2, scheduler: 'ddim' },
  backend: 'wasm',
  runtime: 'asyncify',
} as const;

describe('txt2img validation', () => {
  it('refuses a mask whose bytes do not match its size before the VAE encoder runs', async () => {
    let encoderAsked = 0;
    const model = {
      info,
      backend: 'wasm',
      device: undefined,
      schedulerConfig,
      layout: { latent: { channels: 4, downsample: 8, scalingFactor: 0.5 }, denoiser: SD_UNET },
      denoiser: { spec: SD_UNET, embedsGuidance: false, staticBatch: undefined },
      vaeEncoder: () => {
        encoderAsked += 1;
        return Promise.reject(new Error('the VAE encoder must not be reached'));
      },
    } as unknown as DiffusionModel;
    const picture = { width: 64, height: 64, pixels: new Uint8ClampedArray(64 * 64 * 4) };
    // Fewer bytes than its size says (pictures of another size are stretched, these cannot be).
    const mask = { width: 64, height: 64, pixels: new Uint8ClampedArray(32 * 32 * 4) };
    const request = resolveRequest({ prompt: 'a red circle', image: picture, mask }, info);
    const error = await txt2img(model, request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).message).toMatch(/^mask must hold width x height x 4 RGBA bytes/);
    expect(encoderAsked).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { SD_UNET, timestepInput, type DenoiserSpec } from '../../../src/models/denoiser.ts';
import { imageTokens } from '../../../src/pipeline/model.ts';

const flow = (timestep: DenoiserSpec['timestep']): DenoiserSpec => ({ kind: 'transformer', prediction: 'flow', timestep, patchSize: 2, packing: 'patches', guidance: 'none', outputSign: 1 });

describe("the denoiser's timestep input", () => {
  it('passes SD\'s training timestep and FLUX\'s t as they are, scales diffusers\' 1000 t, and reverses Z-Image\'s', () => {
    expect(timestepInput(SD_UNET, 999)).toBe(999);
    expect(timestepInput(flow('sigma'), 0.75)).toBe(0.75);
    expect(timestepInput(flow('sigma_x1000'), 0.75)).toBe(750);
    expect(timestepInput(flow('one_minus_sigma'), 0.75)).toBe(0.25);
  });

  it("counts an image's tokens the way FLUX's dynamic shift does: (H / 16) (W / 16) for 2x2 patches of an 8x VAE", () => {
    const latent = { channels: 16, downsample: 8, scalingFactor: 1 };
    expect(imageTokens({ latent, denoiser: flow('sigma') }, 1024, 1024)).toBe(4096);
    expect(imageTokens({ latent, denoiser: flow('sigma') }, 256, 256)).toBe(256);
    expect(imageTokens({ latent, denoiser: SD_UNET }, 64, 64)).toBe(64);
  });
});

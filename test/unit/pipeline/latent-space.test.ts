/**
 * The latent space's map before the VAE decoder, against diffusers' own formulas: Z-Image's
 * `latents / scaling_factor + shift_factor`, and FLUX.2's batch-norm statistics applied to the
 * patchified latent (`_patchify_latents`, then `latents * bn_std + bn_mean`, then
 * `_unpatchify_latents`), written out here on index arithmetic of their own.
 */
import { describe, expect, it } from 'vitest';
import { latentAffineCpu } from '../../../src/gpu/latent-affine.ts';
import type { LatentSpace } from '../../../src/models/catalog.ts';
import { decoderAffine, latentFromEncoded } from '../../../src/pipeline/latent-space.ts';

const values = (count: number, seed: number): Float32Array => Float32Array.from({ length: count }, (_, k) => Math.sin(seed * 7.1 + k * 1.3) * 2);

/** What the decoder is given from a final latent: divided by the scaling factor, then the map. */
function decoderInput(z: Float32Array, latent: LatentSpace, height: number, width: number): Float32Array {
  const x = z.map((v) => v / latent.scalingFactor);
  const map = decoderAffine(latent);
  if (map !== undefined) latentAffineCpu(x, height, width, map);
  return x;
}

describe('the map before decoding', () => {
  it("is the identity for Stable Diffusion's latent spaces (no shift, no statistics)", () => {
    expect(decoderAffine({ channels: 4, downsample: 8, scalingFactor: 0.18215 })).toBeUndefined();
  });

  it("gives Z-Image's decoder z / 0.3611 + 0.1159", () => {
    const latent: LatentSpace = { channels: 16, downsample: 8, scalingFactor: 0.3611, shiftFactor: 0.1159 };
    const z = values(16 * 4 * 4, 1);
    const got = decoderInput(z, latent, 4, 4);
    z.forEach((v, k) => expect(got[k]).toBeCloseTo(v / 0.3611 + 0.1159, 5));
  });

  it("gives FLUX.2's decoder the patchified latent times the batch-norm std plus its mean, unpatchified", () => {
    const [C, H, W] = [3, 4, 6];
    const mean = Array.from({ length: C * 4 }, (_, k) => 0.1 * k - 0.5);
    const std = Array.from({ length: C * 4 }, (_, k) => 1 + 0.25 * k);
    const latent: LatentSpace = { channels: C, downsample: 8, scalingFactor: 1, normalization: { mean, std } };
    const z = values(C * H * W, 2);
    // diffusers: patched[c * 4 + dy * 2 + dx, Y, X] = z[c, 2Y + dy, 2X + dx]; normalised per patched channel.
    const expected = new Float32Array(z.length);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const k = c * 4 + (y % 2) * 2 + (x % 2);
          expected[c * H * W + y * W + x] = z[c * H * W + y * W + x]! * std[k]! + mean[k]!;
        }
    const got = decoderInput(z, latent, H, W);
    expected.forEach((v, k) => expect(got[k]).toBeCloseTo(v, 5));
  });

  it("undoes itself for a source picture: the encoder's output comes back from the latent made of it", () => {
    const latent: LatentSpace = {
      channels: 2,
      downsample: 8,
      scalingFactor: 0.5,
      shiftFactor: 0.2,
      normalization: { mean: [0.1, -0.2, 0.3, 0, 0.5, 0.6, -0.7, 0.8], std: [1, 2, 3, 4, 0.5, 0.25, 1.5, 2.5] },
    };
    const encoded = values(2 * 4 * 4, 3);
    const back = decoderInput(latentFromEncoded(encoded, latent, 4, 4), latent, 4, 4);
    encoded.forEach((v, k) => expect(back[k]).toBeCloseTo(v, 5));
  });
});

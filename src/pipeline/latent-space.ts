/**
 * Between the denoiser's latent and the VAE's: the scaling factor every latent space has (SD:
 * 0.18215), the FLUX VAEs' shift factor (decode z / scale + shift; Z-Image's is 0.1159) and
 * FLUX.2's batch-norm statistics (decode z * std + mean, per channel of a 2x2 patch). The
 * denoising loop divides by the scaling factor in its last step; what is left is one affine map
 * per channel (latent-affine.ts), applied before decoding, and its inverse for a source picture.
 */
import { latentAffineCpu, type LatentAffine } from '../gpu/latent-affine.ts';
import type { LatentSpace } from '../models/catalog.ts';

/**
 * What the decoder input needs after the division by the scaling factor: (x + shift) * std +
 * mean, per channel of a patch; undefined when that is the identity (SD's latent spaces).
 */
export function decoderAffine(latent: LatentSpace): LatentAffine | undefined {
  const shift = latent.shiftFactor ?? 0;
  const stats = latent.normalization;
  if (shift === 0 && stats === undefined) return undefined;
  const entries = stats?.mean.length ?? latent.channels;
  const std = (k: number) => stats?.std[k] ?? 1;
  const mean = (k: number) => stats?.mean[k] ?? 0;
  return {
    scale: Float32Array.from({ length: entries }, (_, k) => std(k)),
    offset: Float32Array.from({ length: entries }, (_, k) => shift * std(k) + mean(k)),
    patch: Math.round(Math.sqrt(entries / latent.channels)),
  };
}

/**
 * The latent of a source picture from the VAE encoder's output ([channels, height, width]): the
 * decoder map undone, times the scaling factor.
 */
export function latentFromEncoded(encoded: Float32Array, latent: LatentSpace, height: number, width: number): Float32Array {
  const { scalingFactor } = latent;
  const map = decoderAffine(latent);
  if (map === undefined) return encoded.map((value) => value * scalingFactor);
  const inverse: LatentAffine = {
    scale: map.scale.map((s) => scalingFactor / s),
    offset: map.offset.map((o, k) => (-o * scalingFactor) / map.scale[k]!),
    patch: map.patch,
  };
  const out = encoded.slice();
  latentAffineCpu(out, height, width, inverse);
  return out;
}

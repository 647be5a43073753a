// Shared by the kernels that read or write a denoiser's input or output (prepended to their
// source): where latent element i, in [batch, C, H, W] order, sits in the layout the denoiser
// takes. patch_size 0: the same place (not packed). Patch p >= 1: FLUX's packing
// [batch, (H/p)(W/p), C p p], patches in raster order, channel-major inside a patch (diffusers'
// FluxPipeline._pack_latents; p = 1 is the tokens-by-channels transpose [batch, H W, C]).

struct Packing {
  channels: u32,
  height: u32,
  width: u32,
  patch_size: u32,
}

fn packed_index(i: u32, k: Packing) -> u32 {
  if (k.patch_size == 0u) {
    return i;
  }
  let plane = k.height * k.width;
  let per_picture = k.channels * plane;
  let b = i / per_picture;
  let c = (i % per_picture) / plane;
  let y = (i % plane) / k.width;
  let x = i % k.width;
  let p = k.patch_size;
  let token = (y / p) * (k.width / p) + x / p;
  return b * per_picture + token * (k.channels * p * p) + c * p * p + (y % p) * p + x % p;
}

// The latent space's per-channel affine map before the VAE decoder: the FLUX VAEs' shift factor
// and FLUX.2's batch-norm statistics (diffusers: z * sqrt(var + eps) + mean over the channels of
// 2x2 patches), as out = x * scale[k] + offset[k] on the planar [channels, height, width] latent.
// The statistics are per channel of a patch of side `side` (1: per latent channel), channel-major
// inside the patch as FLUX.2 patchifies: k = c * side^2 + (y % side) * side + x % side.

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,   // latent values: channels * height * width
  height: u32,
  width: u32,
  side: u32,    // the patch side the statistics are laid out over (1: per channel)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> offset: array<f32>;
@group(0) @binding(3) var<storage, read_write> latent: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) {
    return;
  }
  let cells = params.height * params.width;
  let c = i / cells;
  let y = (i % cells) / params.width;
  let x = i % params.width;
  let p = params.side;
  let k = c * p * p + (y % p) * p + x % p;
  latent[i] = latent[i] * scale[k] + offset[k];
}

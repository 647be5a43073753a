// Inpainting's "keep": where the mask keeps the source, the latent becomes the source at this
// step's noise level; where it repaints, the latent stays as the model made it.
//
//   target = m * target + (1 - m) * (from_source * source + from_noise * noise)
//
// The mask has one weight per latent cell (height x width) and applies to every channel of the
// planar [channels, height, width] latent.

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,        // latent values
  cells: u32,        // height * width
  from_source: f32,
  from_noise: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> target: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) {
    return;
  }
  let m = mask[i % params.cells];
  let kept = params.from_source * source[i] + params.from_noise * noise[i];
  target[i] = m * target[i] + (1.0 - m) * kept;
}

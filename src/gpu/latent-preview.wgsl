// The cheap preview: each latent cell of the first picture to one RGBA pixel through a linear map
// fitted to the model's VAE (rgb = bias + sum_c z[c] * factors[c], in [-1, 1]), from the
// denoised estimate the step kernel keeps. A few hundred or thousand pixels: the only readback
// of a step, and only when previews are asked for.

override WORKGROUP_SIZE: u32;

struct Params {
  cells: u32,       // height * width of the latent
  channels: u32,    // at most 4
  pad0: u32,
  pad1: u32,
  bias: vec4f,
  factors: array<vec4f, 4>,  // one RGB row per latent channel
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> latent: array<f32>;
@group(0) @binding(2) var<storage, read_write> rgba: array<u32>;

fn to_byte(v: f32) -> u32 {
  return u32(floor(clamp((v + 1.0) * 127.5, 0.0, 255.0) + 0.5));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.cells) {
    return;
  }
  var rgb = params.bias.xyz;
  for (var c = 0u; c < params.channels; c++) {
    rgb += latent[c * params.cells + i] * params.factors[c].xyz;
  }
  rgba[i] = to_byte(rgb.x) | (to_byte(rgb.y) << 8u) | (to_byte(rgb.z) << 16u) | (255u << 24u);
}

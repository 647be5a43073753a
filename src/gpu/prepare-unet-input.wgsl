// The denoiser's latent input: input_scale * x, written once per batch entry (twice when
// classifier-free guidance runs the unconditional and conditional passes as one batch of 2),
// in the layout the denoiser takes (packed_index, patch-index.wgsl, prepended).

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,        // elements of one latent
  copies: u32,       // batch entries to fill: 1 or 2
  input_scale: f32,
  _pad: u32,
  packing: Packing,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sample: array<f32>;
@group(0) @binding(2) var<storage, read_write> model_input: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) {
    return;
  }
  let value = params.input_scale * sample[i];
  for (var copy = 0u; copy < params.copies; copy++) {
    model_input[copy * params.count + packed_index(i, params.packing)] = value;
  }
}

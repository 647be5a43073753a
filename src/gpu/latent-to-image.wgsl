// The VAE decoder's output, planar [3, height, width] in [-1, 1], to RGBA8 pixels packed one
// per u32 (little-endian, so the bytes read back are R, G, B, A in order).
//
//   byte = floor(clamp((v + 1) * 127.5, 0, 255) + 0.5)
//
// floor(+0.5) rather than round(): WGSL's round() goes half-to-even, JavaScript's Math.round
// half-up; the explicit form gives the same byte on both sides (src/pipeline/image.ts).

override WORKGROUP_SIZE: u32;

struct Params {
  pixels: u32,       // width * height
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> rgba: array<u32>;

fn to_byte(v: f32) -> u32 {
  return u32(floor(clamp((v + 1.0) * 127.5, 0.0, 255.0) + 0.5));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.pixels) {
    return;
  }
  let r = to_byte(image[i]);
  let g = to_byte(image[params.pixels + i]);
  let b = to_byte(image[2u * params.pixels + i]);
  rgba[i] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}

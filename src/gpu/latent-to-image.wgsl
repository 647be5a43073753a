// The VAE decoder's output, planar [3, height, width] in [-1, 1], to RGBA8 pixels packed one
// per u32 (little-endian, so the bytes read back are R, G, B, A in order).
//
//   byte = floor(clamp((v + 1) * 127.5, 0, 255) + 0.5)
//
// floor(+0.5) rather than round(): WGSL's round() goes half-to-even, JavaScript's Math.round
// half-up; the explicit form gives the same byte on both sides (src/pipeline/image.ts).
//
// The word after the last pixel counts the pixels with a NaN or infinite value (a float16
// overflow, a broken export), read back with the picture: a model's numerical failure is an
// error, not a black picture. The test is on the bits (all-ones exponent), which compilers may
// not optimise away as they may `v != v`.

override WORKGROUP_SIZE: u32;

struct Params {
  pixels: u32,       // width * height
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> rgba: array<atomic<u32>>;

fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn to_byte(v: f32) -> u32 {
  return u32(floor(clamp((v + 1.0) * 127.5, 0.0, 255.0) + 0.5));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.pixels) {
    return;
  }
  let rv = image[i];
  let gv = image[params.pixels + i];
  let bv = image[2u * params.pixels + i];
  atomicStore(&rgba[i], to_byte(rv) | (to_byte(gv) << 8u) | (to_byte(bv) << 16u) | (255u << 24u));
  if (!(is_finite(rv) && is_finite(gv) && is_finite(bv))) {
    atomicAdd(&rgba[params.pixels], 1u);
  }
}

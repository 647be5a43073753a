// float32 <-> float16 for models with half-precision inputs and outputs. Half values are read
// and written in pairs packed into u32 words (pack2x16float / unpack2x16float, core WGSL), so
// neither direction needs the 'shader-f16' feature. One thread per pair; an odd count's last
// word holds one value and a zero.

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,   // float values
  to_half: u32, // 1: float32 -> float16; 0: float16 -> float32
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> wide: array<f32>;
@group(0) @binding(2) var<storage, read_write> half: array<u32>;

// The float16 bits of v. pack2x16float is only defined for values in float16's finite range, so
// infinities, NaN and overflow are written out here (rounding past 65504 gives infinity).
fn half_bits(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  let sign = (bits >> 16u) & 0x8000u;
  if ((bits & 0x7f800000u) == 0x7f800000u) {
    return select(sign | 0x7c00u, sign | 0x7e00u, (bits & 0x7fffffu) != 0u);
  }
  let magnitude = abs(v);
  if (magnitude >= 65520.0) {
    return sign | 0x7c00u;
  }
  if (magnitude > 65504.0) {
    return sign | 0x7bffu;
  }
  return pack2x16float(vec2f(v, 0.0)) & 0xffffu;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let pair = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  let first = 2u * pair;
  if (first >= params.count) {
    return;
  }
  let has_second = first + 1u < params.count;
  if (params.to_half == 1u) {
    let second = select(0.0, wide[min(first + 1u, params.count - 1u)], has_second);
    half[pair] = half_bits(wide[first]) | (half_bits(second) << 16u);
  } else {
    let values = unpack2x16float(half[pair]);
    wide[first] = values.x;
    if (has_second) {
      wide[first + 1u] = values.y;
    }
  }
}

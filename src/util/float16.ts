/**
 * IEEE 754 half precision on the CPU: the bits ONNX Runtime's 'float16' tensors hold, converted
 * to and from float32 with round-to-nearest-even, as GPUs convert them (WGSL's pack2x16float).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half-precision bits nearest to `value` (ties to even; overflow to infinity; NaN kept). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  // Rebias from 127 to 15.
  const e = exponent - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place.
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && (half & 1) === 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? half + 1 : half);
}

/** The value of half-precision `bits`. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** float32 values as half-precision bits. */
export function float32ToFloat16(values: ArrayLike<number>): Uint16Array<ArrayBuffer> {
  const out = new Uint16Array(values.length);
  for (let k = 0; k < values.length; k++) out[k] = toFloat16Bits(values[k]!);
  return out;
}

/**
 * float16 data as float32: half-precision bits (Uint16Array), or the values of a Float16Array
 * (what ONNX Runtime returns where the browser has one).
 */
export function float16ToFloat32(data: ArrayLike<number>): Float32Array<ArrayBuffer> {
  const out = new Float32Array(data.length);
  if (data instanceof Uint16Array) {
    for (let k = 0; k < data.length; k++) out[k] = fromFloat16Bits(data[k]!);
  } else {
    for (let k = 0; k < data.length; k++) out[k] = data[k]!;
  }
  return out;
}

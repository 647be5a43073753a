/**
 * The arithmetic of weight quantization, on plain float32 arrays: block-wise 4-bit in the layout
 * of ONNX Runtime's `com.microsoft` MatMulNBits, and int8 per output channel for
 * DequantizeLinear; with the matching dequantization, which the tests compare with the originals.
 *
 * Everything is computed in float64 and rounded once to float32, so a model quantizes to the same
 * bytes on every machine.
 */

/** A 4-bit weight in MatMulNBits' inputs: B, scales and (optionally) zero_points. */
export interface Q4Weight {
  /** Rows (N, the output features) and the reduction length (K). */
  readonly n: number;
  readonly k: number;
  readonly blockSize: number;
  /** [N, kBlocks, blockSize / 2]: two codes a byte, the lower-indexed one in the low nibble. */
  readonly codes: Uint8Array;
  /** [N * kBlocks]; symmetric blocks may have a negative scale (see quantizeQ4With). */
  readonly scales: Float32Array;
  /** [N * ceil(kBlocks / 2)], packed like the codes; absent when 8 (the symmetric default) is every block's. */
  readonly zeroPoints?: Uint8Array;
}

/** An int8 weight with a scale per slice along one axis, for DequantizeLinear (zero point 0). */
export interface Q8Weight {
  readonly values: Int8Array;
  readonly scales: Float32Array;
  readonly axis: number;
}

const Q4_LEVELS = 15;
/** Keep zero points only when they cut the mean squared error by more than this fraction. */
const ZERO_POINT_GAIN = 0.1;

/**
 * Quantizes `weight`, laid out [N, K] row-major (the output feature first, as Gemm's transB
 * weight and MatMulNBits' B), to 4 bits in blocks of `blockSize` along K. Each block gets either
 * an asymmetric range (a scale and a zero point fitted to its minimum and maximum) or a symmetric
 * one (zero point 8, the format's default, codes -8..7 around it): zero points are kept for the whole weight when they
 * cut its error by more than ZERO_POINT_GAIN, since they cost an extra input and bytes.
 * A last block shorter than `blockSize` is padded with zeros.
 */
export function quantizeQ4(weight: Float32Array, n: number, k: number, blockSize: number): Q4Weight {
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new RangeError(`block size must be a power of two >= 16, got ${blockSize}`);
  const asymmetric = quantizeQ4With(weight, n, k, blockSize, true);
  const symmetric = quantizeQ4With(weight, n, k, blockSize, false);
  if (asymmetric.squaredError < symmetric.squaredError * (1 - ZERO_POINT_GAIN)) return asymmetric.weight;
  const { zeroPoints: _defaultEights, ...withoutZeroPoints } = symmetric.weight;
  return withoutZeroPoints;
}

function quantizeQ4With(
  weight: Float32Array,
  n: number,
  k: number,
  blockSize: number,
  asymmetric: boolean,
): { weight: Required<Q4Weight>; squaredError: number } {
  const kBlocks = Math.ceil(k / blockSize);
  const blob = blockSize / 2;
  const zeroPointRow = Math.ceil(kBlocks / 2);
  const codes = new Uint8Array(n * kBlocks * blob);
  const scales = new Float32Array(n * kBlocks);
  const zeroPoints = new Uint8Array(n * zeroPointRow);
  const block = new Float64Array(blockSize);
  let squaredError = 0;
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kBlocks; b++) {
      const start = b * blockSize;
      let min = 0;
      let max = 0;
      for (let i = 0; i < blockSize; i++) {
        const v = start + i < k ? weight[row * k + start + i]! : 0;
        block[i] = v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      let scale: number;
      let zeroPoint: number;
      if (asymmetric) {
        scale = Math.fround((max - min) / Q4_LEVELS);
        zeroPoint = scale > 0 ? clamp(Math.round(-min / scale), 0, Q4_LEVELS) : 8;
      } else {
        // The value of largest magnitude lands on code 0 (-8): all 16 codes in use, as
        // ONNX Runtime's own symmetric 4-bit quantizer does; the scale takes its sign.
        scale = Math.fround((max > -min ? max : min) / -8);
        zeroPoint = 8;
      }
      const s = row * kBlocks + b;
      scales[s] = scale;
      zeroPoints[row * zeroPointRow + (b >> 1)]! |= zeroPoint << ((b & 1) * 4);
      for (let i = 0; i < blockSize; i++) {
        const code = scale !== 0 ? clamp(Math.round(block[i]! / scale) + zeroPoint, 0, Q4_LEVELS) : zeroPoint;
        codes[s * blob + (i >> 1)]! |= code << ((i & 1) * 4);
        if (start + i < k) squaredError += ((code - zeroPoint) * scale - block[i]!) ** 2;
      }
    }
  }
  return { weight: { n, k, blockSize, codes, scales, zeroPoints }, squaredError };
}

/** The [N, K] float32 weight a Q4Weight stands for: (code - zero point) * scale. */
export function dequantizeQ4(q: Q4Weight): Float32Array {
  const { n, k, blockSize } = q;
  const kBlocks = Math.ceil(k / blockSize);
  const out = new Float32Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let j = 0; j < k; j++) {
      const b = Math.floor(j / blockSize);
      const s = row * kBlocks + b;
      const i = j - b * blockSize;
      const code = (q.codes[s * (blockSize / 2) + (i >> 1)]! >> ((i & 1) * 4)) & 0xf;
      const zeroPoint = q.zeroPoints === undefined ? 8 : (q.zeroPoints[row * Math.ceil(kBlocks / 2) + (b >> 1)]! >> ((b & 1) * 4)) & 0xf;
      out[row * k + j] = (code - zeroPoint) * q.scales[s]!;
    }
  }
  return out;
}

/**
 * Quantizes `weight` of shape `dims` to int8, symmetric (zero point 0, codes -127..127), with one
 * scale per index along `axis` — the output channel: 0 for a convolution's [O, I, kH, kW], 1 for
 * a MatMul's [K, N].
 */
export function quantizeQ8(weight: Float32Array, dims: readonly number[], axis: number): Q8Weight {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const amax = new Float64Array(channels);
  for (let i = 0; i < weight.length; i++) {
    const c = Math.floor(i / inner) % channels;
    amax[c] = Math.max(amax[c]!, Math.abs(weight[i]!));
  }
  const scales = Float32Array.from(amax, (a) => Math.fround(a / 127));
  const values = new Int8Array(weight.length);
  for (let i = 0; i < weight.length; i++) {
    const scale = scales[Math.floor(i / inner) % channels]!;
    values[i] = scale > 0 ? clamp(Math.round(weight[i]! / scale), -127, 127) : 0;
  }
  return { values, scales, axis };
}

/** The float32 weight a Q8Weight of shape `dims` stands for. */
export function dequantizeQ8(q: Q8Weight, dims: readonly number[]): Float32Array {
  const channels = dims[q.axis]!;
  const inner = dims.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  return Float32Array.from(q.values, (v, i) => v * q.scales[Math.floor(i / inner) % channels]!);
}

/** [rows, cols] row-major → [cols, rows]: a MatMul's [K, N] weight in MatMulNBits' [N, K] order. */
export function transpose2d(weight: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(weight.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = weight[r * cols + c]!;
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

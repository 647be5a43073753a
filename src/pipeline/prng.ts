/**
 * Seeded Gaussian noise for the initial latents: the same seed gives the same picture.
 *
 * The exact recipe, so that any other implementation (a WGSL kernel, a Python check) can
 * reproduce it bit for bit:
 *
 * 1. State. SplitMix32 turns the uint32 seed into the four 32-bit words a, b, c, d of sfc32:
 *      s += 0x9e3779b9;  z = s;
 *      z = (z ^ (z >>> 16)) * 0x21f0aaad;  z = (z ^ (z >>> 15)) * 0x735a2d97;  z ^= z >>> 15
 *    (all arithmetic mod 2^32), called four times, giving a, b, c, d in that order. SplitMix
 *    spreads even neighbouring seeds (0, 1, 2, …) over unrelated states, so sfc32 needs no
 *    warm-up rounds.
 * 2. Words. sfc32 (Chris Doty-Humphrey's "small fast chaotic" generator, 32-bit variant):
 *      t = a + b + d;  d += 1;  a = b ^ (b >>> 9);  b = c + (c << 3);  c = rotl(c, 21) + t
 *    returning t.
 * 3. Uniforms. u = ((t >>> 8) + 0.5) * 2^-24: the top 24 bits (exactly a float32 mantissa), centred
 *    in their bucket, so u lies in (0, 1) and never 0 (log(0) below) or 1.
 * 4. Normals. Box–Muller on two consecutive uniforms u1, u2:
 *      r = sqrt(-2 ln u1),  z1 = r cos(2 pi u2),  z2 = r sin(2 pi u2)
 *    both used, cos first; computed in float64 and rounded once to float32.
 *
 * 5. Step noise. The fresh noise an ancestral or re-noising scheduler adds at step i (0-based) is
 *    `gaussianNoise(stepSeed(seed, i), count)`, where stepSeed hashes the request seed with the
 *    step index through MurmurHash3's 32-bit finaliser:
 *      h = seed ^ imul(i + 1, 0x9e3779b9);
 *      h ^= h >>> 16;  h = imul(h, 0x85ebca6b);  h ^= h >>> 13;  h = imul(h, 0xc2b2ae35);  h ^= h >>> 16
 *    so every step has its own stream, unrelated to the initial noise (which uses `seed` itself)
 *    and to the other steps. The CPU and GPU loops take the very same values (the GPU's are
 *    uploaded each step).
 *
 * Steps 1–3 and 5 are integer exact everywhere. Math.log/cos/sin are not specified to the last bit,
 * so two JavaScript engines may, rarely, differ in the last bit of a float32 noise value;
 * within one engine the output is identical for the same seed.
 */
import { InvalidRequestError } from '../errors.ts';

/** A seeded source of random numbers; see the file header for the exact recipe. */
export interface Random {
  /** The next raw 32-bit word of sfc32, as an unsigned integer. */
  nextUint32(): number;
  /** The next uniform in (0, 1), from the word's top 24 bits. */
  nextUniform(): number;
  /** The next standard normal (Box–Muller, both outputs used in order, cos first). */
  nextGaussian(): number;
}

const MAX_SEED = 0xffffffff;
const TWO_TO_MINUS_24 = 2 ** -24;

/**
 * Checks a seed: an integer in 0..2^32-1.
 * @throws InvalidRequestError when it is not
 */
function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new InvalidRequestError(`seed must be an integer from 0 to ${MAX_SEED}, got ${seed}`, {
      seed,
      min: 0,
      max: MAX_SEED,
    });
  }
}

/**
 * A random source for a uint32 seed.
 * @throws InvalidRequestError when `seed` is not an integer in 0..2^32-1
 */
export function createRandom(seed: number): Random {
  checkSeed(seed);
  let s = seed | 0;
  const splitMix32 = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) | 0;
  };
  let a = splitMix32();
  let b = splitMix32();
  let c = splitMix32();
  let d = splitMix32();

  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  };
  const nextUniform = (): number => ((nextUint32() >>> 8) + 0.5) * TWO_TO_MINUS_24;

  let spare: number | undefined;
  const nextGaussian = (): number => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(nextUniform()));
    const theta = 2 * Math.PI * nextUniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };

  return { nextUint32, nextUniform, nextGaussian };
}

/**
 * `count` standard normal values for a uint32 seed; the same seed gives the same values.
 * @throws InvalidRequestError when `seed` is not an integer in 0..2^32-1
 * @throws RangeError when `count` is not a non-negative integer
 */
export function gaussianNoise(seed: number, count: number): Float32Array {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  }
  const random = createRandom(seed);
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) out[k] = random.nextGaussian();
  return out;
}

/**
 * The seed of the fresh noise added at step `i` of a request with seed `seed` (recipe step 5).
 * @throws InvalidRequestError when `seed` is not an integer in 0..2^32-1
 * @throws RangeError when `i` is not a non-negative integer
 */
export function stepSeed(seed: number, i: number): number {
  checkSeed(seed);
  if (!Number.isInteger(i) || i < 0) throw new RangeError(`step index must be a non-negative integer, got ${i}`);
  let h = seed ^ Math.imul(i + 1, 0x9e3779b9);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The `count` standard normal values added at step `i` of a request with seed `seed`.
 * @throws InvalidRequestError when `seed` is not an integer in 0..2^32-1
 * @throws RangeError when `i` or `count` is not a non-negative integer
 */
export function stepNoise(seed: number, i: number, count: number): Float32Array<ArrayBuffer> {
  return gaussianNoise(stepSeed(seed, i), count) as Float32Array<ArrayBuffer>;
}

/**
 * The step noise of a batch of pictures, one seed each: `stepNoise(seeds[k], i, perPicture)` for
 * each picture in turn, so a picture's noise is the same alone or in a batch.
 */
export function batchStepNoise(seeds: readonly number[], i: number, perPicture: number): Float32Array<ArrayBuffer> {
  if (seeds.length === 1) return stepNoise(seeds[0]!, i, perPicture);
  const out = new Float32Array(seeds.length * perPicture);
  seeds.forEach((seed, k) => out.set(stepNoise(seed, i, perPicture), k * perPicture));
  return out;
}

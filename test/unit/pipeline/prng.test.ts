import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../src/errors.ts';
import { createRandom, gaussianNoise, stepNoise, stepSeed } from '../../../src/pipeline/prng.ts';

describe('createRandom', () => {
  // Expected values from an independent Python implementation of the recipe in prng.ts' header,
  // so the documented recipe, not just this code, is what is pinned.
  it.each([
    [0, [3184218848, 2185019715, 663190848, 1825547549]],
    [42, [3730666837, 1786513705, 1450338100, 2191736338]],
    [0xffffffff, [2415961667, 1593115950, 1471000744, 3747815576]],
  ])('seed %i gives the documented sfc32 words', (seed, words) => {
    const random = createRandom(seed);
    expect([0, 1, 2, 3].map(() => random.nextUint32())).toEqual(words);
  });

  it('never gives a uniform of 0 or 1', () => {
    const random = createRandom(7);
    let outside = 0;
    for (let k = 0; k < 100_000; k++) {
      const u = random.nextUniform();
      if (!(u > 0 && u < 1)) outside++;
    }
    expect(outside).toBe(0);
  });

  it.each([-1, 2 ** 32, 1.5, Number.NaN])('rejects seed %s with a typed error', (seed) => {
    expect(() => createRandom(seed)).toThrow(InvalidRequestError);
  });
});

describe('gaussianNoise', () => {
  it('gives the documented Box–Muller values, cos output first', () => {
    expect(Array.from(gaussianNoise(0, 6))).toEqual([
      -0.7724449038505554, -0.0424593985080719, -1.7225052118301392, 0.8770681619644165, 1.3277206420898438, 0.055234748870134354,
    ]);
    expect(Array.from(gaussianNoise(42, 3))).toEqual([-0.45846691727638245, 0.26743587851524353, -1.4704445600509644]);
  });

  it('gives identical bits for the same seed', () => {
    const a = gaussianNoise(123456789, 4096);
    const b = gaussianNoise(123456789, 4096);
    expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer));
  });

  it('gives different noise for neighbouring seeds', () => {
    const a = gaussianNoise(1, 1024);
    const b = gaussianNoise(2, 1024);
    let same = 0;
    for (let k = 0; k < a.length; k++) if (a[k] === b[k]) same++;
    expect(same).toBe(0);
  });

  it('is a prefix-stable stream: a shorter request gives the start of a longer one', () => {
    expect(Array.from(gaussianNoise(9, 5))).toEqual(Array.from(gaussianNoise(9, 8).subarray(0, 5)));
  });

  it('has mean 0 and variance 1, with no NaN or Infinity, over 100k samples', () => {
    const noise = gaussianNoise(2024, 100_000);
    let sum = 0;
    let sumSquares = 0;
    let beyondTwoSigma = 0;
    let notFinite = 0;
    for (const z of noise) {
      if (!Number.isFinite(z)) notFinite++;
      sum += z;
      sumSquares += z * z;
      if (Math.abs(z) > 2) beyondTwoSigma++;
    }
    expect(notFinite).toBe(0);
    const mean = sum / noise.length;
    const variance = sumSquares / noise.length - mean * mean;
    // Standard errors at n = 1e5: mean 0.0032, variance 0.0045; the bounds are ~4 of them.
    expect(Math.abs(mean)).toBeLessThan(0.013);
    expect(Math.abs(variance - 1)).toBeLessThan(0.018);
    // A Gaussian, not just any unit-variance distribution: 4.55% of values beyond 2 sigma.
    expect(beyondTwoSigma / noise.length).toBeGreaterThan(0.043);
    expect(beyondTwoSigma / noise.length).toBeLessThan(0.048);
  });

  it('rejects a negative or fractional count', () => {
    expect(() => gaussianNoise(0, -1)).toThrow(RangeError);
    expect(() => gaussianNoise(0, 2.5)).toThrow(RangeError);
  });
});

describe('stepNoise', () => {
  // Expected seeds from a Python implementation of recipe step 5 in prng.ts' header.
  it.each([
    [0, 0, 2462723854],
    [42, 3, 2244032364],
    [0xffffffff, 19, 1819842140],
  ])('seed %i, step %i: the documented step seed, then gaussianNoise of it', (seed, i, expected) => {
    expect(stepSeed(seed, i)).toBe(expected);
    expect(Array.from(stepNoise(seed, i, 5))).toEqual(Array.from(gaussianNoise(expected, 5)));
  });

  it('is the same for the same seed and step, and differs between steps, seeds and the initial noise', () => {
    expect(Array.from(stepNoise(42, 3, 16))).toEqual(Array.from(stepNoise(42, 3, 16)));
    const streams = [stepNoise(42, 0, 16), stepNoise(42, 1, 16), stepNoise(43, 0, 16), gaussianNoise(42, 16)];
    for (let a = 0; a < streams.length; a++) {
      for (let b = a + 1; b < streams.length; b++) expect(Array.from(streams[a]!)).not.toEqual(Array.from(streams[b]!));
    }
  });

  it('rejects a bad seed with a typed error and a bad step index with a RangeError', () => {
    expect(() => stepNoise(-1, 0, 4)).toThrow(InvalidRequestError);
    expect(() => stepNoise(1, 1.5, 4)).toThrow(RangeError);
  });
});

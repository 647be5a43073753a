import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../../src/util/float16.ts';

describe('float16 conversion', () => {
  it('gives the IEEE 754 half-precision bits of exact values', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(0.5)).toBe(0x3800);
    expect(toFloat16Bits(65504)).toBe(0x7bff); // the largest half
    expect(toFloat16Bits(2 ** -14)).toBe(0x0400); // the smallest normal
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(toFloat16Bits(0)).toBe(0);
    expect(toFloat16Bits(-0)).toBe(0x8000);
  });

  it('rounds to nearest, ties to even, and overflows to infinity', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: down to the even mantissa
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: up to the even mantissa
    expect(toFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(toFloat16Bits(65520)).toBe(0x7c00); // rounds past the largest half
    expect(toFloat16Bits(-1e6)).toBe(0xfc00);
    expect(toFloat16Bits(2 ** -26)).toBe(0); // below half the smallest subnormal
    expect(toFloat16Bits(3 * 2 ** -26)).toBe(0x0001);
  });

  it('keeps NaN and infinities', () => {
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN)))).toBe(true);
    expect(fromFloat16Bits(toFloat16Bits(Number.POSITIVE_INFINITY))).toBe(Number.POSITIVE_INFINITY);
    expect(fromFloat16Bits(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('round-trips every finite half exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      const value = fromFloat16Bits(bits);
      // -0 and +0 differ in bits; compare the bits, not the values.
      expect(toFloat16Bits(value)).toBe(bits);
    }
  });

  it('converts arrays both ways, from bits or from the values of a Float16Array', () => {
    const values = [0.1, -3.5, 1000, 1e-6];
    const bits = float32ToFloat16(values);
    const back = float16ToFloat32(bits);
    expect(Array.from(back)).toEqual(Array.from(bits, fromFloat16Bits));
    expect(Array.from(float16ToFloat32(Array.from(back)))).toEqual(Array.from(back));
    expect(back[1]).toBe(-3.5);
    expect(Math.abs(back[0]! - 0.1)).toBeLessThan(1e-4);
  });
});

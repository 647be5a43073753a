import { describe, expect, it } from 'vitest';
import { LoraError } from '../../../src/errors.ts';
import { parseSafetensors } from '../../../src/lora/safetensors.ts';
import { safetensorsBytes, safetensorsOf } from './safetensors-bytes.ts';

function reason(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(LoraError);
    expect((error as LoraError).code).toBe('bad-lora');
    return (error as LoraError).details!.reason as string;
  }
  throw new Error('did not throw');
}

describe('parseSafetensors', () => {
  it('reads F32, F16 and BF16 tensors and the metadata', () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const file = parseSafetensors(safetensorsOf({ a: { shape: [2, 2], values: [1, -2, 0.5, 4] } }, dtype), 'test');
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.tensors.get('a')).toMatchObject({ dtype, shape: [2, 2] });
      expect(Array.from(file.tensors.get('a')!.data)).toEqual([1, -2, 0.5, 4]);
    }
  });

  it('refuses what is not a safetensors file', () => {
    expect(reason(() => parseSafetensors(new TextEncoder().encode('{"not": "a safetensors file"}'), 'x'))).toBe('header-too-large');
    expect(reason(() => parseSafetensors(safetensorsBytes({}, new Uint8Array()).fill(0x20, 8), 'x'))).toBe('not-safetensors');
    expect(reason(() => parseSafetensors(safetensorsBytes([] as unknown as Record<string, unknown>, new Uint8Array()), 'x'))).toBe('not-safetensors');
    expect(reason(() => parseSafetensors(new Uint8Array(3), 'x'))).toBe('truncated');
  });

  it('refuses a header over the limit before reading it', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 200_000_000n, true);
    expect(reason(() => parseSafetensors(bytes, 'x'))).toBe('header-too-large');
    expect(reason(() => parseSafetensors(safetensorsOf({ a: { shape: [1], values: [1] } }), 'x', 10))).toBe('header-too-large');
  });

  it('refuses a cut-short file: header or data', () => {
    const whole = safetensorsOf({ a: { shape: [4], values: [1, 2, 3, 4] } });
    expect(reason(() => parseSafetensors(whole.subarray(0, 20), 'x'))).toBe('truncated');
    expect(reason(() => parseSafetensors(whole.subarray(0, whole.length - 4), 'x'))).toBe('bad-tensor');
  });

  it('refuses offsets outside the data, sizes that do not fit the shape, and other dtypes', () => {
    const data = new Uint8Array(16);
    expect(reason(() => parseSafetensors(safetensorsBytes({ a: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data), 'x'))).toBe('bad-tensor');
    expect(reason(() => parseSafetensors(safetensorsBytes({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data), 'x'))).toBe('bad-tensor');
    expect(reason(() => parseSafetensors(safetensorsBytes({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data), 'x'))).toBe('bad-tensor');
    expect(reason(() => parseSafetensors(safetensorsBytes({ a: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data), 'x'))).toBe('unsupported-dtype');
  });
});

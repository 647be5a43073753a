/** safetensors files built in tests. */
import { toFloat16Bits } from '../../../src/util/float16.ts';

/** A safetensors file: the header JSON as given, then `data`. */
export function safetensorsBytes(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Tensors (float32 values) as a safetensors file of the dtype given. */
export function safetensorsOf(tensors: Record<string, { shape: number[]; values: number[] }>, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: number[] = [];
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    const begin = chunks.length;
    for (const v of values) {
      if (dtype === 'F32') chunks.push(...new Uint8Array(new Float32Array([v]).buffer));
      else {
        const bits = dtype === 'F16' ? toFloat16Bits(v) : new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16;
        chunks.push(bits & 0xff, bits >>> 8);
      }
    }
    header[name] = { dtype, shape, data_offsets: [begin, chunks.length] };
  }
  return safetensorsBytes(header, Uint8Array.from(chunks));
}

/**
 * A small, strict reader of the safetensors format (huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header `{ name: { dtype, shape, data_offsets } }` with an
 * optional `__metadata__` of strings, then the tensors' bytes. Everything the header says is
 * checked before a byte of data is read: the length against the file and a limit, the JSON's
 * shape, each tensor's dtype, its offsets inside the data and its byte count against its shape,
 * as the reference implementation does. Only the float types LoRAs ship in are read (F32, F16,
 * BF16), widened to float32.
 */
import { LoraError } from '../errors.ts';
import { float16ToFloat32 } from '../util/float16.ts';

/** The reference implementation's own limit on the header (100 MB); a LoRA's is a few hundred kB. */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES_PER_ELEMENT: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** The values, widened to float32, row-major. */
  readonly data: Float32Array;
}

export interface Safetensors {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Parses a safetensors file.
 * @param source names the file in errors
 * @throws LoraError (`details.reason`: 'not-safetensors', 'truncated', 'header-too-large',
 *   'unsupported-dtype', 'bad-tensor') when the bytes are not a well-formed file of float tensors
 */
export function parseSafetensors(bytes: Uint8Array, source: string, maxHeaderBytes = MAX_HEADER_BYTES): Safetensors {
  const fail = (reason: string, message: string, details: Record<string, unknown> = {}): never => {
    throw new LoraError(`${source}: ${message}`, { reason, source, ...details });
  };
  if (bytes.length < 8) fail('truncated', `${bytes.length} bytes is too short for a safetensors file (an 8-byte header length comes first)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    fail('header-too-large', `its header claims ${headerLength} bytes; at most ${maxHeaderBytes} are allowed`, {
      headerBytes: Number(headerLength),
      limit: maxHeaderBytes,
    });
  }
  const length = Number(headerLength);
  if (8 + length > bytes.length)
    fail('truncated', `its header claims ${length} bytes but the file has ${bytes.length - 8} after the length`, { headerBytes: length, size: bytes.length });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + length)));
  } catch (cause) {
    throw new LoraError(`${source}: not a safetensors file: its header is not UTF-8 JSON`, { reason: 'not-safetensors', source }, { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    fail('not-safetensors', 'not a safetensors file: its header is not a JSON object');
  const data = bytes.subarray(8 + length);
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = readMetadata(entry, fail);
      continue;
    }
    tensors.set(name, readTensor(name, entry, data, fail));
  }
  return { tensors, metadata };
}

type Fail = (reason: string, message: string, details?: Record<string, unknown>) => never;

function readMetadata(entry: unknown, fail: Fail): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
    fail('not-safetensors', '__metadata__ must map names to strings');
  }
  return entry as Record<string, string>;
}

function readTensor(name: string, entry: unknown, data: Uint8Array, fail: Fail): SafetensorsTensor {
  const bad = (what: string): never => fail('bad-tensor', `tensor "${name}": ${what}`, { keys: [name] });
  if (typeof entry !== 'object' || entry === null) return bad('its header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) {
    return fail('unsupported-dtype', `tensor "${name}" is ${String(dtype)}; F32, F16 and BF16 are read`, { keys: [name], dtype });
  }
  const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(isIndex)) return bad('shape must be a list of non-negative integers');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) return bad('data_offsets must be [begin, end]');
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > data.length) return bad(`data_offsets [${begin}, ${end}] lie outside the ${data.length} bytes of data`);
  const type = dtype as SafetensorsDtype;
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (end - begin !== count * BYTES_PER_ELEMENT[type]) return bad(`${end - begin} bytes for shape [${shape.join(', ')}] of ${type}`);
  return { dtype: type, shape: shape as number[], data: widen(type, data.subarray(begin, end), count) };
}

/** Little-endian element bytes to float32; the copy also aligns them (offsets need not be). */
function widen(dtype: SafetensorsDtype, bytes: Uint8Array, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const bits = new Uint16Array(count);
  for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true);
  if (dtype === 'F16') return float16ToFloat32(bits);
  // bfloat16 is the top half of a float32.
  const wide = new Uint32Array(count);
  for (let i = 0; i < count; i++) wide[i] = bits[i]! << 16;
  return new Float32Array(wide.buffer);
}

/**
 * Just enough of the protobuf wire format to walk an ONNX file field by field without decoding
 * it: a `.onnx` is a ModelProto whose graph holds the weights inline, and the LoRA rewrite must
 * touch a few nodes while passing every initializer through as a slice of the original Blob.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** One field of a message: its number and wire type, where it starts (tag included), and where its value lies. */
export interface Field {
  readonly field: number;
  readonly wire: number;
  /** Offset of the tag. */
  readonly start: number;
  /** Offset of the value (after the length, for WIRE_BYTES). */
  readonly valueStart: number;
  /** Offset just past the field. */
  readonly end: number;
  /** The value of a WIRE_VARINT field. */
  readonly varint?: number;
}

/** Reads a Blob through a window, so that walking many small fields costs few reads. */
export class BlobReader {
  readonly size: number;
  private readonly blob: Blob;
  private window = new Uint8Array(0);
  private windowStart = 0;
  private readonly windowBytes: number;

  constructor(blob: Blob, windowBytes = 1 << 20) {
    this.blob = blob;
    this.size = blob.size;
    this.windowBytes = windowBytes;
  }

  /** Bytes [start, start + length) (fewer at the end of the file). */
  async bytes(start: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, start + length);
    if (start < this.windowStart || end > this.windowStart + this.window.length) {
      this.windowStart = start;
      this.window = new Uint8Array(await this.blob.slice(start, Math.min(this.size, start + Math.max(length, this.windowBytes))).arrayBuffer());
    }
    return this.window.subarray(start - this.windowStart, end - this.windowStart);
  }

  /** The fields of the message occupying [start, end). */
  async *fields(start: number, end: number): AsyncGenerator<Field> {
    let pos = start;
    while (pos < end) {
      // A tag and a length are at most 10 bytes each.
      const head = await this.bytes(pos, 20);
      const field = fieldAt(head, 0, pos, end);
      yield field;
      pos = field.end;
    }
  }

  blobSlice(start: number, end: number): Blob {
    return this.blob.slice(start, end);
  }
}

/** The fields of a message held in memory. */
export function* fieldsOf(bytes: Uint8Array): Generator<Field> {
  let pos = 0;
  while (pos < bytes.length) {
    const field = fieldAt(bytes, pos, 0, bytes.length);
    yield field;
    pos = field.end;
  }
}

/**
 * The field whose tag is at `bytes[at]`, with offsets reported relative to `base` (the
 * position of `bytes[0]` in the file) and checked against `limit`.
 */
function fieldAt(bytes: Uint8Array, at: number, base: number, limit: number): Field {
  const [tag, afterTag] = readVarint(bytes, at);
  const wire = tag % 8;
  const field = Math.floor(tag / 8);
  const start = base + at;
  let valueStart = base + afterTag;
  let end: number;
  let varint: number | undefined;
  switch (wire) {
    case WIRE_VARINT: {
      const [value, next] = readVarint(bytes, afterTag);
      varint = value;
      end = base + next;
      break;
    }
    case WIRE_FIXED64:
      end = valueStart + 8;
      break;
    case WIRE_FIXED32:
      end = valueStart + 4;
      break;
    case WIRE_BYTES: {
      const [length, next] = readVarint(bytes, afterTag);
      valueStart = base + next;
      end = valueStart + length;
      break;
    }
    default:
      throw new Error(`protobuf: wire type ${wire} at byte ${start} is not one ONNX uses`);
  }
  if (end > limit) throw new Error(`protobuf: field ${field} at byte ${start} runs past its message (${end} > ${limit})`);
  return { field, wire, start, valueStart, end, ...(varint !== undefined ? { varint } : {}) };
}

/** A varint as a number (exact to 2^53: lengths and offsets of any real file) and the offset after it. */
export function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  throw new Error(`protobuf: a varint at byte ${at} is cut short`);
}

export function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Builds a message's bytes. */
export class MessageWriter {
  private readonly chunks: number[] = [];

  varint(field: number, value: number): this {
    this.chunks.push(...varintBytes(field * 8 + WIRE_VARINT), ...varintBytes(value));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.chunks.push(...varintBytes(field * 8 + WIRE_BYTES), ...varintBytes(value.length));
    for (const byte of value) this.chunks.push(byte);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (writer: MessageWriter) => void): this {
    const inner = new MessageWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array<ArrayBuffer> {
    return Uint8Array.from(this.chunks);
  }
}

export function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

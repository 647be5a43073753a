/**
 * ONNX files on disk for the quantizer: decoding a model with the ONNX schema (the `onnx-proto`
 * package's generated protobufjs code), reading one initializer's bytes at a time — inline or by
 * range from its external-data file — and writing initializers to external-data shards as they
 * are made, so that a model larger than memory is never held twice.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { QuantizeError } from './errors.ts';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;

export const DataType = onnx.TensorProto.DataType;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** protobufjs reads int64 fields as Long objects. */
type Int64 = number | { toNumber(): number };
export const toNumber = (v: Int64 | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

/** Bytes per element of the types an initializer we move can have. */
const ELEMENT_BYTES: Readonly<Partial<Record<number, number>>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.BOOL]: 1,
};

/**
 * Decodes `bytes` as an ONNX model.
 * @throws QuantizeError 'not-onnx' when they are not one (no graph, no IR version, not protobuf)
 */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new QuantizeError('not-onnx', `${file} is not an ONNX model (${(error as Error).message})`, { file }, { cause: error });
  }
  const graph = model.graph;
  if (toNumber(model.irVersion) <= 0 || graph === null || graph === undefined || (graph.node?.length ?? 0) === 0 || (graph.output?.length ?? 0) === 0) {
    throw new QuantizeError('not-onnx', `${file} is not an ONNX model: it decodes to no graph with nodes and outputs`, { file });
  }
  return model;
}

export const elementCount = (tensor: TensorProto): number => (tensor.dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);

/** The tensor's size in bytes when it is of a type we can move between files, else undefined. */
export function byteLength(tensor: TensorProto): number | undefined {
  const size = ELEMENT_BYTES[tensor.dataType ?? 0];
  return size === undefined ? undefined : size * elementCount(tensor);
}

/** One entry of a tensor's external_data list. */
function externalField(tensor: TensorProto, key: string): string | undefined {
  return tensor.externalData?.find((entry) => entry.key === key)?.value ?? undefined;
}

/**
 * An initializer's bytes, little-endian as raw_data holds them: its raw_data, its typed field
 * (float_data, int32_data, int64_data) re-encoded, or a range read from its external-data file
 * (relative to `modelDir`). Undefined for types we do not move (strings, …).
 * @throws QuantizeError 'bad-external-data' when the external range cannot be read whole
 */
export function tensorBytes(tensor: TensorProto, modelDir: string): Uint8Array | undefined {
  const length = byteLength(tensor);
  if (tensor.dataLocation === EXTERNAL) {
    const location = externalField(tensor, 'location');
    if (location === undefined)
      throw new QuantizeError('bad-external-data', `initializer "${tensor.name}" is external but names no location`, { tensor: tensor.name });
    const file = path.resolve(modelDir, location);
    const offset = Number(externalField(tensor, 'offset') ?? 0);
    const stored = Number(externalField(tensor, 'length') ?? length);
    if (!Number.isInteger(stored))
      throw new QuantizeError('bad-external-data', `initializer "${tensor.name}" is external with no length, of a type whose size we do not know`, {
        tensor: tensor.name,
      });
    const out = new Uint8Array(stored);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      throw new QuantizeError(
        'bad-external-data',
        `initializer "${tensor.name}": cannot open its external data ${file}`,
        { tensor: tensor.name, file },
        { cause: error },
      );
    }
    try {
      let done = 0;
      while (done < stored) {
        const read = readSync(fd, out, done, stored - done, offset + done);
        if (read === 0) {
          throw new QuantizeError('bad-external-data', `initializer "${tensor.name}": ${file} ends before byte ${offset + stored}`, {
            tensor: tensor.name,
            file,
          });
        }
        done += read;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
  if (length === undefined) return undefined;
  if ((tensor.rawData?.length ?? 0) > 0) return tensor.rawData!;
  const type = tensor.dataType;
  if (type === DataType.FLOAT && (tensor.floatData?.length ?? 0) > 0) return bytesOf(Float32Array.from(tensor.floatData!));
  if (type === DataType.INT64 && (tensor.int64Data?.length ?? 0) > 0) return bytesOf(BigInt64Array.from(tensor.int64Data!, (v) => BigInt(toNumber(v))));
  if (type === DataType.INT32 && (tensor.int32Data?.length ?? 0) > 0) return bytesOf(Int32Array.from(tensor.int32Data!));
  return length === 0 ? new Uint8Array(0) : undefined;
}

/** An initializer's values as float32 (it must be a FLOAT tensor). */
export function floatValues(tensor: TensorProto, modelDir: string): Float32Array {
  const bytes = tensorBytes(tensor, modelDir)!;
  // Copy (a Node Buffer's slice() would not): raw_data inside the decoded file need not be 4-byte aligned.
  return new Float32Array(new Uint8Array(bytes).buffer, 0, bytes.byteLength / 4);
}

export const bytesOf = (array: ArrayBufferView): Uint8Array => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/** A new initializer with its bytes inline. */
export function makeTensor(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: bytesOf(data) });
}

/** ONNX Runtime limits an external-data file to 4 GB; we keep each under this (and big files out of the 2 GB ArrayBuffer cap). */
export const MAX_SHARD_BYTES = 1.9e9;
/** Smaller initializers (shapes, norms of small layers) stay inline, as exporters keep them. */
export const EXTERNAL_MIN_BYTES = 1024;
/** Offsets are aligned so that a reader may view any tensor in place. */
const ALIGNMENT = 64;

/**
 * Writes initializers' bytes to `<onnx file>_data`, then `<onnx file>_data_1`, … each at most
 * `maxShardBytes` (a single larger tensor gets a shard of its own), and points the initializers
 * at them.
 */
export class ExternalDataWriter {
  private readonly shards: string[] = [];
  private fd: number | undefined;
  private offset = 0;

  /**
   * @param onnxFile the .onnx file the shards belong to; they are written beside it
   */
  constructor(
    private readonly onnxFile: string,
    private readonly maxShardBytes = MAX_SHARD_BYTES,
  ) {}

  /** Moves `tensor`'s bytes out (replacing its inline data with a reference) when it is big enough. */
  place(tensor: TensorProto, bytes: Uint8Array): void {
    if (bytes.byteLength < EXTERNAL_MIN_BYTES) {
      tensor.rawData = bytes;
      tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      tensor.externalData = [];
      return;
    }
    const start = Math.ceil(this.offset / ALIGNMENT) * ALIGNMENT;
    if (this.fd === undefined || (start + bytes.byteLength > this.maxShardBytes && this.offset > 0)) this.nextShard();
    else this.pad(start - this.offset);
    const location = this.shards[this.shards.length - 1]!;
    const at = this.offset;
    for (let done = 0; done < bytes.byteLength;) done += writeSync(this.fd!, bytes, done, bytes.byteLength - done);
    this.offset += bytes.byteLength;
    tensor.rawData = new Uint8Array(0);
    tensor.floatData = [];
    tensor.int32Data = [];
    tensor.int64Data = [];
    tensor.dataLocation = EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(at) },
      { key: 'length', value: String(bytes.byteLength) },
    ];
  }

  /** Closes the last shard; returns the shards' names, relative to the .onnx file's folder. */
  close(): string[] {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return [...this.shards];
  }

  private nextShard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    const base = `${path.basename(this.onnxFile)}_data`;
    const name = this.shards.length === 0 ? base : `${base}_${this.shards.length}`;
    this.fd = openSync(path.join(path.dirname(this.onnxFile), name), 'w');
    this.shards.push(name);
    this.offset = 0;
  }

  private pad(bytes: number): void {
    if (bytes > 0) writeSync(this.fd!, new Uint8Array(bytes));
    this.offset += bytes;
  }
}

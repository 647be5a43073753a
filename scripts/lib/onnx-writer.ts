/**
 * A small ONNX writer: graphs of a few standard operators with named, typed inputs and outputs
 * (symbolic dimensions included) and float32 initializers kept inline or in an external-data
 * file. Enough to build stand-ins of real exports with their exact contracts (scripts/stand-ins.ts)
 * without ONNX tooling in Node. Field numbers are those of onnx.proto.
 */

export type ElementType = 'float32' | 'float16' | 'int32' | 'int64';

const ELEMENT_TYPES: Readonly<Record<ElementType, number>> = { float32: 1, int32: 6, int64: 7, float16: 10 };

/** A dimension: a size, or a symbolic name ('batch_size'). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly Dim[];
}

export type Attribute =
  | { readonly name: string; readonly int: number }
  | { readonly name: string; readonly ints: readonly number[] }
  | { readonly name: string; readonly float: number }
  | { readonly name: string; readonly string: string };

export interface Node {
  readonly op: string;
  /** The node's name (default `<op>_<index>`): torch.onnx.export writes module scopes here. */
  readonly name?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly Attribute[];
}

export interface Initializer {
  readonly name: string;
  readonly type: 'float32' | 'int64';
  readonly dims: readonly number[];
  readonly values: Float32Array | BigInt64Array;
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly Node[];
  readonly initializers: readonly Initializer[];
}

export interface WrittenModel {
  /** The .onnx file. */
  readonly model: Uint8Array;
  /** The external-data file's bytes, when `externalData` was asked for. */
  readonly externalData?: Uint8Array;
}

/** Smaller initializers (shapes, scales) stay inline, as exporters keep them. */
const EXTERNAL_MIN_VALUES = 8;

/**
 * Serialises `graph` as an opset-17 model. With `externalData`, every float32 initializer's bytes
 * (all but the tiny ones) go to that file (named as the .onnx will refer to it, relative to the .onnx's folder).
 */
export function writeModel(graph: Graph, options: { readonly externalData?: string } = {}): WrittenModel {
  const external: Uint8Array[] = [];
  let externalOffset = 0;
  const initializer = (init: Initializer): Uint8Array => {
    const raw = new Uint8Array(init.values.buffer, init.values.byteOffset, init.values.byteLength);
    const parts = [...init.dims.map((dim) => varintField(1, dim)), varintField(2, ELEMENT_TYPES[init.type]), bytesField(8, init.name)];
    if (options.externalData !== undefined && init.type === 'float32' && init.values.length >= EXTERNAL_MIN_VALUES) {
      external.push(raw.slice());
      const entries: [string, string][] = [
        ['location', options.externalData],
        ['offset', String(externalOffset)],
        ['length', String(raw.byteLength)],
      ];
      externalOffset += raw.byteLength;
      parts.push(...entries.map(([key, value]) => message(13, [bytesField(1, key), bytesField(2, value)])), varintField(14, 1));
    } else {
      parts.push(bytesField(9, raw));
    }
    return message(5, parts);
  };
  const valueInfo = (field: number, info: ValueInfo): Uint8Array =>
    message(field, [
      bytesField(1, info.name),
      message(2, [
        message(1, [
          varintField(1, ELEMENT_TYPES[info.type]),
          message(
            2,
            info.shape.map((dim) => message(1, [typeof dim === 'number' ? varintField(1, dim) : bytesField(2, dim)])),
          ),
        ]),
      ]),
    ]);
  const node = (n: Node, index: number): Uint8Array =>
    message(1, [
      ...n.inputs.map((input) => bytesField(1, input)),
      ...n.outputs.map((output) => bytesField(2, output)),
      bytesField(3, n.name ?? `${n.op.toLowerCase()}_${index}`),
      bytesField(4, n.op),
      ...(n.attributes ?? []).map(attribute),
    ]);
  const graphBytes = message(7, [
    ...graph.nodes.map(node),
    bytesField(2, graph.name),
    ...graph.initializers.map(initializer),
    ...graph.inputs.map((info) => valueInfo(11, info)),
    ...graph.outputs.map((info) => valueInfo(12, info)),
  ]);
  const model = concat([varintField(1, 8), bytesField(2, 'webdiffusion-stand-in'), graphBytes, message(8, [varintField(2, 17)])]);
  return options.externalData !== undefined ? { model, externalData: concat(external) } : { model };
}

function attribute(a: Attribute): Uint8Array {
  if ('int' in a) return message(5, [bytesField(1, a.name), varintField(3, a.int), varintField(20, 2)]);
  if ('ints' in a) return message(5, [bytesField(1, a.name), ...a.ints.map((v) => varintField(8, v)), varintField(20, 7)]);
  if ('float' in a) {
    const bits = new Uint8Array(new Float32Array([a.float]).buffer);
    return message(5, [bytesField(1, a.name), Uint8Array.from([...varint((2 << 3) | 5), ...bits]), varintField(20, 1)]);
  }
  return message(5, [bytesField(1, a.name), bytesField(4, a.string), varintField(20, 3)]);
}

function varint(value: number): number[] {
  const out: number[] = [];
  // Negative int64 values are ten bytes of two's complement.
  let rest = BigInt.asUintN(64, BigInt(value));
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return out;
}

/** Protobuf field writers, shared with the storage benchmark's own model (bench/synthetic-onnx.ts). */
export function varintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

export function bytesField(field: number, value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(bytes.byteLength)]), bytes]);
}

export function message(field: number, parts: Uint8Array[]): Uint8Array {
  return bytesField(field, concat(parts));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

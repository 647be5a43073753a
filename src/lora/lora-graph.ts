/**
 * The LoRA rewrite of an ONNX graph, done once when a model is first asked for a LoRA: every
 * MatMul with a constant weight — a float initializer, an int8 DequantizeLinear (q8) or a 4-bit
 * MatMulNBits (q4) — and every Gemm with one (what torch exports for a Linear on a 2-D input: the
 * UNet's time embedding and each resnet's time_emb_proj, `transB` = 1, the weight [out, in])
 * gets a side branch `y = x W + (x A) B`, where A [in, rank] and B [rank, out]
 * are new graph inputs (`lora:<module>:A`, `…:B`) sharing one free dimension, `lora_rank`. The
 * weights themselves are never touched, so the quantized models need no dequantizing; which
 * LoRAs are active, and at what scale, is only what those inputs are fed (zeros: none).
 *
 * The file is walked field by field and written back as a Blob of slices of the original: only
 * the target nodes are re-encoded (their output renamed, the branch's three nodes after them),
 * so no initializer is ever decoded or copied in JavaScript.
 *
 * A target is named by its module path, read from the node name torch.onnx.export gives it:
 * "/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul" is module
 * `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`, the name LoRA files use.
 */
import { BlobReader, fieldsOf, MessageWriter, readVarint, utf8, varintBytes, WIRE_BYTES, WIRE_FIXED32, WIRE_VARINT } from './protobuf.ts';

/** ONNX TensorProto data types of the floats a branch can compute in. */
const FLOAT = 1;
const FLOAT16 = 10;

/** The free dimension every LoRA input shares: the summed rank of the LoRAs fed. */
export const RANK_DIM = 'lora_rank';

export interface LoraTarget {
  /** The module path ("a1.qkv", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"). */
  readonly module: string;
  /** Input and output features: A is [inFeatures, rank], B [rank, outFeatures]. */
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly dtype: 'float32' | 'float16';
  /** The graph inputs that feed its branch. */
  readonly inputA: string;
  readonly inputB: string;
  /** How its weight is stored: 'float' initializer, int8 'DequantizeLinear', 4-bit 'MatMulNBits'. */
  readonly weight: 'float' | 'DequantizeLinear' | 'MatMulNBits';
}

export interface LoraGraph {
  /** The rewritten model: slices of the original Blob, a few re-encoded nodes between them. */
  readonly model: Blob;
  /** One per module (modules called twice share their inputs). */
  readonly targets: readonly LoraTarget[];
}

interface NodeInfo {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly ints: ReadonlyMap<string, number>;
  readonly floats: ReadonlyMap<string, number>;
}

interface TensorInfo {
  readonly dims: readonly number[];
  readonly dataType: number;
}

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;

/**
 * Adds the LoRA branches to the model in `file`.
 * @throws Error when the file is not a well-formed ONNX model (the caller says which file)
 */
export async function addLoraBranches(file: Blob): Promise<LoraGraph> {
  const reader = new BlobReader(file);
  let graph: { start: number; valueStart: number; end: number } | undefined;
  for await (const field of reader.fields(0, reader.size)) {
    if (field.field === MODEL_GRAPH && field.wire === WIRE_BYTES) graph = field;
  }
  if (graph === undefined) throw new Error('no graph in the model');

  const nodes: NodeInfo[] = [];
  const initializers = new Map<string, TensorInfo>();
  let lastInput = graph.valueStart;
  for await (const field of reader.fields(graph.valueStart, graph.end)) {
    if (field.wire !== WIRE_BYTES) continue;
    if (field.field === GRAPH_NODE) {
      nodes.push(parseNode(field.start, field.end, await copy(reader, field.valueStart, field.end)));
    } else if (field.field === GRAPH_INITIALIZER) {
      const tensor = await parseTensorHeader(reader, field.valueStart, field.end);
      if (tensor.name !== undefined) initializers.set(tensor.name, tensor);
    } else if (field.field === GRAPH_INPUT) {
      lastInput = field.end;
    }
  }

  const producers = new Map<string, NodeInfo>();
  for (const node of nodes) for (const output of node.outputs) producers.set(output, node);
  const targets = new Map<string, LoraTarget>();
  const rewritten = new Map<NodeInfo, Uint8Array>();
  for (const node of nodes) {
    const target = targetOf(node, initializers, producers);
    if (target === undefined) continue;
    const known = targets.get(target.module);
    if (known !== undefined && (known.inFeatures !== target.inFeatures || known.outFeatures !== target.outFeatures)) continue;
    targets.set(target.module, known ?? target);
    rewritten.set(node, branchNodes(node, known ?? target));
  }

  // The graph again, in its order: target nodes replaced, the new inputs after the last input.
  const parts: BlobPart[] = [];
  let pos = graph.valueStart;
  const passTo = (end: number): void => {
    if (end > pos) parts.push(reader.blobSlice(pos, end));
    pos = Math.max(pos, end);
  };
  const inputs = new MessageWriter();
  for (const target of targets.values()) {
    inputs.message(GRAPH_INPUT, (w) => valueInfo(w, target.inputA, target.dtype, [target.inFeatures, RANK_DIM]));
    inputs.message(GRAPH_INPUT, (w) => valueInfo(w, target.inputB, target.dtype, [RANK_DIM, target.outFeatures]));
  }
  const events = [
    ...[...rewritten].map(([node, bytes]) => ({ at: node.start, end: node.end, bytes })),
    { at: lastInput, end: lastInput, bytes: inputs.finish() },
  ].sort((a, b) => a.at - b.at);
  for (const event of events) {
    passTo(event.at);
    parts.push(event.bytes as Uint8Array<ArrayBuffer>);
    pos = event.end;
  }
  passTo(graph.end);
  const graphLength = parts.reduce<number>((sum, part) => sum + (part instanceof Blob ? part.size : (part as Uint8Array).length), 0);
  const model = new Blob([
    reader.blobSlice(0, graph.start),
    Uint8Array.from([...varintBytes(MODEL_GRAPH * 8 + WIRE_BYTES), ...varintBytes(graphLength)]),
    ...parts,
    reader.blobSlice(graph.end, reader.size),
  ]);
  return { model, targets: [...targets.values()] };
}

/** What LoRA can attach to at `node`, if anything. */
function targetOf(node: NodeInfo, initializers: ReadonlyMap<string, TensorInfo>, producers: ReadonlyMap<string, NodeInfo>): LoraTarget | undefined {
  const module = modulePath(node.name);
  if (module === '' || node.outputs.length !== 1 || node.inputs.length < 2) return undefined;
  const make = (inFeatures: number, outFeatures: number, dataType: number | undefined, weight: LoraTarget['weight']): LoraTarget | undefined => {
    if (dataType !== FLOAT && dataType !== FLOAT16) return undefined;
    return {
      module,
      inFeatures,
      outFeatures,
      dtype: dataType === FLOAT ? 'float32' : 'float16',
      inputA: `lora:${module}:A`,
      inputB: `lora:${module}:B`,
      weight,
    };
  };
  if (node.opType === 'MatMulNBits' && node.domain === 'com.microsoft') {
    const k = node.ints.get('K');
    const n = node.ints.get('N');
    if (k === undefined || n === undefined) return undefined;
    return make(k, n, initializers.get(node.inputs[2] ?? '')?.dataType, 'MatMulNBits');
  }
  if (node.domain !== '') return undefined;
  // Gemm: y = alpha x W (transposed when transB) + beta C. A branch adds to it as it adds to a
  // MatMul where alpha is 1 and x is not transposed, which is how exporters write a Linear.
  let transposed = false;
  if (node.opType === 'Gemm') {
    if ((node.ints.get('transA') ?? 0) !== 0 || (node.floats.get('alpha') ?? 1) !== 1) return undefined;
    transposed = (node.ints.get('transB') ?? 0) !== 0;
  } else if (node.opType !== 'MatMul') {
    return undefined;
  }
  const features = (dims: readonly number[]): [number, number] => (transposed ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!]);
  const weight = node.inputs[1]!;
  const direct = initializers.get(weight);
  if (direct !== undefined) return direct.dims.length === 2 ? make(...features(direct.dims), direct.dataType, 'float') : undefined;
  const dequantize = producers.get(weight);
  if (dequantize?.opType !== 'DequantizeLinear') return undefined;
  const quantized = initializers.get(dequantize.inputs[0]!);
  const scale = initializers.get(dequantize.inputs[1] ?? '');
  if (quantized === undefined || quantized.dims.length !== 2) return undefined;
  return make(...features(quantized.dims), scale?.dataType, 'DequantizeLinear');
}

/**
 * '/a1/mlp/mlp.0/MatMul' → 'a1.mlp.0'; '/down_blocks.0/attentions.0/…/to_q/MatMul' →
 * 'down_blocks.0.attentions.0.….to_q': the scopes torch gives a node, the op's own name dropped;
 * a scope that repeats its parent's name with an index ("mlp" then "mlp.0") replaces it.
 */
export function modulePath(nodeName: string): string {
  const parts: string[] = [];
  const scopes = nodeName.split('/').filter((s) => s !== '');
  if (!nodeName.startsWith('/')) return '';
  for (const scope of scopes.slice(0, -1)) {
    if (parts.length > 0 && scope.startsWith(parts[parts.length - 1]! + '.')) parts[parts.length - 1] = scope;
    else parts.push(scope);
  }
  return parts.join('.');
}

/** The target node with its output renamed, then x A, (x A) B and the sum under the old name. */
function branchNodes(node: NodeInfo, target: LoraTarget): Uint8Array {
  const y = node.outputs[0]!;
  const base = `${y}:lora_base`;
  const writer = new MessageWriter();
  writer.bytes(GRAPH_NODE, withOutput(node.bytes, base));
  const op = (name: string, type: string, inputs: string[], output: string): void => {
    writer.message(GRAPH_NODE, (w) => {
      for (const input of inputs) w.string(1, input);
      w.string(2, output).string(3, `${node.name}/${name}`).string(4, type);
    });
  };
  op('lora_down', 'MatMul', [node.inputs[0]!, target.inputA], `${y}:lora_down`);
  op('lora_up', 'MatMul', [`${y}:lora_down`, target.inputB], `${y}:lora_delta`);
  op('lora_add', 'Add', [base, `${y}:lora_delta`], y);
  return writer.finish();
}

/** A NodeProto's bytes with its first output replaced, every other field as it was. */
function withOutput(bytes: Uint8Array, output: string): Uint8Array {
  const parts: number[] = [];
  let replaced = false;
  for (const field of fieldsOf(bytes)) {
    if (field.field === 2 && !replaced) {
      replaced = true;
      parts.push(...new MessageWriter().string(2, output).finish());
    } else {
      parts.push(...bytes.subarray(field.start, field.end));
    }
  }
  return Uint8Array.from(parts);
}

function valueInfo(w: MessageWriter, name: string, dtype: LoraTarget['dtype'], dims: readonly (number | string)[]): void {
  w.string(1, name).message(2, (type) =>
    type.message(1, (tensor) =>
      tensor.varint(1, dtype === 'float32' ? FLOAT : FLOAT16).message(2, (shape) => {
        for (const dim of dims) shape.message(1, (d) => (typeof dim === 'number' ? d.varint(1, dim) : d.string(2, dim)));
      }),
    ),
  );
}

async function copy(reader: BlobReader, start: number, end: number): Promise<Uint8Array> {
  return (await reader.bytes(start, end - start)).slice();
}

function parseNode(start: number, end: number, bytes: Uint8Array): NodeInfo {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const ints = new Map<string, number>();
  const floats = new Map<string, number>();
  let name = '';
  let opType = '';
  let domain = '';
  for (const f of fieldsOf(bytes)) {
    const text = (): string => utf8(bytes.subarray(f.valueStart, f.end));
    if (f.field === 1) inputs.push(text());
    else if (f.field === 2) outputs.push(text());
    else if (f.field === 3) name = text();
    else if (f.field === 4) opType = text();
    else if (f.field === 7) domain = text();
    else if (f.field === 5) {
      // AttributeProto: name = 1, f = 2, i = 3 (MatMulNBits' K and N, Gemm's transA, transB, alpha)
      const attribute = bytes.subarray(f.valueStart, f.end);
      let attributeName = '';
      let int: number | undefined;
      let float: number | undefined;
      for (const a of fieldsOf(attribute)) {
        if (a.field === 1) attributeName = utf8(attribute.subarray(a.valueStart, a.end));
        if (a.field === 2 && a.wire === WIRE_FIXED32) float = new DataView(attribute.buffer, attribute.byteOffset + a.valueStart, 4).getFloat32(0, true);
        if (a.field === 3 && a.wire === WIRE_VARINT) int = a.varint;
      }
      if (int !== undefined) ints.set(attributeName, int);
      if (float !== undefined) floats.set(attributeName, float);
    }
  }
  return { start, end, bytes, name, opType, domain, inputs, outputs, ints, floats };
}

/** A TensorProto's dims (1), data_type (2) and name (8), its data (raw_data 9, …) skipped unread. */
async function parseTensorHeader(reader: BlobReader, start: number, end: number): Promise<TensorInfo & { name?: string }> {
  const dims: number[] = [];
  let dataType = 0;
  let name: string | undefined;
  for await (const f of reader.fields(start, end)) {
    if (f.field === 1 && f.wire === WIRE_VARINT) dims.push(f.varint!);
    else if (f.field === 1 && f.wire === WIRE_BYTES) {
      const packed = await copy(reader, f.valueStart, f.end);
      for (const d of fieldsOfPacked(packed)) dims.push(d);
    } else if (f.field === 2 && f.wire === WIRE_VARINT) dataType = f.varint!;
    else if (f.field === 8 && f.wire === WIRE_BYTES) name = utf8(await reader.bytes(f.valueStart, f.end - f.valueStart));
  }
  return { dims, dataType, ...(name !== undefined ? { name } : {}) };
}

function* fieldsOfPacked(bytes: Uint8Array): Generator<number> {
  let pos = 0;
  while (pos < bytes.length) {
    const [value, next] = readVarint(bytes, pos);
    yield value;
    pos = next;
  }
}

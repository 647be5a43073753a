/**
 * One ONNX graph quantized in place: which weights become MatMulNBits (q4) or int8
 * DequantizeLinear, which stay float32 and why. Every form chosen has a kernel on ONNX Runtime's
 * WebGPU provider, so nothing a weight feeds falls back to the CPU: no QLinearConv, ConvInteger or
 * MatMulInteger, and no Transpose or Cast left on a weight (a MatMul's [K, N] weight is transposed
 * here into MatMulNBits' [N, K]).
 */
import {
  DataType,
  ExternalDataWriter,
  EXTERNAL_MIN_BYTES,
  byteLength,
  bytesOf,
  elementCount,
  floatValues,
  makeTensor,
  onnx,
  tensorBytes,
  toNumber,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-file.ts';
import { dequantizeQ4, dequantizeQ8, quantizeQ4, quantizeQ8, transpose2d } from './weights.ts';

export type QuantizeMode = 'q8' | 'q4';

export interface GraphQuantizeOptions {
  readonly mode: QuantizeMode;
  /** q4 block length along K (a power of two >= 16). */
  readonly blockSize: number;
}

export interface QuantizedWeight {
  readonly name: string;
  /** The node it feeds and that node's op before quantization. */
  readonly node: string;
  readonly op: string;
  readonly form: 'MatMulNBits' | 'DequantizeLinear int8';
  readonly shape: readonly number[];
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** q4: whether the blocks carry zero points (kept where they cut the error, see weights.ts). */
  readonly zeroPoints?: boolean;
  /** Root-mean-square error of the dequantized weight over the weight's own RMS. */
  readonly relativeRmsError: number;
}

export interface LeftWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly reason: string;
}

export interface UnsupportedNode {
  readonly node: string;
  readonly op: string;
  readonly reason: string;
}

export interface GraphReport {
  readonly quantized: QuantizedWeight[];
  /** Float initializers of EXTERNAL_MIN_BYTES or more left as float32, each with its reason. */
  readonly left: LeftWeight[];
  /** The smaller float initializers, all left as they are. */
  readonly smallLeft: { readonly count: number; readonly bytes: number };
  /** Nodes that hold or reach a weight in a form the quantizer does not rewrite; left as they are. */
  readonly unsupported: UnsupportedNode[];
  readonly weightBytesBefore: number;
  readonly weightBytesAfter: number;
}

/** Weights smaller than this gain nothing worth an extra node. */
const MIN_QUANTIZED_ELEMENTS = 1024;
/** Already quantized for ONNX Runtime's CPU kernels: no WebGPU kernel, so weights would stay in the wasm heap. */
const CPU_QUANTIZED_OPS = new Set(['QLinearConv', 'ConvInteger', 'MatMulInteger', 'QLinearMatMul', 'DynamicQuantizeLinear']);
const NORM_OPS = new Set([
  'LayerNormalization',
  'InstanceNormalization',
  'BatchNormalization',
  'GroupNormalization',
  'SimplifiedLayerNormalization',
  'SkipLayerNormalization',
]);
const MICROSOFT = 'com.microsoft';

const attribute = (node: NodeProto, name: string) => node.attribute?.find((a) => a.name === name);
const intAttribute = (node: NodeProto, name: string, fallback: number): number => {
  const a = attribute(node, name);
  return a === undefined ? fallback : toNumber(a.i);
};
const floatAttribute = (node: NodeProto, name: string, fallback: number): number => attribute(node, name)?.f ?? fallback;
const intAttr = (name: string, i: number) => onnx.AttributeProto.create({ name, i, type: onnx.AttributeProto.AttributeType.INT });

/**
 * Quantizes `model`'s graph in place and moves every initializer of EXTERNAL_MIN_BYTES or more
 * into `writer`'s shards: quantized weights as they are made, the rest after, one at a time.
 * @param modelDir the folder the input's external-data locations are relative to
 * @throws QuantizeError 'bad-external-data' when an input weight cannot be read
 */
export function quantizeGraph(model: ModelProto, modelDir: string, writer: ExternalDataWriter, options: GraphQuantizeOptions): GraphReport {
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const consumers = new Map<string, NodeProto[]>();
  for (const node of nodes) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const producers = new Map<string, NodeProto>();
  for (const node of nodes) for (const output of node.output ?? []) producers.set(output, node);
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name));
  const convs = nodes.filter((n) => n.opType === 'Conv');
  const edgeConvs = new Map<NodeProto, string>();
  if (convs.length > 0) {
    edgeConvs.set(convs[0]!, 'the first convolution (it reads the input directly; kept float32 for quality)');
    edgeConvs.set(convs[convs.length - 1]!, 'the last convolution (it writes the output directly; kept float32 for quality)');
  }

  const quantized: QuantizedWeight[] = [];
  const unsupported: UnsupportedNode[] = [];
  const reasons = new Map<string, string>();
  const removed = new Set<string>();
  const added: TensorProto[] = [];
  const rewritten: NodeProto[] = [];

  const addTensor = (name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): number => {
    const tensor = makeTensor(name, dataType, dims, data);
    writer.place(tensor, bytesOf(data));
    added.push(tensor);
    return data.byteLength;
  };

  /** The weight at `node.input[index]` when it can be quantized, else why not (recorded for the report). */
  const weightAt = (node: NodeProto, index: number, rank: number[]): TensorProto | undefined => {
    const name = node.input?.[index] ?? '';
    const tensor = initializers.get(name);
    const op = node.opType ?? '';
    if (tensor === undefined) {
      const producer = producers.get(name);
      if (producer !== undefined && ['Transpose', 'Cast', 'Constant', 'Reshape'].includes(producer.opType ?? '') && reachesConstant(producer)) {
        unsupported.push({
          node: node.name ?? '',
          op,
          reason: `its weight "${name}" comes through ${producer.opType}; left as is (ONNX Runtime would fold it into a new float32 copy)`,
        });
      }
      return undefined;
    }
    const why = (reason: string): undefined => {
      reasons.set(name, reason);
      return undefined;
    };
    if (tensor.dataType === DataType.FLOAT16) {
      unsupported.push({ node: node.name ?? '', op, reason: `its weight "${name}" is float16; only float32 weights are quantized` });
      return undefined;
    }
    if (tensor.dataType !== DataType.FLOAT) return why(`${op} weight of data type ${tensor.dataType}, not float32`);
    if (!rank.includes(tensor.dims?.length ?? 0)) return why(`${op} weight of rank ${tensor.dims?.length}, not ${rank.join(' or ')}`);
    if (graphInputs.has(name)) return why(`${op} weight that is also a graph input (a caller may override it)`);
    const users = consumers.get(name) ?? [];
    if (users.length > 1) return why(`${op} weight shared by ${users.length} nodes`);
    if (elementCount(tensor) < MIN_QUANTIZED_ELEMENTS) return why(`${op} weight of ${elementCount(tensor)} values: too small to gain from quantizing`);
    return tensor;
  };

  const reachesConstant = (node: NodeProto): boolean => node.opType === 'Constant' || initializers.has(node.input?.[0] ?? '');

  const toQ8 = (node: NodeProto, weight: TensorProto, axis: number): NodeProto => {
    const name = weight.name!;
    const dims = (weight.dims ?? []).map(toNumber);
    const values = floatValues(weight, modelDir);
    const q = quantizeQ8(values, dims, axis);
    const bytesAfter = addTensor(`${name}.int8`, DataType.INT8, dims, q.values) + addTensor(`${name}.scale`, DataType.FLOAT, [q.scales.length], q.scales);
    quantized.push({
      name,
      node: node.name ?? '',
      op: node.opType ?? '',
      form: 'DequantizeLinear int8',
      shape: dims,
      bytesBefore: values.byteLength,
      bytesAfter,
      relativeRmsError: relativeRms(values, dequantizeQ8(q, dims)),
    });
    removed.add(name);
    return onnx.NodeProto.create({
      name: `${node.name}.dequantize`,
      opType: 'DequantizeLinear',
      input: [`${name}.int8`, `${name}.scale`],
      output: [name],
      attribute: [intAttr('axis', axis)],
    });
  };

  /** `weight` as MatMulNBits' B: [N, K] when `transposed` (Gemm's transB), else a MatMul's [K, N]. */
  const toQ4 = (node: NodeProto, weight: TensorProto, transposed: boolean, output: string): NodeProto => {
    const name = weight.name!;
    const dims = (weight.dims ?? []).map(toNumber);
    const [n, k] = transposed ? [dims[0]!, dims[1]!] : [dims[1]!, dims[0]!];
    const values = floatValues(weight, modelDir);
    const rows = transposed ? values : transpose2d(values, k, n);
    const q = quantizeQ4(rows, n, k, options.blockSize);
    const kBlocks = Math.ceil(k / options.blockSize);
    let bytesAfter =
      addTensor(`${name}.q4`, DataType.UINT8, [n, kBlocks, options.blockSize / 2], q.codes) +
      addTensor(`${name}.scales`, DataType.FLOAT, [q.scales.length], q.scales);
    if (q.zeroPoints !== undefined) bytesAfter += addTensor(`${name}.zero_points`, DataType.UINT8, [q.zeroPoints.length], q.zeroPoints);
    quantized.push({
      name,
      node: node.name ?? '',
      op: node.opType ?? '',
      form: 'MatMulNBits',
      shape: dims,
      bytesBefore: values.byteLength,
      bytesAfter,
      zeroPoints: q.zeroPoints !== undefined,
      relativeRmsError: relativeRms(rows, dequantizeQ4(q)),
    });
    removed.add(name);
    return onnx.NodeProto.create({
      name: `${node.name}.q4`,
      opType: 'MatMulNBits',
      domain: MICROSOFT,
      input: [node.input![0]!, `${name}.q4`, `${name}.scales`, ...(q.zeroPoints !== undefined ? [`${name}.zero_points`] : [])],
      output: [output],
      attribute: [intAttr('K', k), intAttr('N', n), intAttr('bits', 4), intAttr('block_size', options.blockSize)],
    });
  };

  for (const node of nodes) {
    const op = node.opType ?? '';
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') {
      rewritten.push(node);
      continue;
    }
    if (CPU_QUANTIZED_OPS.has(op)) {
      unsupported.push({ node: node.name ?? '', op, reason: 'already quantized for the CPU (no WebGPU kernel): left as is' });
      rewritten.push(node);
      continue;
    }
    if (op === 'Conv') {
      const edge = edgeConvs.get(node);
      if (edge !== undefined && initializers.has(node.input?.[1] ?? '')) {
        reasons.set(node.input![1]!, edge);
        rewritten.push(node);
        continue;
      }
      const weight = weightAt(node, 1, [3, 4, 5]);
      if (weight !== undefined) rewritten.push(toQ8(node, weight, 0));
      rewritten.push(node);
      continue;
    }
    if (op === 'MatMul') {
      const weight = weightAt(node, 1, [2]);
      if (weight === undefined) rewritten.push(node);
      else if (options.mode === 'q4') rewritten.push(toQ4(node, weight, false, node.output![0]!));
      else rewritten.push(toQ8(node, weight, 1), node);
      continue;
    }
    if (op === 'Gemm') {
      const plain = intAttribute(node, 'transA', 0) === 0 && floatAttribute(node, 'alpha', 1) === 1 && floatAttribute(node, 'beta', 1) === 1;
      if (!plain) {
        const name = node.input?.[1] ?? '';
        if (initializers.has(name)) reasons.set(name, 'Gemm weight with transA, alpha or beta other than the defaults');
        rewritten.push(node);
        continue;
      }
      const weight = weightAt(node, 1, [2]);
      const transB = intAttribute(node, 'transB', 0) === 1;
      if (weight === undefined) rewritten.push(node);
      else if (options.mode === 'q8') rewritten.push(toQ8(node, weight, transB ? 0 : 1), node);
      else {
        const bias = node.input?.[2];
        const output = node.output![0]!;
        if (bias === undefined || bias === '') rewritten.push(toQ4(node, weight, transB, output));
        else {
          rewritten.push(toQ4(node, weight, transB, `${output}.product`));
          rewritten.push(onnx.NodeProto.create({ name: `${node.name}.bias`, opType: 'Add', input: [`${output}.product`, bias], output: [output] }));
        }
      }
      continue;
    }
    if (op === 'ConvTranspose' && initializers.has(node.input?.[1] ?? '')) {
      unsupported.push({ node: node.name ?? '', op, reason: 'ConvTranspose weights are not quantized: left float32' });
    }
    rewritten.push(node);
  }

  // What stays: the originals nothing consumes any more go; the rest move out one at a time.
  const kept: TensorProto[] = [];
  const left: LeftWeight[] = [];
  const smallLeft = { count: 0, bytes: 0 };
  let keptBytes = 0;
  for (const tensor of graph.initializer ?? []) {
    const name = tensor.name ?? '';
    if (removed.has(name)) continue;
    const bytes = tensorBytes(tensor, modelDir);
    if (bytes !== undefined) writer.place(tensor, bytes);
    kept.push(tensor);
    if (tensor.dataType !== DataType.FLOAT) continue;
    const size = byteLength(tensor) ?? 0;
    keptBytes += size;
    if (size < EXTERNAL_MIN_BYTES) {
      smallLeft.count++;
      smallLeft.bytes += size;
    } else {
      left.push({ name, shape: (tensor.dims ?? []).map(toNumber), bytes: size, reason: reasons.get(name) ?? roleOf(name, consumers.get(name) ?? []) });
    }
  }
  graph.initializer = [...kept, ...added];
  graph.node = rewritten;
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !removed.has(v.name ?? '') || rewritten.some((n) => n.output?.includes(v.name ?? '')));
  if (rewritten.some((n) => n.domain === MICROSOFT) && !(model.opsetImport ?? []).some((o) => o.domain === MICROSOFT)) {
    model.opsetImport = [...(model.opsetImport ?? []), onnx.OperatorSetIdProto.create({ domain: MICROSOFT, version: 1 })];
  }
  const quantizedBefore = quantized.reduce((sum, q) => sum + q.bytesBefore, 0);
  const quantizedAfter = quantized.reduce((sum, q) => sum + q.bytesAfter, 0);
  return {
    quantized,
    left,
    smallLeft,
    unsupported,
    weightBytesBefore: keptBytes + quantizedBefore,
    weightBytesAfter: keptBytes + quantizedAfter,
  };
}

/** Why a float initializer that no quantizable weight slot holds stays float32: what it feeds. */
function roleOf(name: string, users: readonly NodeProto[]): string {
  const ops = [...new Set(users.map((n) => n.opType ?? ''))];
  if (ops.some((op) => NORM_OPS.has(op))) return 'normalization parameter (kept float32 for accuracy)';
  if (ops.includes('Gather')) return 'embedding table read by Gather (kept float32: no gather of quantized rows here)';
  if (users.some((n) => ['Conv', 'Gemm'].includes(n.opType ?? '') && n.input?.[2] === name)) return `${users[0]!.opType} bias (kept float32 for accuracy)`;
  if (ops.every((op) => ['Add', 'Sub', 'Mul', 'Div'].includes(op))) return `elementwise ${ops.join('/')} operand, bias or scale (kept float32 for accuracy)`;
  return `not a MatMul, Gemm or Conv weight (feeds ${ops.join(', ') || 'no node'})`;
}

function relativeRms(original: Float32Array, restored: Float32Array): number {
  let error = 0;
  let energy = 0;
  for (let i = 0; i < original.length; i++) {
    error += (original[i]! - restored[i]!) ** 2;
    energy += original[i]! ** 2;
  }
  return energy > 0 ? Math.sqrt(error / energy) : 0;
}

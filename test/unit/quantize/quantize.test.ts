/**
 * The quantizer (scripts/quantize/): its arithmetic against its own error bounds, the bundled
 * quantized models reproduced byte for byte from tiny-shapes, the graphs' contracts unchanged,
 * weights that reach only WebGPU-friendly ops, sharded external data, and the errors bad input
 * gets.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gaussianNoise } from '../../../src/pipeline/prng.ts';
import { REPO_ROOT } from '../../../scripts/lib/browser.ts';
import { QuantizeError } from '../../../scripts/quantize/errors.ts';
import { quantizeModel, quantizeOnnxFile } from '../../../scripts/quantize/model-folder.ts';
import { DataType, decodeModel, floatValues, onnx, tensorBytes, toNumber, type ModelProto, type TensorProto } from '../../../scripts/quantize/onnx-file.ts';
import { dequantizeQ4, dequantizeQ8, quantizeQ4, quantizeQ8, transpose2d } from '../../../scripts/quantize/weights.ts';

const MODELS = path.join(REPO_ROOT, 'models');
const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'webdiffusion-quantize-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every element within `boundOf(i)` of the original, give or take float32 rounding. */
function expectWithin(original: Float32Array, restored: Float32Array, boundOf: (i: number) => number): void {
  let worst = -Infinity;
  for (let i = 0; i < original.length; i++) {
    worst = Math.max(worst, Math.abs(original[i]! - restored[i]!) - boundOf(i) - 1e-6 * Math.abs(original[i]!));
  }
  expect(worst).toBeLessThanOrEqual(0);
}

/**
 * A q4 value's error bound: half a step with zero points (the grid spans the block's range);
 * one step without, where the largest magnitude sits on code -8 and the far end may clamp at +7.
 */
const q4Bound = (scales: Float32Array, withZeroPoints: boolean, k: number, block: number) => {
  const kBlocks = Math.ceil(k / block);
  return (i: number) => Math.abs(scales[Math.floor(i / k) * kBlocks + Math.floor((i % k) / block)]!) * (withZeroPoints ? 0.5 : 1);
};

describe('weight arithmetic', () => {
  it('q4: every value within half a step of its block with zero points, one step without', () => {
    // Weights centred on 0 (no zero points pay) and shifted ones (they do), K not a multiple of the block.
    const [n, k, block] = [24, 72, 32];
    const centred = gaussianNoise(7, n * k);
    const shifted = centred.map((v, i) => v * 0.02 + (i % k < 36 ? 0.05 : -0.01));
    for (const weight of [centred, shifted]) {
      const q = quantizeQ4(weight, n, k, block);
      const kBlocks = Math.ceil(k / block);
      expect(q.codes.length).toBe(n * kBlocks * (block / 2));
      expect(q.scales.length).toBe(n * kBlocks);
      expectWithin(weight, dequantizeQ4(q), q4Bound(q.scales, q.zeroPoints !== undefined, k, block));
    }
    expect(quantizeQ4(centred, n, k, block).zeroPoints).toBeUndefined();
    expect(quantizeQ4(shifted, n, k, block).zeroPoints).toHaveLength(n * Math.ceil(Math.ceil(k / block) / 2));
  });

  it('q4: an all-zero block stays zero', () => {
    const q = quantizeQ4(new Float32Array(64), 2, 32, 32);
    expect([...dequantizeQ4(q)].every((v) => v === 0)).toBe(true);
  });

  it('q8: every value within half a step of its output channel, along axis 0 and axis 1', () => {
    const dims = [16, 8, 3, 3];
    const conv = gaussianNoise(3, 16 * 8 * 9).map((v, i) => v * (1 + Math.floor(i / 72)));
    const q = quantizeQ8(conv, dims, 0);
    expect(q.scales).toHaveLength(16);
    expectWithin(conv, dequantizeQ8(q, dims), (i) => q.scales[Math.floor(i / 72)]! / 2);
    const matmul = gaussianNoise(4, 40 * 12);
    const m = quantizeQ8(matmul, [40, 12], 1);
    expect(m.scales).toHaveLength(12);
    expectWithin(matmul, dequantizeQ8(m, [40, 12]), (i) => m.scales[i % 12]! / 2);
  });

  it('transposes [K, N] to [N, K]', () => {
    expect([...transpose2d(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)]).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

const load = (file: string): ModelProto => decodeModel(readFileSync(file), file);
const initializerMap = (model: ModelProto) => new Map((model.graph!.initializer ?? []).map((t) => [t.name!, t]));
const signature = (model: ModelProto) =>
  [...(model.graph!.input ?? []), ...(model.graph!.output ?? [])].map((v) => ({
    name: v.name,
    type: v.type?.tensorType?.elemType,
    shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || toNumber(d.dimValue)),
  }));

function filesUnder(root: string, prefix = ''): string[] {
  return readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(root, path.join(prefix, entry.name)) : [path.join(prefix, entry.name)],
  );
}

describe.each(['q8', 'q4'] as const)('tiny-shapes-%s', (mode) => {
  const shipped = path.join(MODELS, `tiny-shapes-${mode}`);

  it('is what the quantizer writes from tiny-shapes, byte for byte', async () => {
    const out = path.join(dir, `again-${mode}`);
    await quantizeModel(path.join(MODELS, 'tiny-shapes'), out, { mode });
    const written = filesUnder(out).sort();
    expect(written).toEqual(
      filesUnder(shipped)
        .filter((f) => f !== 'README.md')
        .sort(),
    );
    for (const file of written) expect(readFileSync(path.join(out, file)).equals(readFileSync(path.join(shipped, file))), file).toBe(true);
  });

  it.each(COMPONENTS)('%s keeps its inputs and outputs (names, types, shapes), and its weights reach only WebGPU kernels', (component) => {
    const original = load(path.join(MODELS, 'tiny-shapes', component, 'model.onnx'));
    const quantized = load(path.join(shipped, component, 'model.onnx'));
    expect(signature(quantized)).toEqual(signature(original));
    const inits = initializerMap(quantized);
    for (const node of quantized.graph!.node ?? []) {
      expect(['QLinearConv', 'ConvInteger', 'MatMulInteger']).not.toContain(node.opType);
      // No Transpose or Cast on a weight for ONNX Runtime to fold into a new float32 copy.
      if (node.opType === 'Transpose' || node.opType === 'Cast') expect(inits.has(node.input![0]!), node.name!).toBe(false);
      if (node.opType === 'MatMul' || node.opType === 'Gemm') {
        // Every MatMul or Gemm weight is quantized: q4 leaves no float one, q8 feeds it through DequantizeLinear.
        expect(inits.get(node.input![1]!)?.dataType, node.name!).not.toBe(DataType.FLOAT);
        if (mode === 'q4') expect(inits.has(node.input![1]!), node.name!).toBe(false);
      }
    }
  });

  it('unet: dequantized weights are within their bound of the originals, per block (q4) or channel (int8, half a step)', () => {
    const unetDir = path.join(MODELS, 'tiny-shapes', 'unet');
    const originalModel = load(path.join(unetDir, 'model.onnx'));
    const originals = initializerMap(originalModel);
    // MatMulNBits takes [N, K]: Gemm's transB weight as it is, a MatMul's [K, N] transposed.
    const laidOutNK = (name: string) =>
      (originalModel.graph!.node ?? []).some(
        (n) => n.opType === 'Gemm' && n.input![1] === name && n.attribute!.some((a) => a.name === 'transB' && toNumber(a.i) === 1),
      );
    const quantizedDir = path.join(shipped, 'unet');
    const quantized = load(path.join(quantizedDir, 'model.onnx'));
    const inits = initializerMap(quantized);
    const read = (name: string): TensorProto => inits.get(name)!;
    const bytes = (name: string) => tensorBytes(read(name), quantizedDir)!;
    let checked = 0;
    for (const node of quantized.graph!.node ?? []) {
      if (node.opType === 'MatMulNBits') {
        const attr = (name: string) => toNumber(node.attribute!.find((a) => a.name === name)!.i);
        const [k, n, block] = [attr('K'), attr('N'), attr('block_size')];
        const name = node.input![1]!.replace(/\.q4$/, '');
        const original = floatValues(originals.get(name)!, unetDir);
        const rows = laidOutNK(name) ? original : transpose2d(original, k, n);
        const scales = floatValues(read(node.input![2]!), quantizedDir);
        const zeroPoints = node.input![3] !== undefined ? bytes(node.input![3]) : undefined;
        const restored = dequantizeQ4({ n, k, blockSize: block, codes: bytes(node.input![1]!), scales, ...(zeroPoints ? { zeroPoints } : {}) });
        expectWithin(rows, restored, q4Bound(scales, zeroPoints !== undefined, k, block));
        checked++;
      }
      if (node.opType === 'DequantizeLinear') {
        const name = node.output![0]!;
        const dims = originals.get(name)!.dims!.map(toNumber);
        const axis = toNumber(node.attribute!.find((a) => a.name === 'axis')!.i);
        const q = { values: new Int8Array(bytes(node.input![0]!).slice().buffer), scales: floatValues(read(node.input![1]!), quantizedDir), axis };
        const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        expectWithin(floatValues(originals.get(name)!, unetDir), dequantizeQ8(q, dims), (i) => q.scales[Math.floor(i / inner) % dims[axis]!]! / 2);
        checked++;
      }
    }
    // 43 MatMul/Gemm and 17 convolution weights (all but the first and last convolution).
    expect(checked).toBe(60);
  });
});

describe('external data', () => {
  it('is sharded at the limit asked for, each tensor whole in one shard, and reads back equal', async () => {
    const input = path.join(MODELS, 'tiny-shapes', 'unet', 'model.onnx');
    const out = path.join(dir, 'sharded', 'model.onnx');
    await mkdir(path.dirname(out), { recursive: true });
    const { externalData } = await quantizeOnnxFile(input, out, { mode: 'q8', maxShardBytes: 512 * 1024 });
    expect(externalData.length).toBeGreaterThanOrEqual(5);
    expect(externalData[0]).toBe('model.onnx_data');
    for (const shard of externalData) expect(statSync(path.join(path.dirname(out), shard)).size).toBeLessThanOrEqual(512 * 1024);
    const sharded = initializerMap(load(out));
    const single = initializerMap(load(path.join(MODELS, 'tiny-shapes-q8', 'unet', 'model.onnx')));
    expect([...sharded.keys()]).toEqual([...single.keys()]);
    for (const [name, tensor] of sharded) {
      const a = tensorBytes(tensor, path.dirname(out))!;
      const b = tensorBytes(single.get(name)!, path.join(MODELS, 'tiny-shapes-q8', 'unet'))!;
      expect(Buffer.from(a).equals(Buffer.from(b)), name).toBe(true);
    }
  });
});

/** A model of two nodes the quantizer must leave as they are: a MatMulInteger, and a MatMul whose weight goes through Transpose. */
function unquantizableModel(): Uint8Array {
  const weight = (name: string, dataType: number, data: ArrayBufferView) =>
    onnx.TensorProto.create({ name, dataType, dims: [64, 64], rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  const info = (name: string, elemType: number) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: [{ dimValue: 4 }, { dimValue: 64 }] } } } });
  const graph = onnx.GraphProto.create({
    name: 'unquantizable',
    node: [
      onnx.NodeProto.create({ name: 'integer', opType: 'MatMulInteger', input: ['a', 'w_int'], output: ['y_int'] }),
      onnx.NodeProto.create({ name: 'flip', opType: 'Transpose', input: ['w'], output: ['w_t'] }),
      onnx.NodeProto.create({ name: 'product', opType: 'MatMul', input: ['x', 'w_t'], output: ['y'] }),
    ],
    initializer: [weight('w_int', DataType.UINT8, new Uint8Array(64 * 64)), weight('w', DataType.FLOAT, gaussianNoise(1, 64 * 64))],
    input: [info('a', DataType.UINT8), info('x', DataType.FLOAT)],
    output: [info('y_int', DataType.INT32), info('y', DataType.FLOAT)],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, graph, opsetImport: [{ domain: '', version: 17 }] })).finish();
}

describe('bad input', () => {
  const rejects = async (work: Promise<unknown>, code: string, message: RegExp) => {
    const error = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QuantizeError);
    expect((error as QuantizeError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
  };

  it('a file that is not ONNX', async () => {
    const file = path.join(dir, 'notes.onnx');
    await writeFile(file, 'these are notes, not a model\n');
    await rejects(quantizeModel(file, path.join(dir, 'out-notes'), { mode: 'q4' }), 'not-onnx', /notes\.onnx is not an ONNX model/);
  });

  it('a path with nothing there, and a folder without a manifest', async () => {
    await rejects(quantizeModel(path.join(dir, 'missing'), path.join(dir, 'out-missing'), { mode: 'q8' }), 'bad-input', /no such file or folder/);
    await mkdir(path.join(dir, 'empty'), { recursive: true });
    await rejects(quantizeModel(path.join(dir, 'empty'), path.join(dir, 'out-empty'), { mode: 'q8' }), 'bad-input', /needs a manifest\.json/);
  });

  it('an output folder that exists: refused without force, replaced with it, never the input itself', async () => {
    const out = path.join(dir, 'exists');
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'keep.txt'), 'mine');
    const input = path.join(MODELS, 'tiny-shapes', 'vae_decoder', 'model.onnx');
    await rejects(quantizeModel(input, out, { mode: 'q8' }), 'output-exists', /exists; choose another --out, or give --force/);
    expect(readFileSync(path.join(out, 'keep.txt'), 'utf8')).toBe('mine');
    await quantizeModel(input, out, { mode: 'q8', force: true });
    expect(existsSync(path.join(out, 'keep.txt'))).toBe(false);
    expect(existsSync(path.join(out, 'model.onnx'))).toBe(true);
    await rejects(quantizeModel(path.join(MODELS, 'tiny-shapes'), MODELS, { mode: 'q8', force: true }), 'output-exists', /holds the input model/);
  });

  it('ops it cannot quantize are left as they are and listed', async () => {
    const file = path.join(dir, 'unquantizable.onnx');
    await writeFile(file, unquantizableModel());
    const report = await quantizeModel(file, path.join(dir, 'out-unquantizable'), { mode: 'q4' });
    const { unsupported, quantized } = report.components.unquantizable!;
    expect(quantized).toEqual([]);
    expect(unsupported).toEqual([
      expect.objectContaining({ node: 'integer', op: 'MatMulInteger', reason: expect.stringMatching(/no WebGPU kernel/) }),
      expect.objectContaining({ node: 'product', op: 'MatMul', reason: expect.stringMatching(/comes through Transpose/) }),
    ]);
    const written = load(path.join(dir, 'out-unquantizable', 'unquantizable.onnx'));
    expect(written.graph!.node!.map((n) => n.opType)).toEqual(['MatMulInteger', 'Transpose', 'MatMul']);
  });

  it('the command line: exit 2 for usage, 1 with the code for a model it cannot read', async () => {
    const run = (args: string[]) =>
      new Promise<{ status: number; stderr: string }>((resolve) =>
        execFile(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [path.join(REPO_ROOT, 'scripts/quantize.ts'), ...args], (error, _stdout, stderr) =>
          resolve({ status: error === null ? 0 : Number(error.code), stderr }),
        ),
      );
    const usage = await run([path.join(MODELS, 'tiny-shapes'), '--to', 'q3', '--out', path.join(dir, 'cli')]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/error: USAGE: --to must be q8 or q4, got q3/);
    const notOnnx = await run([path.join(dir, 'notes.onnx'), '--to', 'q8', '--out', path.join(dir, 'cli')]);
    expect(notOnnx.status).toBe(1);
    expect(notOnnx.stderr).toMatch(/error: not-onnx: .*is not an ONNX model/);
  }, 60_000);
});

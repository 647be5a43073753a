/**
 * LoRA files read in both layouts, matched to the real tiny-shapes graphs (fp32, q8, q4), and
 * the branch inputs: x A B must equal the sum of the LoRAs' scaled x downᵀ upᵀ.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { writeModel, type Attribute } from '../../../scripts/lib/onnx-writer.ts';
import { LoraError } from '../../../src/errors.ts';
import { branchFeeds, matchLora } from '../../../src/lora/lora-feeds.ts';
import { readLora } from '../../../src/lora/lora-file.ts';
import { addLoraBranches, modulePath, type LoraTarget } from '../../../src/lora/lora-graph.ts';
import { parseSafetensors } from '../../../src/lora/safetensors.ts';
import { safetensorsOf } from './safetensors-bytes.ts';

const graph = async (path: string) => addLoraBranches(new Blob([readFileSync(path)]));
const ramp = (n: number, k = 1): number[] => Array.from({ length: n }, (_, i) => ((i * 7 + k) % 11) / 10 - 0.5);

describe('module paths from node names', () => {
  it('reads torch.onnx.export scopes', () => {
    expect(modulePath('/a1/mlp/mlp.0/MatMul')).toBe('a1.mlp.0');
    expect(modulePath('/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul')).toBe('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q');
    expect(modulePath('/a1/qkv/MatMul.q4')).toBe('a1.qkv');
    expect(modulePath('MatMul_12')).toBe('');
  });
});

describe('the LoRA rewrite of the tiny-shapes graphs', () => {
  it('finds the same attention targets in fp32, q8 and q4, from their float, DequantizeLinear and MatMulNBits weights', async () => {
    const attention = (targets: readonly LoraTarget[]) =>
      targets.filter((t) => /^(a1|a2|am|b1|b2)\./.test(t.module)).map((t) => `${t.module} ${t.inFeatures}x${t.outFeatures}`);
    const fp32 = await graph('models/tiny-shapes/unet/model.onnx');
    const q8 = await graph('models/tiny-shapes-q8/unet/model.onnx');
    const q4 = await graph('models/tiny-shapes-q4/unet/model.onnx');
    expect(attention(fp32.targets)).toHaveLength(35);
    expect(attention(q8.targets)).toEqual(attention(fp32.targets));
    expect(attention(q4.targets)).toEqual(attention(fp32.targets));
    expect(new Set(fp32.targets.map((t) => t.weight))).toEqual(new Set(['float']));
    expect(q8.targets.find((t) => t.module === 'a1.qkv')?.weight).toBe('DequantizeLinear');
    expect(q4.targets.find((t) => t.module === 'a1.qkv')?.weight).toBe('MatMulNBits');
    // The time embedding and each resnet's time projection: Gemm in fp32 and q8, MatMulNBits in q4.
    const all = (targets: readonly LoraTarget[]) => targets.map((t) => `${t.module} ${t.inFeatures}x${t.outFeatures}`).sort();
    expect(all(fp32.targets)).toHaveLength(43);
    expect(all(fp32.targets)).toContain('time.0 64x256');
    expect(all(fp32.targets)).toContain('d1.t 256x64');
    expect(all(q8.targets)).toEqual(all(fp32.targets));
    expect(all(q4.targets)).toEqual(all(fp32.targets));
    // The weights travel as slices of the original: the file grows by the few new nodes and inputs only.
    const size = readFileSync('models/tiny-shapes/unet/model.onnx').length;
    expect(fp32.model.size - size).toBeGreaterThan(0);
    expect(fp32.model.size - size).toBeLessThan(40_000);
    const text = await graph('models/tiny-shapes/text_encoder/model.onnx');
    expect(text.targets.map((t) => t.module)).toEqual([
      'layers.0.qkv',
      'layers.0.proj',
      'layers.0.mlp.0',
      'layers.0.mlp.2',
      'layers.1.qkv',
      'layers.1.proj',
      'layers.1.mlp.0',
      'layers.1.mlp.2',
    ]);
  });
});

describe('Gemm targets (what torch exports for a Linear on a 2-D input: time embeddings, time_emb_proj)', () => {
  /** x [2, 4] → Gemm(x, W [3, 4], c [3]) named as torch names a module's node. */
  const gemm = (attributes: readonly Attribute[]) =>
    writeModel({
      name: 'gemm',
      inputs: [{ name: 'x', type: 'float32', shape: [2, 4] }],
      outputs: [{ name: 'y', type: 'float32', shape: [2, 3] }],
      nodes: [{ op: 'Gemm', name: '/time_embedding/linear_1/Gemm', inputs: ['x', 'w', 'c'], outputs: ['y'], attributes }],
      initializers: [
        { name: 'w', type: 'float32', dims: [3, 4], values: Float32Array.from({ length: 12 }, (_, i) => i + 1) },
        { name: 'c', type: 'float32', dims: [3], values: new Float32Array([0.5, -1, 2]) },
      ],
    }).model as Uint8Array<ArrayBuffer>;

  it('gets a branch: y = x Wᵀ + c + x A B, run by ONNX Runtime', async () => {
    const rewritten = await addLoraBranches(
      new Blob([
        gemm([
          { name: 'transB', int: 1 },
          { name: 'alpha', float: 1 },
        ]),
      ]),
    );
    expect(rewritten.targets.map((t) => `${t.module} ${t.inFeatures}x${t.outFeatures} ${t.weight}`)).toEqual(['time_embedding.linear_1 4x3 float']);
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(new Uint8Array(await rewritten.model.arrayBuffer()));
    const run = async (a: number[], b: number[]) =>
      Array.from(
        (
          await session.run({
            x: new ort.Tensor('float32', new Float32Array([1, 0, 0, 0, 0, 1, 1, 0]), [2, 4]),
            'lora:time_embedding.linear_1:A': new ort.Tensor('float32', new Float32Array(a), [4, 1]),
            'lora:time_embedding.linear_1:B': new ort.Tensor('float32', new Float32Array(b), [1, 3]),
          })
        ).y!.data as Float32Array,
      );
    // x W^T + c: [1, 5, 9] + c and [2+3, 6+7, 10+11] + c; the branch adds x A = [1, 0] times B.
    expect(await run([0, 0, 0, 0], [10, 20, 30])).toEqual([1.5, 4, 11, 5.5, 12, 23]);
    expect(await run([1, 0, 0, 0], [10, 20, 30])).toEqual([11.5, 24, 41, 5.5, 12, 23]);
    await session.release();
  });

  it('reads the weight untransposed without transB, and leaves a Gemm with alpha ≠ 1 or a transposed x alone', async () => {
    const plain = await addLoraBranches(new Blob([gemm([])]));
    expect(plain.targets.map((t) => `${t.inFeatures}x${t.outFeatures}`)).toEqual(['3x4']);
    expect(
      (
        await addLoraBranches(
          new Blob([
            gemm([
              { name: 'transB', int: 1 },
              { name: 'alpha', float: 0.5 },
            ]),
          ]),
        )
      ).targets,
    ).toEqual([]);
    expect((await addLoraBranches(new Blob([gemm([{ name: 'transA', int: 1 }])]))).targets).toEqual([]);
  });
});

describe('reading and matching LoRA files', () => {
  const peft = (module: string, rows: number, cols: number, rank: number) => ({
    [`unet.${module}.lora_A.weight`]: { shape: [rank, cols], values: ramp(rank * cols) },
    [`unet.${module}.lora_B.weight`]: { shape: [rows, rank], values: ramp(rows * rank, 3) },
  });

  it("reads the diffusers/PEFT layout and kohya's with alpha", () => {
    const a = readLora(parseSafetensors(safetensorsOf(peft('a1.q', 64, 64, 4)), 'a'), 'a');
    expect(a).toMatchObject({
      layout: 'peft',
      rank: 4,
      modules: [{ component: 'unet', module: 'a1.q', kohya: false, rank: 4, inFeatures: 64, outFeatures: 64, scale: 1 }],
    });
    const kohya = safetensorsOf(
      {
        'lora_te_layers_0_qkv.lora_down.weight': { shape: [2, 64], values: ramp(128) },
        'lora_te_layers_0_qkv.lora_up.weight': { shape: [192, 2], values: ramp(384) },
        'lora_te_layers_0_qkv.alpha': { shape: [], values: [1] },
      },
      'F16',
    );
    expect(readLora(parseSafetensors(kohya, 'k'), 'k')).toMatchObject({
      layout: 'kohya',
      modules: [{ component: 'text_encoder', module: 'layers_0_qkv', kohya: true, rank: 2, scale: 0.5 }],
    });
  });

  it('gives typed errors naming the keys: no LoRA keys, keys matching nothing, shapes of another model', async () => {
    const targets = new Map([['unet', (await graph('models/tiny-shapes/unet/model.onnx')).targets]] as const);
    const error = (work: () => unknown): LoraError => {
      try {
        work();
      } catch (e) {
        expect(e).toBeInstanceOf(LoraError);
        return e as LoraError;
      }
      throw new Error('did not throw');
    };
    expect(error(() => readLora(parseSafetensors(safetensorsOf({ 'model.weight': { shape: [2], values: [1, 2] } }), 'x'), 'x')).details).toMatchObject({
      reason: 'unknown-keys',
      keys: ['model.weight'],
    });
    const sd = readLora(parseSafetensors(safetensorsOf(peft('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', 320, 320, 4)), 'sd'), 'sd');
    expect(error(() => matchLora(sd, targets, 'sd')).details).toMatchObject({
      reason: 'no-match',
      keys: ['unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q'],
    });
    const wide = readLora(parseSafetensors(safetensorsOf(peft('a1.q', 320, 320, 4)), 'wide'), 'wide');
    const mismatch = error(() => matchLora(wide, targets, 'wide'));
    expect(mismatch.details).toMatchObject({ reason: 'shape-mismatch' });
    expect(mismatch.message).toContain('unet.a1.q');
  });

  it('feeds branches whose product is the scaled sum of the LoRAs, ranks side by side', () => {
    const target: LoraTarget = { module: 'a1.q', inFeatures: 3, outFeatures: 2, dtype: 'float32', inputA: 'A', inputB: 'B', weight: 'float' };
    const targets = new Map([['unet', [target]]] as const);
    const one = matchLora(readLora(parseSafetensors(safetensorsOf(peft('a1.q', 2, 3, 2)), '1'), '1'), targets, '1');
    const two = matchLora(readLora(parseSafetensors(safetensorsOf(peft('a1.q', 2, 3, 1)), '2'), '2'), targets, '2');
    const feeds = branchFeeds(
      'unet',
      [target],
      [
        { lora: one, scale: 0.8 },
        { lora: two, scale: -0.5 },
      ],
    );
    expect(feeds.A!.dims).toEqual([3, 3]);
    expect(feeds.B!.dims).toEqual([3, 2]);
    const product = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number) =>
      Array.from({ length: n * m }, (_, idx) =>
        Array.from({ length: k }, (_, j) => a[Math.floor(idx / m) * k + j]! * b[j * m + (idx % m)]!).reduce((s, v) => s + v, 0),
      );
    // The delta weight W' - W, [in, out]: Σ scale · downᵀ upᵀ.
    const expected = new Array(6).fill(0);
    for (const [lora, scale] of [
      [one, 0.8],
      [two, -0.5],
    ] as const) {
      const m = lora.weights.modules[0]!;
      const downT = Array.from({ length: 3 * m.rank }, (_, i) => m.down[(i % m.rank) * 3 + Math.floor(i / m.rank)]!);
      const upT = Array.from({ length: m.rank * 2 }, (_, i) => m.up[(i % 2) * m.rank + Math.floor(i / 2)]!);
      product(downT, upT, 3, m.rank, 2).forEach((v, i) => (expected[i] += scale * v));
    }
    product(feeds.A!.data, feeds.B!.data, 3, 3, 2).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    const none = branchFeeds('unet', [target], []);
    expect(none.A!.dims).toEqual([3, 1]);
    expect(Array.from(none.B!.data).every((v) => v === 0)).toBe(true);
  });
});

describe('the lora attribute text', () => {
  it('reads "url:0.8, url2:0.5", a URL\'s own colons kept, scale 1 by default', async () => {
    const { parseLoraList, formatLoraList } = await import('../../../src/lora/lora-list.ts');
    const list = parseLoraList('https://host/pink.safetensors:0.8, /models/cyan/manifest.json , owner/repo/x.safetensors:-.5');
    expect(list).toEqual([
      { model: 'https://host/pink.safetensors', scale: 0.8 },
      { model: '/models/cyan/manifest.json', scale: 1 },
      { model: 'owner/repo/x.safetensors', scale: -0.5 },
    ]);
    expect(parseLoraList(formatLoraList(list))).toEqual(list);
    expect(parseLoraList('  ')).toEqual([]);
  });
});

/**
 * Stand-ins for the catalog's real models: small random-weight ONNX graphs with exactly the
 * input and output names, element types and dimensions (static sizes and symbolic names) that
 * each catalog entry records, plus the tokenizer files, at the paths the real repository has
 * them. Real weights cannot be fetched here, so the runtime's code paths for every real export
 * (float16 I/O, int64/float16 timesteps, static batch 2, SDXL's two encoders and extra UNet
 * inputs, LCM's guidance embedding and external data, the diffusion transformers' packed
 * patches, flow timesteps, FLUX's position ids and sharded external data) are proven on these.
 *
 * A stand-in is not a diffusion model: the UNet is a 1x1 convolution of the sample plus a
 * little of every other input, squashed by tanh (a transformer: a linear map of its tokens, the
 * same way); the decoder a 1x1 convolution upsampled 8x. They
 * make finite pictures of the right size and fail loudly on a wrong name, type or shape, which is
 * what the tests need.
 *
 *   npx tsx scripts/stand-ins.ts out/stand-ins        writes <repo>/resolve/<revision>/<path> for every entry
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATALOG } from '../src/models/catalog.ts';
import type { CatalogEntry, CatalogVariant, ComponentName, ComponentSpec, TensorSpec } from '../src/models/catalog.ts';
import { writeModel, type Dim, type ElementType, type Graph, type Initializer, type Node, type ValueInfo } from './lib/onnx-writer.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The stand-in files of one entry, by path relative to the repository's root. */
export interface StandIn {
  /** The entry as the tests load it: the source's base URL and the memory estimate replaced. */
  readonly entry: CatalogEntry;
  readonly variant: CatalogVariant;
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** The element type chosen for each tensor whose type the catalog does not know. */
  readonly guessedTypes: readonly string[];
}

/** Catalog entries with real exports (not the bundled model, which is itself real). */
export function standInEntries(catalog: readonly CatalogEntry[] = CATALOG): CatalogEntry[] {
  return catalog.filter((entry) => entry.source.kind === 'huggingface');
}

/**
 * The stand-in of `entry`'s first variant, to be served from `baseUrl` (where the real
 * repository's files would be, e.g. `<server>/<repo>/resolve/<revision>/`).
 */
export function buildStandIn(entry: CatalogEntry, baseUrl: string, options: { readonly nanDecoder?: boolean } = {}): StandIn {
  const variant = entry.variants[0]!;
  const guessed: string[] = [];
  const files = new Map<string, Uint8Array>();
  if (entry.tokenizer.format === 'clip') {
    const tokenizerDir = join(root, 'models/tiny-shapes/tokenizer');
    files.set(entry.tokenizer.vocab, readFileSync(join(tokenizerDir, 'vocab.json')));
    files.set(entry.tokenizer.merges, readFileSync(join(tokenizerDir, 'merges.txt')));
  } else {
    // A byte-level BPE tokenizer.json of the Qwen2 kind with the chat tokens, learnt here
    // (test/support/byte_level_bpe.py).
    files.set(entry.tokenizer.file, readFileSync(join(root, 'test/unit/tokenizer/fixtures/tokenizer.json')));
  }
  let seed = 1;
  for (const [name, spec] of Object.entries(variant.models) as [ComponentName, ComponentSpec][]) {
    // Named after the entry, so that no two entries' stand-ins are the same bytes.
    const built = componentGraph(name, spec, variant, seed++, (tensor, type) => guessed.push(`${name}.${tensor}: ${type}`), options.nanDecoder === true);
    const graph = { ...built, name: `${entry.id} ${name} stand-in${options.nanDecoder === true ? ' (NaN decoder)' : ''}` };
    const [external, ...moreShards] = spec.externalData ?? [];
    if (external !== undefined) {
      const written = writeModel(graph, { externalData: relativeTo(spec.file, external) });
      files.set(spec.file, written.model);
      files.set(external, written.externalData!);
      // A sharded export's other files: present and verified like the rest, though this small
      // graph keeps its weights in the first one.
      for (const shard of moreShards) files.set(shard, new TextEncoder().encode(`${entry.id} ${shard} stand-in shard\n`));
    } else {
      files.set(spec.file, writeModel(graph).model);
    }
  }
  const weightsBytes = [...files.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0);
  return {
    entry: {
      ...entry,
      // A plain URL source: the files are where the repository has them, on another host.
      source: { kind: 'url', baseUrl },
      variants: [
        {
          ...variant,
          // The stand-in's own sizes, so that device fitting judges what is actually loaded.
          memory: { weightsBytes, activationsBytes: 64 * 2 ** 20, largestBindingBytes: 16 * 2 ** 20, method: 'stand-in' },
        },
      ],
    },
    variant,
    files,
    guessedTypes: guessed,
  };
}

/** `path` relative to the folder of `file` (both relative to the repository root). */
function relativeTo(file: string, path: string): string {
  const folder = file.split('/').slice(0, -1).join('/');
  return folder !== '' && path.startsWith(`${folder}/`) ? path.slice(folder.length + 1) : path;
}

/** A tensor's element type: the catalog's, else a guess from the variant's precision. */
function elementType(spec: TensorSpec, variant: CatalogVariant, role: 'ids' | 'float' | 'timestep', guess: (type: string) => void): ElementType {
  if (spec.dtype !== 'unknown') return spec.dtype;
  const half = variant.precision !== 'fp32';
  const type: ElementType = role === 'ids' ? 'int32' : role === 'timestep' ? (half ? 'float16' : 'int64') : half ? 'float16' : 'float32';
  guess(type);
  return type;
}

function randomWeights(seed: number, count: number, scale: number): Float32Array {
  // A small LCG: stand-ins need reproducible bytes, not good randomness.
  let state = seed >>> 0;
  const values = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[k] = (state / 2 ** 32 - 0.5) * 2 * scale;
  }
  return values;
}

const CAST_TO: Readonly<Record<ElementType, number>> = { float32: 1, int32: 6, int64: 7, float16: 10 };

/** @param nanDecoder a decoder whose every output is NaN (the square root of -1 - tanh), for tests of the runtime's check */
function componentGraph(
  name: ComponentName,
  spec: ComponentSpec,
  variant: CatalogVariant,
  seed: number,
  guess: (tensor: string, type: string) => void,
  nanDecoder = false,
): Graph {
  const nodes: Node[] = [];
  const initializers: Initializer[] = [];
  const typed = (tensor: TensorSpec, role: 'ids' | 'float' | 'timestep'): ValueInfo => ({
    name: tensor.name,
    type: elementType(tensor, variant, role, (type) => guess(tensor.name, type)),
    shape: tensor.shape as Dim[],
  });
  const cast = (input: string, to: ElementType, output: string): string => {
    nodes.push({ op: 'Cast', inputs: [input], outputs: [output], attributes: [{ name: 'to', int: CAST_TO[to] }] });
    return output;
  };
  const constant = (init: Initializer): string => {
    initializers.push(init);
    return init.name;
  };
  const int64s = (nameOf: string, values: number[]): string =>
    constant({ name: nameOf, type: 'int64', dims: [values.length], values: BigInt64Array.from(values, BigInt) });
  const scalar = (nameOf: string, value: number): string => constant({ name: nameOf, type: 'float32', dims: [], values: Float32Array.of(value) });
  const op = (opType: string, inputs: string[], output: string, attributes?: Node['attributes']): string => {
    nodes.push({ op: opType, inputs, outputs: [output], ...(attributes !== undefined ? { attributes } : {}) });
    return output;
  };
  /** A float input as float32, mean-reduced over every axis but the batch, shaped [B, 1, 1, 1]. */
  const summary = (info: ValueInfo): string => {
    const f = cast(info.name, 'float32', `${info.name}_f32`);
    const axes = info.shape.map((_, axis) => axis).slice(1);
    const mean = op('ReduceMean', [f], `${info.name}_mean`, [
      { name: 'axes', ints: axes },
      { name: 'keepdims', int: 1 },
    ]);
    return op('Reshape', [mean, int64s(`${info.name}_shape`, [-1, 1, 1, 1])], `${info.name}_b1111`);
  };

  if (name === 'text_encoder' || name === 'text_encoder_2') {
    // A language model's attention mask (and any other index input) zeroes the padding's states.
    const [ids, ...masks] = spec.inputs.map((tensor) => typed(tensor, 'ids')) as [ValueInfo, ...ValueInfo[]];
    const hiddenSize = spec.outputs.map((o) => o.shape[o.shape.length - 1]).find((d): d is number => typeof d === 'number') ?? 64;
    const rows = 97;
    const index = op('Mod', [cast(ids.name, 'int64', 'ids64'), int64s('rows', [rows])], 'row', [{ name: 'fmod', int: 0 }]);
    const table = constant({ name: 'embedding', type: 'float32', dims: [rows, hiddenSize], values: randomWeights(seed, rows * hiddenSize, 1) });
    let hidden = op('Gather', [table, index], 'hidden', [{ name: 'axis', int: 0 }]);
    for (const mask of masks) {
      const weights = op('Reshape', [cast(mask.name, 'float32', `${mask.name}_f32`), int64s(`${mask.name}_shape`, [0, 0, 1])], `${mask.name}_b_l_1`);
      hidden = op('Mul', [hidden, weights], `hidden_${mask.name}`);
    }
    const outputs = spec.outputs.map((tensor) => {
      const info = typed(tensor, 'float');
      const pooled = info.shape.length === 2;
      const value = pooled
        ? op('ReduceMean', [hidden], `${info.name}_pooled`, [
            { name: 'axes', ints: [1] },
            { name: 'keepdims', int: 0 },
          ])
        : hidden;
      cast(value, info.type, info.name);
      return info;
    });
    return { name, inputs: [ids, ...masks], outputs, nodes, initializers };
  }

  if (name === 'unet') {
    const inputs = spec.inputs.map((tensor) => typed(tensor, tensor.name === 'timestep' ? 'timestep' : 'float'));
    const sample = inputs.find((i) => i.name === 'sample')!;
    const channels = typeof sample.shape[1] === 'number' ? sample.shape[1] : 4;
    const x = cast(sample.name, 'float32', 'sample_f32');
    const weight = constant({ name: 'mix', type: 'float32', dims: [channels, channels, 1, 1], values: randomWeights(seed, channels * channels, 0.5) });
    let sum = op('Conv', [x, weight], 'mixed');
    for (const input of inputs) {
      if (input === sample) continue;
      const term =
        input.name === 'timestep'
          ? op('Reshape', [cast(input.name, 'float32', 'timestep_f32'), int64s('timestep_shape', [-1, 1, 1, 1])], 'timestep_b1111')
          : summary(input);
      const scaled = op('Mul', [term, scalar(`${input.name}_scale`, 0.001)], `${input.name}_term`);
      sum = op('Add', [sum, scaled], `sum_${input.name}`);
    }
    const out = typed(spec.outputs[0]!, 'float');
    cast(op('Tanh', [sum], 'squashed'), out.type, out.name);
    return { name, inputs, outputs: [out], nodes, initializers };
  }

  if (name === 'transformer') {
    // A diffusion transformer over packed patches ([batch, tokens, C p p]): a linear map of the
    // tokens plus a little of every other input (position ids, which have no batch axis, as one number).
    const inputs = spec.inputs.map((tensor) => typed(tensor, tensor.name === 'timestep' ? 'timestep' : 'float'));
    const hidden = inputs.find((i) => i.name === 'hidden_states') ?? inputs[0]!;
    const width = typeof hidden.shape[2] === 'number' ? hidden.shape[2] : 16;
    const weight = constant({ name: 'mix', type: 'float32', dims: [width, width], values: randomWeights(seed, width * width, 0.5 / Math.sqrt(width)) });
    let sum = op('MatMul', [cast(hidden.name, 'float32', 'hidden_f32'), weight], 'mixed');
    for (const input of inputs) {
      if (input === hidden) continue;
      const f = input.name === 'timestep' ? cast(input.name, 'float32', 'timestep_f32') : cast(input.name, 'float32', `${input.name}_f32`);
      const batched = typeof input.shape[0] === 'string';
      const axes = input.shape.map((_, axis) => axis).slice(batched ? 1 : 0);
      const mean =
        axes.length === 0
          ? f
          : op('ReduceMean', [f], `${input.name}_mean`, [
              { name: 'axes', ints: axes },
              { name: 'keepdims', int: 0 },
            ]);
      const term = batched ? op('Reshape', [mean, int64s(`${input.name}_shape`, [-1, 1, 1])], `${input.name}_b11`) : mean;
      sum = op('Add', [sum, op('Mul', [term, scalar(`${input.name}_scale`, 0.001)], `${input.name}_term`)], `sum_${input.name}`);
    }
    const out = typed(spec.outputs[0]!, 'float');
    cast(op('Tanh', [sum], 'squashed'), out.type, out.name);
    return { name, inputs, outputs: [out], nodes, initializers };
  }

  if (name === 'vae_decoder') {
    const latent = typed(spec.inputs[0]!, 'float');
    const channels = typeof latent.shape[1] === 'number' ? latent.shape[1] : 4;
    const weight = constant({ name: 'to_rgb', type: 'float32', dims: [3, channels, 1, 1], values: randomWeights(seed, 3 * channels, 0.8) });
    const rgb = op('Conv', [cast(latent.name, 'float32', 'latent_f32'), weight], 'rgb');
    const scales = constant({ name: 'scales', type: 'float32', dims: [4], values: Float32Array.of(1, 1, 8, 8) });
    const up = op('Resize', [rgb, '', scales], 'upsampled', [{ name: 'mode', string: 'nearest' }]);
    const out = typed(spec.outputs[0]!, 'float');
    const squashed = op('Tanh', [up], 'squashed');
    const result = nanDecoder ? op('Sqrt', [op('Sub', [scalar('minus_one', -1), squashed], 'negative')], 'nan') : squashed;
    cast(result, out.type, out.name);
    return { name, inputs: [latent], outputs: [out], nodes, initializers };
  }

  // vae_encoder: a picture in, a latent out (average-pooled 8x, mixed to the latent channels).
  const image = typed(spec.inputs[0]!, 'float');
  const out = typed(spec.outputs[0]!, 'float');
  const channels = typeof out.shape[1] === 'number' ? out.shape[1] : 4;
  const pooled = op('AveragePool', [cast(image.name, 'float32', 'image_f32')], 'pooled', [
    { name: 'kernel_shape', ints: [8, 8] },
    { name: 'strides', ints: [8, 8] },
  ]);
  const weight = constant({ name: 'to_latent', type: 'float32', dims: [channels, 3, 1, 1], values: randomWeights(seed, 3 * channels, 0.8) });
  cast(op('Conv', [pooled, weight], 'latent'), out.type, out.name);
  return { name, inputs: [image], outputs: [out], nodes, initializers };
}

/** Writes every entry's stand-in under `outDir/<repo>/resolve/<revision>/`. */
function main(): void {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    console.error('usage: tsx scripts/stand-ins.ts <output directory>');
    process.exit(2);
  }
  for (const entry of standInEntries()) {
    if (entry.source.kind !== 'huggingface') continue;
    const prefix = `${entry.source.repo}/resolve/${entry.source.revision}`;
    const standIn = buildStandIn(entry, prefix);
    for (const [path, bytes] of standIn.files) {
      const target = join(outDir, prefix, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, bytes);
    }
    const size = [...standIn.files.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0);
    console.log(`${entry.id}: ${standIn.files.size} files, ${size} bytes under ${join(outDir, prefix)}`);
    for (const line of standIn.guessedTypes) console.log(`  guessed ${line}`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();

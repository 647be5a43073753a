/**
 * The quantizer on whole models: one .onnx file, or a model folder (its manifest.json) written
 * out complete — every network quantized with its weights in external-data shards, the
 * tokenizer, scheduler and configuration files copied, and a new manifest.json (the model's
 * descriptor, one variant of the new precision) with each file's size and SHA-256. A report of what was quantized and what was left (quantization.json) goes beside.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CATALOG_FORMAT, type CatalogEntry, type CatalogVariant, type ComponentName, type ComponentSpec } from '../../src/models/catalog.ts';
import { parseDescriptor } from '../../src/models/model-reference.ts';
import { QuantizeError } from './errors.ts';
import { quantizeGraph, type GraphReport, type QuantizeMode } from './graph.ts';
import { ExternalDataWriter, MAX_SHARD_BYTES, decodeModel, onnx } from './onnx-file.ts';

export interface QuantizeOptions {
  readonly mode: QuantizeMode;
  /** q4 block length along K (default 32). */
  readonly blockSize?: number;
  /** Largest external-data file (default 1.9 GB). */
  readonly maxShardBytes?: number;
}

export interface FileReport extends GraphReport {
  /** The .onnx and its shards as written, relative to the output folder, with their sizes. */
  readonly files: readonly { readonly path: string; readonly size: number }[];
}

export interface QuantizationReport {
  readonly mode: QuantizeMode;
  readonly blockSize: number;
  /** The input's folder name (and file name, if a file was given): no absolute path, so a report does not depend on the machine. */
  readonly source: string;
  readonly components: Readonly<Record<string, FileReport>>;
}

export const REPORT_FILE = 'quantization.json';
export const DEFAULT_BLOCK_SIZE = 32;

/**
 * Quantizes one .onnx file (weights inline or external) into `outputFile`, whose weights go to
 * `<outputFile>_data` shards beside it. The input's initializers are read one at a time.
 * @throws QuantizeError 'not-onnx' when the input is not an ONNX model, 'bad-external-data' when a weight cannot be read
 */
export async function quantizeOnnxFile(
  inputFile: string,
  outputFile: string,
  options: QuantizeOptions,
): Promise<{ report: GraphReport; externalData: string[] }> {
  const model = decodeModel(await readFile(inputFile), inputFile);
  const writer = new ExternalDataWriter(outputFile, options.maxShardBytes ?? MAX_SHARD_BYTES);
  let report: GraphReport;
  let externalData: string[];
  try {
    report = quantizeGraph(model, path.dirname(inputFile), writer, { mode: options.mode, blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE });
  } finally {
    externalData = writer.close();
  }
  model.metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => p.key !== 'webdiffusion.quantization'),
    onnx.StringStringEntryProto.create({ key: 'webdiffusion.quantization', value: describeMode(options.mode, options.blockSize ?? DEFAULT_BLOCK_SIZE) }),
  ];
  await writeFile(outputFile, onnx.ModelProto.encode(model).finish());
  return { report, externalData };
}

/**
 * Quantizes a model: `input` is a model folder (with manifest.json), a manifest, or one .onnx
 * file; `out` is the folder to write, refused when it exists unless `force`.
 * @returns the report, also written to `<out>/quantization.json`
 * @throws QuantizeError 'bad-input' (nothing usable at `input`), 'output-exists', 'not-onnx', 'bad-external-data'
 * @throws ManifestError when the manifest is malformed
 */
export async function quantizeModel(input: string, out: string, options: QuantizeOptions & { readonly force?: boolean }): Promise<QuantizationReport> {
  const source = path.resolve(input);
  const info = existsSync(source) ? statSync(source) : undefined;
  if (info === undefined)
    throw new QuantizeError('bad-input', `${input}: no such file or folder (give a model folder, its manifest.json, or an .onnx file)`, { input });
  const manifestFile = info.isDirectory() ? path.join(source, 'manifest.json') : source;
  const single = !info.isDirectory() && source.endsWith('.onnx');
  if (!single && !existsSync(manifestFile)) {
    throw new QuantizeError('bad-input', `${input}: a model folder needs a manifest.json (or give an .onnx file)`, { input });
  }
  await prepareOutput(path.resolve(out), single ? path.dirname(source) : path.dirname(manifestFile), options.force ?? false);
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const components: Record<string, FileReport> = {};
  const quantizeOne = async (from: string, to: string): Promise<FileReport> => {
    const target = path.join(out, to);
    await mkdir(path.dirname(target), { recursive: true });
    const { report, externalData } = await quantizeOnnxFile(from, target, options);
    const files = await Promise.all(
      [to, ...externalData.map((name) => path.posix.join(path.posix.dirname(to), name))].map(async (p) => ({
        path: p,
        size: (await stat(path.join(out, p))).size,
      })),
    );
    return { ...report, files };
  };

  if (single) {
    components[path.basename(source, '.onnx')] = await quantizeOne(source, path.basename(source));
  } else {
    const descriptor = parseDescriptor(JSON.parse(await readFile(manifestFile, 'utf8')), pathToFileURL(manifestFile).href);
    const variant = descriptor.variants[0]!;
    const base = path.dirname(manifestFile);
    const networkFiles = new Set<string>();
    const models: Partial<Record<ComponentName, ComponentSpec>> = {};
    for (const [key, network] of Object.entries(variant.models) as [ComponentName, ComponentSpec][]) {
      for (const file of [network.file, ...(network.externalData ?? [])]) networkFiles.add(file);
      const report = await quantizeOne(path.join(base, network.file), network.file);
      components[key] = report;
      models[key] = { ...network, externalData: report.files.slice(1).map((f) => f.path) };
    }
    for (const file of variant.files) {
      if (networkFiles.has(file.path)) continue;
      await mkdir(path.dirname(path.join(out, file.path)), { recursive: true });
      await copyFile(path.join(base, file.path), path.join(out, file.path));
    }
    await writeDescriptor(out, descriptor, variant, models as CatalogVariant['models'], components, options.mode, blockSize);
  }
  const report: QuantizationReport = {
    mode: options.mode,
    blockSize,
    source: info.isDirectory() ? path.basename(source) : path.join(path.basename(path.dirname(source)), path.basename(source)),
    components,
  };
  await writeFile(path.join(out, REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function describeMode(mode: QuantizeMode, blockSize: number): string {
  return mode === 'q4'
    ? `q4: MatMul and Gemm weights as 4-bit MatMulNBits in blocks of ${blockSize}, convolutions as int8 DequantizeLinear per output channel`
    : 'q8: MatMul, Gemm and convolution weights as int8 DequantizeLinear per output channel';
}

/** Refuses an existing `out` unless `force`; never deletes the input's own folder or one holding it. */
async function prepareOutput(out: string, inputDir: string, force: boolean): Promise<void> {
  if (existsSync(out)) {
    if (!force) throw new QuantizeError('output-exists', `${out} exists; choose another --out, or give --force to replace it`, { out });
    const relative = path.relative(out, inputDir);
    if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
      throw new QuantizeError('output-exists', `${out} holds the input model; --force will not delete it`, { out, input: inputDir });
    }
    await rm(out, { recursive: true });
  }
  await mkdir(out, { recursive: true });
}

/** The quantized model's manifest.json: the descriptor with one variant, of the new precision and files. */
async function writeDescriptor(
  out: string,
  descriptor: CatalogEntry,
  variant: CatalogVariant,
  models: CatalogVariant['models'],
  components: Record<string, FileReport>,
  mode: QuantizeMode,
  blockSize: number,
): Promise<void> {
  const paths = [
    ...variant.files.map((f) => f.path).filter((p) => existsSync(path.join(out, p))),
    ...Object.values(models).flatMap((m) => m.externalData ?? []),
  ];
  const files = await Promise.all(
    [...new Set(paths)].sort().map(async (p) => ({ path: p, size: (await stat(path.join(out, p))).size, sha256: await sha256(path.join(out, p)) })),
  );
  const networkBytes = Object.values(components).map((report) => report.files.reduce((total, file) => total + file.size, 0));
  const { source: _servedBeside, ...described } = descriptor;
  const written: Omit<CatalogEntry, 'source'> & { format: string } = {
    format: CATALOG_FORMAT,
    ...described,
    id: `${descriptor.id}-${mode}`,
    name: `${descriptor.name}-${mode}`,
    description: `${descriptor.description} Weights quantized by scripts/quantize.ts (${describeMode(mode, blockSize)}).`,
    variants: [
      {
        ...variant,
        id: mode,
        precision: mode,
        files,
        filesVerified: true,
        filesEvidence: 'Written by scripts/quantize.ts from the files in this folder.',
        models,
        memory: {
          ...variant.memory,
          weightsBytes: networkBytes.reduce((total, bytes) => total + bytes, 0),
          largestBindingBytes: Math.max(...networkBytes),
          method: `${variant.memory.method} Weights after quantization: the networks' files as written (exact).`,
        },
      },
    ],
  };
  await writeFile(path.join(out, 'manifest.json'), `${JSON.stringify(written, null, 2)}\n`);
}

/** Streams the file through the digest, so a shard of 1.9 GB is never read whole. */
function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * The model catalog (`catalog.json`, format "webdiffusion-catalog/1"): the models people run in
 * browsers, with where their files are, the I/O contract of each ONNX graph, what the GPU must
 * support and how much memory they need. The data is checked once, when this module loads, so a
 * bad edit fails every test instead of one user's download.
 *
 * Every model is described so: a bundled model or a user's own by one entry of the same format,
 * served as `manifest.json` next to its files (model-reference.ts reads references and those).
 */
import { ManifestError, UnknownModelError } from '../errors.ts';
import catalogJson from './catalog.json' with { type: 'json' };
import tinyShapesFlow from '../../models/tiny-shapes-flow/manifest.json' with { type: 'json' };
import tinyShapesLm from '../../models/tiny-shapes-lm/manifest.json' with { type: 'json' };
import tinyShapesQ4 from '../../models/tiny-shapes-q4/manifest.json' with { type: 'json' };
import tinyShapesQ8 from '../../models/tiny-shapes-q8/manifest.json' with { type: 'json' };
import tinyShapesTurbo from '../../models/tiny-shapes-turbo/manifest.json' with { type: 'json' };
import tinyShapes from '../../models/tiny-shapes/manifest.json' with { type: 'json' };
import type { AnySchedulerConfig } from '../schedulers/scheduler.ts';
import type { DenoiserSpec } from './denoiser.ts';
import { fieldReaders, type Fail, type Json } from './json-fields.ts';
import { huggingFaceBaseUrl } from './reference-text.ts';
import { PRECISIONS, type Precision } from './precision.ts';
import { tokenizerFiles, type TextEncoderSpec, type TokenizerSpec } from './text-spec.ts';

export const CATALOG_FORMAT = 'webdiffusion-catalog/1';

export type TensorDtype = 'float32' | 'float16' | 'int32' | 'int64' | 'unknown';
const TENSOR_DTYPES: readonly TensorDtype[] = ['float32', 'float16', 'int32', 'int64', 'unknown'];

export { computesInFloat32, type Precision } from './precision.ts';

export type ComponentName = 'text_encoder' | 'text_encoder_2' | 'unet' | 'transformer' | 'vae_decoder' | 'vae_encoder';
/** The networks every variant has; the denoiser is `unet` or `transformer`, as the entry's `denoiser.kind` says. */
const REQUIRED_COMPONENTS: readonly ComponentName[] = ['text_encoder', 'vae_decoder'];
const OPTIONAL_COMPONENTS: readonly ComponentName[] = ['text_encoder_2', 'vae_encoder'];

/** One input or output of an ONNX graph. Symbolic dimensions are strings. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: TensorDtype;
  readonly shape: readonly (number | string)[];
  /** False where this tensor's name, dtype or shape was not confirmed from the real export. */
  readonly verified: boolean;
}

export interface ComponentSpec {
  readonly file: string;
  readonly externalData?: readonly string[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Whether the contract was seen in code that runs this export; tensors may still say false. */
  readonly verified: boolean;
  /** Where the contract comes from. */
  readonly evidence: string;
}

export interface CatalogFile {
  readonly path: string;
  /** Exact byte count. */
  readonly size?: number;
  /** Approximate byte count, as published; only where `size` is not known. */
  readonly approxBytes?: number;
  /** Lower-case hex SHA-256 of the file's bytes; without it, the digest the host reports is pinned on first download. */
  readonly sha256?: string;
}

/**
 * The latent space: its channels, the VAE's downsampling and scaling factor, and optionally the
 * linear latent-to-RGB map cheap previews use (rgb = rgbBias + sum over channels c of z[c] *
 * rgbFactors[c], z times the scaling factor, rgb in [-1, 1]).
 */
export interface LatentSpace {
  readonly channels: number;
  readonly downsample: number;
  readonly scalingFactor: number;
  readonly rgbFactors?: readonly (readonly number[])[];
  readonly rgbBias?: readonly number[];
  /** Added after the division by the scaling factor before decoding (the FLUX.1 VAE's 0.1159, Z-Image's too). */
  readonly shiftFactor?: number;
  /**
   * Batch-norm statistics the latent was normalised with (FLUX.2: the VAE's bn running mean and
   * sqrt(running_var + eps), per channel of a 2x2 patch, channel-major: 4 x channels values):
   * decoding takes z * std + mean.
   */
  readonly normalization?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

/**
 * The scheduler configuration: scheduler_config.json's values, for exports that ship none; or
 * the file among the model's that holds them. Checked by the schedulers at load.
 */
export type SchedulerSource = { readonly config: AnySchedulerConfig; readonly evidence: string } | { readonly file: string };

export interface MemoryEstimate {
  /** Bytes of weights the GPU (or the CPU) holds. */
  readonly weightsBytes: number;
  /** Peak bytes of intermediate tensors (the stages run one after another). */
  readonly activationsBytes: number;
  /** The largest single tensor a kernel binds: must fit `maxStorageBufferBindingSize`. */
  readonly largestBindingBytes: number;
  /** How the numbers were estimated. */
  readonly method: string;
}

/** One way to run a model: its precision, files and what the device must offer. */
export interface CatalogVariant {
  readonly id: string;
  readonly precision: Precision;
  /** WebGPU features the variant needs ('shader-f16' for float16 compute). */
  readonly requiredFeatures: readonly string[];
  readonly files: readonly CatalogFile[];
  readonly filesVerified: boolean;
  readonly filesEvidence: string;
  readonly models: Readonly<Partial<Record<ComponentName, ComponentSpec>>> & {
    readonly text_encoder: ComponentSpec;
    readonly vae_decoder: ComponentSpec;
  };
  readonly memory: MemoryEstimate;
}

export type CatalogSource =
  | { readonly kind: 'huggingface'; readonly repo: string; readonly revision: string; readonly baseUrl: string }
  | { readonly kind: 'bundled'; readonly manifest: string; readonly baseUrl: string }
  | { readonly kind: 'url'; readonly baseUrl: string };

export interface CatalogEntry {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly source: CatalogSource;
  readonly resolutions: readonly { readonly width: number; readonly height: number }[];
  readonly latent: LatentSpace;
  readonly textEncoder: TextEncoderSpec;
  readonly tokenizer: TokenizerSpec & { readonly verified: boolean; readonly evidence: string };
  /**
   * `scheduler` is a name the engine checks when it loads the model ('lcm' is in the data before
   * it is implemented); `timestep` pins the single timestep of one-step models (SD-Turbo: 999).
   */
  readonly defaults: { readonly steps: number; readonly guidance: number; readonly scheduler: string; readonly timestep?: number };
  /** Without it, the model's own `scheduler/scheduler_config.json` (the diffusers layout). */
  readonly scheduler?: SchedulerSource;
  /** Stable Diffusion's UNet when absent. */
  readonly denoiser?: DenoiserSpec;
  /** In order of preference: device fitting takes the first that can run. */
  readonly variants: readonly CatalogVariant[];
}


/** Where a parsed entry came from, for messages, and the base its files resolve against when it names none. */
export interface EntryOrigin {
  /** Names the entry in messages: "catalog.json models[2]", a manifest's URL, … */
  readonly where: string;
  /**
   * The base URL of a model described next to its files (a manifest.json served with them):
   * its `source` may then be left out. Without it, `source` is required.
   */
  readonly baseUrl?: string;
}

/**
 * Checks one catalog entry (or a model's manifest.json, which has the same format) and returns it typed.
 * @param origin names the entry in messages (a string is taken as `{ where }`)
 * @throws ManifestError naming the entry and the first field that is missing or malformed
 */
export function parseCatalogEntry(json: unknown, origin: string | EntryOrigin): CatalogEntry {
  const { where, baseUrl } = typeof origin === 'string' ? { where: origin, baseUrl: undefined } : origin;
  const entryName = typeof (json as Json | null)?.id === 'string' ? `"${(json as Json).id as string}"` : where;
  const read = entryReaders((field, expected, got) => {
    throw new ManifestError(`Model ${entryName} (${where}): "${field}" must be ${expected}, got ${JSON.stringify(got) ?? 'nothing'}`, {
      source: where,
      entry: entryName,
      field,
    });
  });
  const root = read.object(json, '(root)');
  if (root.format !== undefined && root.format !== CATALOG_FORMAT) read.fail('format', `"${CATALOG_FORMAT}" (or left out)`, root.format);
  const denoiser = read.denoiser(root.denoiser);
  const resolutions = read.array(root.resolutions, 'resolutions').map((r, i) => read.resolution(r, `resolutions[${i}]`));
  if (resolutions.length === 0) read.fail('resolutions', 'a non-empty array', resolutions);
  const variants = read.array(root.variants, 'variants').map((v, i) => read.variant(v, `variants[${i}]`, denoiser));
  if (variants.length === 0) read.fail('variants', 'a non-empty array', variants);
  const source =
    root.source === undefined && baseUrl !== undefined ? { kind: 'url' as const, baseUrl: new URL('./', baseUrl).href } : read.source(root.source);
  const scheduler = read.optional(root.scheduler, (value) => read.scheduler(value));
  return {
    id: read.string(root.id, 'id'),
    name: read.string(root.name, 'name'),
    description: typeof root.description === 'string' ? root.description : '',
    source,
    resolutions,
    latent: read.latent(root.latent),
    textEncoder: read.textEncoder(root.textEncoder),
    tokenizer: read.tokenizer(root.tokenizer),
    defaults: read.defaults(root.defaults),
    ...(scheduler !== undefined ? { scheduler } : {}),
    ...(root.denoiser !== undefined ? { denoiser } : {}),
    variants,
  };
}

/** The readers of an entry's parts, each failing through `fail` with the field's path. */
function entryReaders(fail: Fail) {
  const fields = fieldReaders(fail);
  const { object, array, string, boolean, positiveInteger, nonNegative, positive, oneOf } = fields;
  const optional = <T>(value: unknown, read: (value: unknown) => T): T | undefined => (value === undefined ? undefined : read(value));
  const byteCount = (value: unknown, field: string): number =>
    Number.isInteger(value) && (value as number) >= 0 ? (value as number) : fail(field, 'a byte count', value);

  const tensor = (value: unknown, field: string, componentVerified: boolean): TensorSpec => {
    const t = object(value, field);
    return {
      name: string(t.name, `${field}.name`),
      dtype: oneOf(t.dtype, `${field}.dtype`, TENSOR_DTYPES),
      shape: array(t.shape, `${field}.shape`).map((dim, i) => (typeof dim === 'string' && dim !== '' ? dim : positiveInteger(dim, `${field}.shape[${i}]`))),
      // A tensor is as verified as its component unless it says otherwise; never more.
      verified: componentVerified && (t.verified === undefined ? true : boolean(t.verified, `${field}.verified`)),
    };
  };
  const component = (value: unknown, field: string): ComponentSpec => {
    const c = object(value, field);
    const verified = boolean(c.verified, `${field}.verified`);
    const tensors = (key: 'inputs' | 'outputs') => array(c[key], `${field}.${key}`).map((t, i) => tensor(t, `${field}.${key}[${i}]`, verified));
    const externalData = optional(c.externalData, (v) => array(v, `${field}.externalData`).map((p, i) => string(p, `${field}.externalData[${i}]`)));
    return {
      file: string(c.file, `${field}.file`),
      ...(externalData !== undefined ? { externalData } : {}),
      inputs: tensors('inputs'),
      outputs: tensors('outputs'),
      verified,
      evidence: string(c.evidence, `${field}.evidence`),
    };
  };
  const file = (value: unknown, field: string): CatalogFile => {
    const f = object(value, field);
    const size = optional(f.size, (s) => byteCount(s, `${field}.size`));
    const approxBytes = optional(f.approxBytes, (b) => positive(b, `${field}.approxBytes`));
    if (size !== undefined && approxBytes !== undefined) fail(field, 'either size or approxBytes, not both', f);
    const sha256 = optional(f.sha256, (d) => (typeof d === 'string' && /^[0-9a-f]{64}$/.test(d) ? d : fail(`${field}.sha256`, '64 lower-case hex digits', d)));
    return {
      path: string(f.path, `${field}.path`),
      ...(size !== undefined ? { size } : {}),
      ...(approxBytes !== undefined ? { approxBytes } : {}),
      ...(sha256 !== undefined ? { sha256 } : {}),
    };
  };
  /** The networks a variant has: the required ones (the denoiser's kind decides unet or transformer) and any optional ones. */
  const models = (value: unknown, field: string, denoiser: DenoiserSpec): CatalogVariant['models'] => {
    const json = object(value, field);
    const required: readonly ComponentName[] = [...REQUIRED_COMPONENTS, denoiser.kind === 'transformer' ? 'transformer' : 'unet'];
    for (const key of Object.keys(json)) oneOf(key, `${field} (key)`, [...required, ...OPTIONAL_COMPONENTS]);
    const specs: Partial<Record<ComponentName, ComponentSpec>> = {};
    for (const key of [...required, ...OPTIONAL_COMPONENTS]) {
      if (json[key] !== undefined || required.includes(key)) specs[key] = component(json[key], `${field}.${key}`);
    }
    return specs as CatalogVariant['models'];
  };
  const memory = (value: unknown, field: string): MemoryEstimate => {
    const m = object(value, field);
    return {
      weightsBytes: positive(m.weightsBytes, `${field}.weightsBytes`),
      activationsBytes: positive(m.activationsBytes, `${field}.activationsBytes`),
      largestBindingBytes: positive(m.largestBindingBytes, `${field}.largestBindingBytes`),
      method: string(m.method, `${field}.method`),
    };
  };
  const variant = (value: unknown, field: string, denoiser: DenoiserSpec): CatalogVariant => {
    const v = object(value, field);
    const files = array(v.files, `${field}.files`).map((f, i) => file(f, `${field}.files[${i}]`));
    const networks = models(v.models, `${field}.models`, denoiser);
    const listed = new Set(files.map((f) => f.path));
    for (const [key, spec] of Object.entries(networks)) {
      for (const path of [spec.file, ...(spec.externalData ?? [])]) {
        if (!listed.has(path)) fail(`${field}.models.${key}`, `a file listed in ${field}.files`, path);
      }
    }
    return {
      id: string(v.id, `${field}.id`),
      precision: oneOf(v.precision, `${field}.precision`, PRECISIONS),
      requiredFeatures: array(v.requiredFeatures, `${field}.requiredFeatures`).map((f, i) => string(f, `${field}.requiredFeatures[${i}]`)),
      files,
      filesVerified: boolean(v.filesVerified, `${field}.filesVerified`),
      filesEvidence: string(v.filesEvidence, `${field}.filesEvidence`),
      models: networks,
      memory: memory(v.memory, `${field}.memory`),
    };
  };
  const source = (value: unknown): CatalogSource => {
    const s = object(value, 'source');
    const baseUrl = string(s.baseUrl, 'source.baseUrl');
    if (!baseUrl.endsWith('/')) fail('source.baseUrl', 'a URL ending in "/"', baseUrl);
    const kind = oneOf(s.kind, 'source.kind', ['huggingface', 'bundled', 'url'] as const);
    if (kind === 'huggingface') {
      const repo = string(s.repo, 'source.repo');
      const revision = string(s.revision, 'source.revision');
      const expected = huggingFaceBaseUrl(repo, revision);
      if (baseUrl !== expected) fail('source.baseUrl', `"${expected}" (from repo and revision)`, baseUrl);
      return { kind, repo, revision, baseUrl };
    }
    if (kind === 'bundled') return { kind, manifest: string(s.manifest, 'source.manifest'), baseUrl };
    return { kind, baseUrl };
  };
  const tokenizer = (value: unknown): CatalogEntry['tokenizer'] => {
    const t = object(value, 'tokenizer');
    return { ...fields.tokenizer(t), verified: boolean(t.verified, 'tokenizer.verified'), evidence: string(t.evidence, 'tokenizer.evidence') };
  };
  const defaults = (value: unknown): CatalogEntry['defaults'] => {
    const d = object(value, 'defaults');
    const timestep = optional(d.timestep, (v) => nonNegative(v, 'defaults.timestep'));
    return {
      steps: positiveInteger(d.steps, 'defaults.steps'),
      guidance: nonNegative(d.guidance, 'defaults.guidance'),
      scheduler: string(d.scheduler, 'defaults.scheduler'),
      ...(timestep !== undefined ? { timestep } : {}),
    };
  };
  const scheduler = (value: unknown): SchedulerSource => {
    const s = object(value, 'scheduler');
    if (s.file !== undefined) return { file: string(s.file, 'scheduler.file') };
    const config = object(s.config, 'scheduler.config');
    positiveInteger(config.num_train_timesteps, 'scheduler.config.num_train_timesteps');
    return { config: config as unknown as AnySchedulerConfig, evidence: string(s.evidence, 'scheduler.evidence') };
  };
  const resolution = (value: unknown, field: string) => {
    const r = object(value, field);
    return { width: positiveInteger(r.width, `${field}.width`), height: positiveInteger(r.height, `${field}.height`) };
  };
  return { ...fields, fail, optional, variant, source, tokenizer, defaults, scheduler, resolution };
}

/**
 * Checks a whole catalog: its format, every entry, and that ids are unique.
 * @throws ManifestError naming the entry and field
 */
export function parseCatalog(json: unknown, where: string): readonly CatalogEntry[] {
  const root = typeof json === 'object' && json !== null ? (json as Json) : {};
  if (root.format !== CATALOG_FORMAT) {
    throw new ManifestError(`${where}: "format" must be "${CATALOG_FORMAT}", got ${JSON.stringify(root.format) ?? 'nothing'}`, {
      source: where,
      field: 'format',
    });
  }
  if (!Array.isArray(root.models)) {
    throw new ManifestError(`${where}: "models" must be an array`, { source: where, field: 'models' });
  }
  const entries = root.models.map((entry, i) => parseCatalogEntry(entry, `${where} models[${i}]`));
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.id)) {
      throw new ManifestError(`${where}: model id "${entry.id}" appears twice`, { source: where, entry: entry.id, field: 'id' });
    }
    seen.add(entry.id);
  }
  return entries;
}

/**
 * The models this repository ships (models/<id>/), described by their own manifest.json: they
 * are served from the app, beside its pages (`source.manifest` resolves against the app's base).
 */
const BUNDLED: readonly CatalogEntry[] = Object.entries({
  'tiny-shapes': tinyShapes,
  'tiny-shapes-turbo': tinyShapesTurbo,
  'tiny-shapes-flow': tinyShapesFlow,
  'tiny-shapes-q8': tinyShapesQ8,
  'tiny-shapes-q4': tinyShapesQ4,
  'tiny-shapes-lm': tinyShapesLm,
}).map(([folder, json]) => {
  const manifest = `models/${folder}/manifest.json`;
  const entry = parseCatalogEntry(json, { where: manifest, baseUrl: 'https://bundled.invalid/' });
  return { ...entry, source: { kind: 'bundled', manifest, baseUrl: `models/${folder}/` } };
});

/** The built-in catalog — real models' exports, then the bundled models — checked when this module loads. */
export const CATALOG: readonly CatalogEntry[] = [...parseCatalog(catalogJson, 'catalog.json'), ...BUNDLED];

/**
 * The catalog entry with this id.
 * @throws UnknownModelError listing the known ids
 */
export function getCatalogEntry(id: string, catalog: readonly CatalogEntry[] = CATALOG): CatalogEntry {
  const entry = catalog.find((e) => e.id === id);
  if (entry === undefined) {
    const known = catalog.map((e) => e.id);
    throw new UnknownModelError(`Unknown model "${id}"; the catalog has ${known.join(', ')}`, { id, known });
  }
  return entry;
}

/** Where the diffusers layout keeps the scheduler's configuration. */
export const SCHEDULER_CONFIG_FILE = 'scheduler/scheduler_config.json';

/** Where the entry's scheduler configuration is: given in the entry, or a file among the model's. */
export function schedulerOf(entry: CatalogEntry): { readonly file: string } | { readonly config: AnySchedulerConfig } {
  if (entry.scheduler === undefined) return { file: SCHEDULER_CONFIG_FILE };
  return 'file' in entry.scheduler ? { file: entry.scheduler.file } : { config: entry.scheduler.config };
}

/**
 * The files to store for a variant: its own, and the tokenizer's and scheduler configuration's
 * where it does not list them. Exact sizes and digests where the entry gives them; the others
 * are what the host reports, pinned on first download.
 */
export function variantFiles(entry: CatalogEntry, variant: CatalogVariant): { path: string; size?: number; sha256?: string }[] {
  const files = variant.files.map(({ path, size, sha256 }) => ({ path, ...(size !== undefined ? { size } : {}), ...(sha256 !== undefined ? { sha256 } : {}) }));
  const listed = new Set(files.map((file) => file.path));
  const scheduler = schedulerOf(entry);
  for (const path of [...tokenizerFiles(entry.tokenizer), ...('file' in scheduler ? [scheduler.file] : [])]) {
    if (!listed.has(path)) {
      files.push({ path });
      listed.add(path);
    }
  }
  return files;
}

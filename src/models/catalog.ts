/**
 * The model catalog (`catalog.json`, format "webdiffusion-catalog/1"): the models people run in
 * browsers, with where their files are, the I/O contract of each ONNX graph, what the GPU must
 * support and how much memory they need. The data is checked once, when this module loads, so a
 * bad edit fails every test instead of one user's download.
 *
 * A user's own model is described by a catalog entry of the same format, served as
 * `manifest.json` next to its files; `resolveModelSource` turns a base URL or a Hugging Face repo
 * id into that manifest's URL (fetching it is the weight store's job).
 */
import { ManifestError, UnknownModelError } from '../errors.ts';
import catalogJson from './catalog.json' with { type: 'json' };
import type { AnySchedulerConfig } from '../schedulers/scheduler.ts';
import type { DenoiserSpec } from './denoiser.ts';
import { fieldReaders, type Json } from './json-fields.ts';
import type { LatentSpace } from './manifest.ts';
import { PRECISIONS, type Precision } from './precision.ts';
import type { TextEncoderSpec, TokenizerSpec } from './text-spec.ts';

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
}

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
  /**
   * The scheduler configuration (scheduler_config.json's values), for exports that ship none.
   * Without it the model's own `scheduler/scheduler_config.json` (the diffusers layout) is
   * fetched; a bundled model's manifest names its own file. Checked by the schedulers at load.
   */
  readonly scheduler?: { readonly config: AnySchedulerConfig; readonly evidence: string };
  /** Stable Diffusion's UNet when absent. */
  readonly denoiser?: DenoiserSpec;
  /** In order of preference: device fitting takes the first that can run. */
  readonly variants: readonly CatalogVariant[];
}


/**
 * Checks one catalog entry (or a user's manifest.json in the same format) and returns it typed.
 * @param where names the entry in messages: "catalog.json models[2]", a manifest URL, …
 * @throws ManifestError naming the entry and the first field that is missing or malformed
 */
export function parseCatalogEntry(json: unknown, where: string): CatalogEntry {
  const entryName = typeof (json as Json | null)?.id === 'string' ? `"${(json as Json).id as string}"` : where;
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new ManifestError(`Model ${entryName} (${where}): "${field}" must be ${expected}, got ${JSON.stringify(got) ?? 'nothing'}`, {
      source: where,
      entry: entryName,
      field,
    });
  };
  const { object, array, string, boolean, positiveInteger, nonNegative, positive, oneOf, ...read } = fieldReaders(fail);
  const optional = <T>(value: unknown, read: (value: unknown) => T): T | undefined => (value === undefined ? undefined : read(value));

  const tensor = (value: unknown, field: string): TensorSpec => {
    const t = object(value, field);
    return {
      name: string(t.name, `${field}.name`),
      dtype: oneOf(t.dtype, `${field}.dtype`, TENSOR_DTYPES),
      shape: array(t.shape, `${field}.shape`).map((dim, i) =>
        typeof dim === 'string' && dim !== '' ? dim : positiveInteger(dim, `${field}.shape[${i}]`),
      ),
      // A tensor is as verified as its component unless it says otherwise.
      verified: t.verified === undefined ? true : boolean(t.verified, `${field}.verified`),
    };
  };
  const component = (value: unknown, field: string): ComponentSpec => {
    const c = object(value, field);
    const verified = boolean(c.verified, `${field}.verified`);
    const tensors = (key: 'inputs' | 'outputs') =>
      array(c[key], `${field}.${key}`).map((t, i) => {
        const spec = tensor(t, `${field}.${key}[${i}]`);
        return verified ? spec : { ...spec, verified: false };
      });
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
  const denoiser = read.denoiser((json as Json | null)?.denoiser);
  const required: readonly ComponentName[] = [...REQUIRED_COMPONENTS, denoiser.kind === 'transformer' ? 'transformer' : 'unet'];
  const variant = (value: unknown, field: string): CatalogVariant => {
    const v = object(value, field);
    const modelsJson = object(v.models, `${field}.models`);
    for (const key of Object.keys(modelsJson)) {
      oneOf(key, `${field}.models (key)`, [...required, ...OPTIONAL_COMPONENTS]);
    }
    const models: Partial<Record<ComponentName, ComponentSpec>> = {};
    for (const key of [...required, ...OPTIONAL_COMPONENTS]) {
      if (modelsJson[key] !== undefined || required.includes(key)) {
        models[key] = component(modelsJson[key], `${field}.models.${key}`);
      }
    }
    const files = array(v.files, `${field}.files`).map((f, i): CatalogFile => {
      const file = object(f, `${field}.files[${i}]`);
      const size = optional(file.size, (s) =>
        Number.isInteger(s) && (s as number) >= 0 ? (s as number) : fail(`${field}.files[${i}].size`, 'a byte count', s),
      );
      const approxBytes = optional(file.approxBytes, (b) => positive(b, `${field}.files[${i}].approxBytes`));
      if (size !== undefined && approxBytes !== undefined) fail(`${field}.files[${i}]`, 'either size or approxBytes, not both', file);
      return {
        path: string(file.path, `${field}.files[${i}].path`),
        ...(size !== undefined ? { size } : {}),
        ...(approxBytes !== undefined ? { approxBytes } : {}),
      };
    });
    const listed = new Set(files.map((f) => f.path));
    for (const [key, spec] of Object.entries(models)) {
      for (const path of [spec.file, ...(spec.externalData ?? [])]) {
        if (!listed.has(path)) fail(`${field}.models.${key}`, `a file listed in ${field}.files`, path);
      }
    }
    const memory = object(v.memory, `${field}.memory`);
    return {
      id: string(v.id, `${field}.id`),
      precision: oneOf(v.precision, `${field}.precision`, PRECISIONS),
      requiredFeatures: array(v.requiredFeatures, `${field}.requiredFeatures`).map((f, i) => string(f, `${field}.requiredFeatures[${i}]`)),
      files,
      filesVerified: boolean(v.filesVerified, `${field}.filesVerified`),
      filesEvidence: string(v.filesEvidence, `${field}.filesEvidence`),
      models: models as CatalogVariant['models'],
      memory: {
        weightsBytes: positive(memory.weightsBytes, `${field}.memory.weightsBytes`),
        activationsBytes: positive(memory.activationsBytes, `${field}.memory.activationsBytes`),
        largestBindingBytes: positive(memory.largestBindingBytes, `${field}.memory.largestBindingBytes`),
        method: string(memory.method, `${field}.memory.method`),
      },
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

  const root = object(json, '(root)');
  const resolutions = array(root.resolutions, 'resolutions').map((r, i) => {
    const res = object(r, `resolutions[${i}]`);
    return { width: positiveInteger(res.width, `resolutions[${i}].width`), height: positiveInteger(res.height, `resolutions[${i}].height`) };
  });
  if (resolutions.length === 0) fail('resolutions', 'a non-empty array', resolutions);
  const tokenizer = object(root.tokenizer, 'tokenizer');
  const defaults = object(root.defaults, 'defaults');
  const timestep = optional(defaults.timestep, (v) => nonNegative(v, 'defaults.timestep'));
  const variants = array(root.variants, 'variants').map((v, i) => variant(v, `variants[${i}]`));
  const parsedSource = source(root.source);
  const scheduler = optional(root.scheduler, (v) => {
    const s = object(v, 'scheduler');
    const config = object(s.config, 'scheduler.config');
    positiveInteger(config.num_train_timesteps, 'scheduler.config.num_train_timesteps');
    return { config: config as unknown as AnySchedulerConfig, evidence: string(s.evidence, 'scheduler.evidence') };
  });
  if (variants.length === 0) fail('variants', 'a non-empty array', variants);

  return {
    id: string(root.id, 'id'),
    name: string(root.name, 'name'),
    description: typeof root.description === 'string' ? root.description : '',
    source: parsedSource,
    resolutions,
    latent: read.latent(root.latent),
    textEncoder: read.textEncoder(root.textEncoder),
    tokenizer: {
      ...read.tokenizer(tokenizer),
      verified: boolean(tokenizer.verified, 'tokenizer.verified'),
      evidence: string(tokenizer.evidence, 'tokenizer.evidence'),
    },
    defaults: {
      steps: positiveInteger(defaults.steps, 'defaults.steps'),
      guidance: nonNegative(defaults.guidance, 'defaults.guidance'),
      scheduler: string(defaults.scheduler, 'defaults.scheduler'),
      ...(timestep !== undefined ? { timestep } : {}),
    },
    ...(scheduler !== undefined ? { scheduler } : {}),
    ...(root.denoiser !== undefined ? { denoiser } : {}),
    variants,
  };
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

/** The built-in catalog, checked when this module loads. */
export const CATALOG: readonly CatalogEntry[] = parseCatalog(catalogJson, 'catalog.json');

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

/** `https://huggingface.co/<repo>/resolve/<revision>/`, where a repo's files are served from. */
export function huggingFaceBaseUrl(repo: string, revision = 'main'): string {
  return `https://huggingface.co/${repo}/resolve/${encodeURIComponent(revision)}/`;
}

/** Where a user's model lives: the manifest.json to fetch, and the base its paths resolve against. */
export interface ModelLocation {
  readonly manifestUrl: string;
  readonly baseUrl: string;
  readonly repo?: string;
  readonly revision?: string;
}

const HF_REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/**
 * The Hugging Face repo (and revision, default "main") that `text` names — "owner/name" or
 * "owner/name@revision" — or undefined when it is something else: a URL, a path with more or
 * fewer parts, or a relative path to a JSON file ("models/manifest.json").
 */
export function huggingFaceRepoOf(text: string): { readonly repo: string; readonly revision: string } | undefined {
  const [repo, revision = 'main', extra] = text.trim().split('@');
  if (repo === undefined || extra !== undefined || text.includes('://') || repo.endsWith('.json') || !HF_REPO_ID.test(repo)) return undefined;
  return { repo, revision };
}

/**
 * Resolves what a user typed to add a model: a Hugging Face repo id ("owner/name", optionally
 * "owner/name@revision"), a base URL ("https://host/models/mine/"), or the manifest's own URL
 * ("…/manifest.json"). Relative URLs resolve against `pageUrl`.
 * @throws ManifestError when the text is neither a repo id nor an http(s) URL
 */
export function resolveModelSource(reference: string, pageUrl?: string): ModelLocation {
  const text = reference.trim();
  const hub = huggingFaceRepoOf(text);
  if (hub !== undefined) {
    const baseUrl = huggingFaceBaseUrl(hub.repo, hub.revision);
    return { manifestUrl: `${baseUrl}manifest.json`, baseUrl, ...hub };
  }
  let url: URL;
  try {
    url = new URL(text, pageUrl);
  } catch (cause) {
    throw new ManifestError(
      `"${reference}" is neither a Hugging Face repo id ("owner/name" or "owner/name@revision") nor a URL`,
      { source: reference, field: 'source' },
      { cause },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ManifestError(`"${reference}": a model URL must use http or https, not ${url.protocol}`, { source: reference, field: 'source' });
  }
  if (url.pathname.endsWith('.json')) {
    return { manifestUrl: url.href, baseUrl: new URL('./', url).href };
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { manifestUrl: new URL('manifest.json', url).href, baseUrl: url.href };
}

/**
 * The first manifest format ("webdiffusion-manifest/1"), read for compatibility only: a model is
 * now described by a catalog entry (catalog.ts), and a manifest.json of the old format — served
 * by someone, or kept in a browser's store from before — becomes one here (`migrateManifest`).
 * `npm run migrate-manifest` rewrites a model folder's.
 */
import { ManifestError } from '../errors.ts';
import { isSchedulerName } from '../schedulers/index.ts';
import type { SchedulerName } from '../schedulers/scheduler.ts';
import type { CatalogEntry, CatalogVariant, ComponentName, ComponentSpec, LatentSpace, TensorDtype, TensorSpec } from './catalog.ts';
import { SD_UNET, type DenoiserSpec } from './denoiser.ts';
import { fieldReaders } from './json-fields.ts';
import { PRECISIONS, type Precision } from './precision.ts';
import type { TextEncoderSpec, TokenizerSpec } from './text-spec.ts';

export const LEGACY_MANIFEST_FORMAT = 'webdiffusion-manifest/1';
const MANIFEST_FORMAT = LEGACY_MANIFEST_FORMAT;

interface ManifestFile {
  readonly path: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}

interface ManifestModel {
  /** The .onnx file, relative to the manifest. */
  readonly file: string;
  /** Documentation of its inputs and outputs; carried over to the catalog entry, unverified. */
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /**
   * Its external-data files (weights kept outside the protobuf, which cannot pass 2 GB),
   * relative to the manifest. Optional: a listed file named like `file` plus "_data"
   * ("unet/model.onnx_data", what Optimum and `onnx.save(..., save_as_external_data=True)` write)
   * counts without being named here.
   */
  readonly externalData?: readonly string[];
}

interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly resolution: { readonly width: number; readonly height: number };
  readonly latent: LatentSpace;
  readonly textEncoder: TextEncoderSpec;
  readonly tokenizer: TokenizerSpec;
  readonly scheduler: { readonly config: string };
  /** Stable Diffusion's UNet when the manifest declares none. */
  readonly denoiser: DenoiserSpec;
  readonly defaults: { readonly steps: number; readonly guidance: number; readonly scheduler: SchedulerName };
  /** Optional, 'fp32' when absent; the quantizer writes 'q8' or 'q4'. */
  readonly precision?: Precision;
  /** The denoiser is `unet` or `transformer` (one of the two, as `denoiser.kind` says). */
  readonly models: {
    readonly text_encoder: ManifestModel;
    readonly unet?: ManifestModel;
    readonly transformer?: ManifestModel;
    readonly vae_decoder: ManifestModel;
    readonly vae_encoder?: ManifestModel;
  };
  readonly files: readonly ManifestFile[];
}


/**
 * A "webdiffusion-manifest/1" document as the catalog entry that describes the same model: one
 * variant, of the manifest's precision, with every file's size and digest, and its files'
 * sizes for device fitting's memory estimate.
 * @param source the manifest's URL, for messages; its folder is the entry's base URL
 * @throws ManifestError naming the first field that is missing or has the wrong type
 */
export function migrateManifest(json: unknown, source: string): CatalogEntry {
  return entryFromManifest(parseManifest(json, source), source);
}

/** Whether `json` claims the old manifest format. */
export function isLegacyManifest(json: unknown): boolean {
  return typeof json === 'object' && json !== null && (json as { format?: unknown }).format === LEGACY_MANIFEST_FORMAT;
}

/**
 * Checks a parsed manifest.json and returns it typed. The models' input and output lists are
 * documentation: the runtime reads them from the sessions themselves.
 */
function parseManifest(json: unknown, source: string): Manifest {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new ManifestError(`${source}: "${field}" must be ${expected}, got ${JSON.stringify(got) ?? 'nothing'}`, {
      source,
      field,
    });
  };
  const { object, string, positiveInteger, ...read } = fieldReaders(fail);

  const root = object(json, '(root)');
  if (root.format !== MANIFEST_FORMAT) fail('format', `"${MANIFEST_FORMAT}"`, root.format);
  const resolution = object(root.resolution, 'resolution');
  const scheduler = object(root.scheduler, 'scheduler');
  const defaults = object(root.defaults, 'defaults');
  const models = object(root.models, 'models');
  const model = (key: string): ManifestModel => {
    const entry = object(models[key], `models.${key}`);
    const externalData = entry.externalData;
    if (externalData !== undefined && !(Array.isArray(externalData) && externalData.every((path) => typeof path === 'string' && path !== ''))) {
      fail(`models.${key}.externalData`, 'an array of file paths', externalData);
    }
    return {
      file: string(entry.file, `models.${key}.file`),
      ...(externalData !== undefined ? { externalData: externalData as string[] } : {}),
      inputs: tensorList(entry.inputs),
      outputs: tensorList(entry.outputs),
    };
  };
  if (!Array.isArray(root.files)) fail('files', 'an array', root.files);
  const defaultScheduler = string(defaults.scheduler, 'defaults.scheduler');
  if (!isSchedulerName(defaultScheduler)) fail('defaults.scheduler', 'a known scheduler name', defaultScheduler);
  const guidance = defaults.guidance;
  if (typeof guidance !== 'number' || !Number.isFinite(guidance) || guidance < 0) {
    fail('defaults.guidance', 'a finite number >= 0', guidance);
  }

  const denoiser = read.denoiser(root.denoiser);
  const denoiserKey = denoiser.kind === 'transformer' ? 'transformer' : 'unet';
  return {
    format: MANIFEST_FORMAT,
    id: string(root.id, 'id'),
    name: typeof root.name === 'string' ? root.name : string(root.id, 'id'),
    description: typeof root.description === 'string' ? root.description : '',
    resolution: {
      width: positiveInteger(resolution.width, 'resolution.width'),
      height: positiveInteger(resolution.height, 'resolution.height'),
    },
    latent: read.latent(root.latent),
    textEncoder: read.textEncoder(root.textEncoder),
    tokenizer: read.tokenizer(root.tokenizer),
    scheduler: { config: string(scheduler.config, 'scheduler.config') },
    denoiser,
    defaults: {
      steps: positiveInteger(defaults.steps, 'defaults.steps'),
      guidance: guidance as number,
      scheduler: defaultScheduler as SchedulerName,
    },
    ...(root.precision !== undefined
      ? { precision: PRECISIONS.includes(root.precision as Precision) ? (root.precision as Precision) : fail('precision', `one of ${PRECISIONS.join(', ')}`, root.precision) }
      : {}),
    models: {
      text_encoder: model('text_encoder'),
      [denoiserKey]: model(denoiserKey),
      vae_decoder: model('vae_decoder'),
      ...(models.vae_encoder !== undefined ? { vae_encoder: model('vae_encoder') } : {}),
    },
    files: (root.files as unknown[]).map((entry, index) => {
      const file = object(entry, `files[${index}]`);
      const sha256 = string(file.sha256, `files[${index}].sha256`);
      if (!/^[0-9a-f]{64}$/.test(sha256)) fail(`files[${index}].sha256`, '64 lower-case hex digits', sha256);
      return {
        path: string(file.path, `files[${index}].path`),
        size: Number.isInteger(file.size) && (file.size as number) >= 0 ? (file.size as number) : fail(`files[${index}].size`, 'a byte count', file.size),
        sha256,
      };
    }),
  };
}

/** A manifest's tensor list, where it has a usable one: names, dtypes and shapes, unverified. */
function tensorList(value: unknown): TensorSpec[] {
  if (!Array.isArray(value)) return [];
  const dtypes: readonly TensorDtype[] = ['float32', 'float16', 'int32', 'int64'];
  return value.flatMap((tensor: { name?: unknown; dtype?: unknown; shape?: unknown }) => {
    if (typeof tensor !== 'object' || tensor === null || typeof tensor.name !== 'string' || !Array.isArray(tensor.shape)) return [];
    const shape = tensor.shape.filter((dim): dim is number | string => (typeof dim === 'number' && dim > 0) || (typeof dim === 'string' && dim !== ''));
    const dtype = dtypes.includes(tensor.dtype as TensorDtype) ? (tensor.dtype as TensorDtype) : 'unknown';
    return shape.length === tensor.shape.length ? [{ name: tensor.name, dtype, shape, verified: false }] : [];
  });
}

/** The catalog entry of a checked manifest. */
function entryFromManifest(manifest: Manifest, source: string): CatalogEntry {
  const evidence = `${source} (${LEGACY_MANIFEST_FORMAT})`;
  const models: Partial<Record<ComponentName, ComponentSpec>> = {};
  for (const [key, network] of Object.entries(manifest.models) as [ComponentName, ManifestModel][]) {
    models[key] = {
      file: network.file,
      externalData: externalDataOf(manifest, network),
      inputs: network.inputs,
      outputs: network.outputs,
      verified: false,
      evidence,
    };
  }
  const sizeOf = (path: string): number => manifest.files.find((file) => file.path === path)?.size ?? 0;
  const networkBytes = Object.values(models).map((spec) => [spec.file, ...(spec.externalData ?? [])].reduce((total, path) => total + sizeOf(path), 0));
  const { width, height } = manifest.resolution;
  const variant: CatalogVariant = {
    id: manifest.precision ?? 'fp32',
    precision: manifest.precision ?? 'fp32',
    requiredFeatures: [],
    files: manifest.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    filesVerified: true,
    filesEvidence: evidence,
    models: models as CatalogVariant['models'],
    memory: {
      weightsBytes: Math.max(1, networkBytes.reduce((total, bytes) => total + bytes, 0)),
      // The largest map a VAE decoder holds at full resolution (128 channels of float32), eight at once.
      activationsBytes: 8 * 128 * width * height * 4,
      largestBindingBytes: Math.max(1, ...networkBytes),
      method: `Migrated from ${LEGACY_MANIFEST_FORMAT}: weights are the networks' file sizes; activations a bound from the resolution (eight float32 maps of 128 channels).`,
    },
  };
  return {
    id: manifest.id,
    name: manifest.name,
    description: manifest.description,
    source: { kind: 'url', baseUrl: new URL('./', source).href },
    resolutions: [manifest.resolution],
    latent: manifest.latent,
    textEncoder: manifest.textEncoder,
    tokenizer: { ...manifest.tokenizer, verified: true, evidence },
    defaults: manifest.defaults,
    scheduler: { file: manifest.scheduler.config },
    ...(manifest.denoiser !== SD_UNET ? { denoiser: manifest.denoiser } : {}),
    variants: [variant],
  };
}

/** A network's external-data files: those the manifest names, else a listed `<file>_data`. */
function externalDataOf(manifest: Manifest, network: ManifestModel): readonly string[] {
  if (network.externalData !== undefined) return network.externalData;
  const conventional = `${network.file}_data`;
  return manifest.files.some((file) => file.path === conventional) ? [conventional] : [];
}

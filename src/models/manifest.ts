/**
 * The model manifest (`manifest.json`, format "webdiffusion-manifest/1"): what a model is made
 * of, where its files are (relative to the manifest's URL), and their sizes and digests.
 */
import { ManifestError } from '../errors.ts';
import { isSchedulerName } from '../schedulers/index.ts';
import type { SchedulerName } from '../schedulers/scheduler.ts';
import type { DenoiserSpec } from './denoiser.ts';
import { fieldReaders } from './json-fields.ts';
import { PRECISIONS, type Precision } from './precision.ts';
import type { TextEncoderSpec, TokenizerSpec } from './text-spec.ts';

export const MANIFEST_FORMAT = 'webdiffusion-manifest/1';

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}

export interface ManifestModel {
  /** The .onnx file, relative to the manifest. */
  readonly file: string;
  /**
   * Its external-data files (weights kept outside the protobuf, which cannot pass 2 GB),
   * relative to the manifest. Optional: a listed file named like `file` plus "_data"
   * ("unet/model.onnx_data", what Optimum and `onnx.save(..., save_as_external_data=True)` write)
   * counts without being named here.
   */
  readonly externalData?: readonly string[];
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

export interface Manifest {
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
 * Checks a parsed manifest.json and returns it typed. The models' input and output lists are
 * documentation here: the runtime reads them from the sessions themselves.
 * @param source the manifest's URL, for messages
 * @throws ManifestError naming the first field that is missing or has the wrong type
 */
export function parseManifest(json: unknown, source: string): Manifest {
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

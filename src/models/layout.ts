/**
 * A model's layout: everything loading needs — where each network, the tokenizer and the
 * scheduler configuration are among its files, and its defaults — from either description we
 * have: a manifest ("webdiffusion-manifest/1", our own models, with sizes and digests) or a
 * catalog entry's variant (real exports, whose digests and sizes the host reports).
 */
import { ManifestError } from '../errors.ts';
import { isSchedulerName } from '../schedulers/index.ts';
import type { AnySchedulerConfig, SchedulerName } from '../schedulers/scheduler.ts';
import type { FileListSource, ListedFile } from '../storage/model-source.ts';
import type { CatalogEntry, CatalogVariant, ComponentName, ComponentSpec, Precision } from './catalog.ts';
import { SD_UNET, type DenoiserSpec } from './denoiser.ts';
import type { LatentSpace, Manifest, ManifestModel } from './manifest.ts';
import { tokenizerFiles, type TextEncoderSpec, type TokenizerSpec } from './text-spec.ts';

/** One network: its .onnx file and external-data files, relative to the model's base. */
export interface ModelComponent {
  readonly file: string;
  readonly externalData: readonly string[];
}

export interface ModelLayout {
  /** The id the weight store keeps the files under. */
  readonly storeId: string;
  /** The model's id as users name it (the catalog's or the manifest's). */
  readonly modelId: string;
  readonly name: string;
  /** The catalog variant, when loaded from the catalog. */
  readonly variant: string | undefined;
  readonly precision: Precision;
  readonly resolution: { readonly width: number; readonly height: number };
  readonly latent: LatentSpace;
  readonly textEncoder: TextEncoderSpec;
  readonly tokenizer: TokenizerSpec;
  /** A file among the model's, or the configuration itself. */
  readonly scheduler: { readonly file: string } | { readonly config: AnySchedulerConfig };
  readonly defaults: { readonly steps: number; readonly guidance: number; readonly scheduler: SchedulerName };
  readonly denoiser: DenoiserSpec;
  /** The denoiser is `unet` or `transformer`, as `denoiser.kind` says (`denoiserComponent`). */
  readonly components: Readonly<Partial<Record<ComponentName, ModelComponent>>> & {
    readonly text_encoder: ModelComponent;
    readonly vae_decoder: ModelComponent;
  };
}

/**
 * The layout's denoising network.
 * @throws ManifestError when the component its denoiser kind names is missing
 */
export function denoiserComponent(layout: ModelLayout): ModelComponent {
  const key = layout.denoiser.kind === 'transformer' ? 'transformer' : 'unet';
  const component = layout.components[key];
  if (component === undefined) throw new ManifestError(`Model ${layout.modelId}: its ${layout.denoiser.kind} denoiser needs a "${key}" model`, { modelId: layout.modelId, field: `models.${key}` });
  return component;
}

/** Where the diffusers layout keeps the scheduler's configuration. */
export const SCHEDULER_CONFIG_FILE = 'scheduler/scheduler_config.json';

/** A manifest's layout; the store id is the manifest's id. */
export function layoutFromManifest(manifest: Manifest): ModelLayout {
  const component = (network: ManifestModel): ModelComponent => ({ file: network.file, externalData: externalDataOf(manifest, network) });
  const { text_encoder, unet, transformer, vae_decoder, vae_encoder } = manifest.models;
  return {
    storeId: manifest.id,
    modelId: manifest.id,
    name: manifest.name,
    variant: undefined,
    precision: manifest.precision ?? 'fp32',
    resolution: manifest.resolution,
    latent: manifest.latent,
    textEncoder: manifest.textEncoder,
    tokenizer: manifest.tokenizer,
    scheduler: { file: manifest.scheduler.config },
    defaults: manifest.defaults,
    denoiser: manifest.denoiser,
    components: {
      text_encoder: component(text_encoder),
      ...(unet !== undefined ? { unet: component(unet) } : {}),
      ...(transformer !== undefined ? { transformer: component(transformer) } : {}),
      vae_decoder: component(vae_decoder),
      ...(vae_encoder !== undefined ? { vae_encoder: component(vae_encoder) } : {}),
    },
  };
}

/** A network's external-data files: those the manifest names, else a listed `<file>_data`. */
export function externalDataOf(manifest: Manifest, network: ManifestModel): readonly string[] {
  if (network.externalData !== undefined) return network.externalData;
  const conventional = `${network.file}_data`;
  return manifest.files.some((file) => file.path === conventional) ? [conventional] : [];
}

/** The weight store's id for a catalog variant: "<entry id>@<variant id>". */
export function catalogStoreId(entry: CatalogEntry, variant: CatalogVariant): string {
  return `${entry.id}@${variant.id}`;
}

/**
 * A catalog variant's layout; stored as "<entry id>@<variant id>", so that variants of one model
 * are cached side by side.
 * @throws ManifestError when the entry's default scheduler is not one we have
 */
export function layoutFromCatalog(entry: CatalogEntry, variant: CatalogVariant): ModelLayout {
  if (!isSchedulerName(entry.defaults.scheduler)) {
    throw new ManifestError(`Model "${entry.id}": its default scheduler "${entry.defaults.scheduler}" is not one this runtime has`, {
      entry: entry.id,
      field: 'defaults.scheduler',
    });
  }
  const components: Partial<Record<ComponentName, ModelComponent>> = {};
  for (const [name, spec] of Object.entries(variant.models) as [ComponentName, ComponentSpec][]) {
    components[name] = { file: spec.file, externalData: spec.externalData ?? [] };
  }
  const [resolution] = entry.resolutions;
  return {
    storeId: catalogStoreId(entry, variant),
    modelId: entry.id,
    name: entry.name,
    variant: variant.id,
    precision: variant.precision,
    resolution: resolution!,
    latent: entry.latent,
    textEncoder: entry.textEncoder,
    tokenizer: withoutEvidence(entry.tokenizer),
    scheduler: entry.scheduler !== undefined ? { config: entry.scheduler.config } : { file: SCHEDULER_CONFIG_FILE },
    defaults: { steps: entry.defaults.steps, guidance: entry.defaults.guidance, scheduler: entry.defaults.scheduler },
    denoiser: entry.denoiser ?? SD_UNET,
    components: components as ModelLayout['components'],
  };
}

/**
 * The files the weight store fetches for a catalog variant: the variant's, the tokenizer's and,
 * when the entry carries no scheduler configuration, the model's own. Exact sizes where the
 * catalog knows them; digests (and the other sizes) are what the host reports, pinned on first
 * download.
 */
export function catalogFileList(entry: CatalogEntry, variant: CatalogVariant): FileListSource {
  const files: ListedFile[] = variant.files.map((file) => ({ path: file.path, ...(file.size !== undefined ? { size: file.size } : {}) }));
  const listed = new Set(files.map((file) => file.path));
  const extra = [...tokenizerFiles(entry.tokenizer), ...(entry.scheduler === undefined ? [SCHEDULER_CONFIG_FILE] : [])];
  for (const path of extra) {
    if (!listed.has(path)) {
      files.push({ path });
      listed.add(path);
    }
  }
  return { id: catalogStoreId(entry, variant), baseUrl: entry.source.baseUrl, files };
}

/** The tokenizer's description without the catalog's notes on where it was verified. */
function withoutEvidence(tokenizer: CatalogEntry['tokenizer']): TokenizerSpec {
  const { verified: _verified, evidence: _evidence, ...spec } = tokenizer;
  return spec;
}

/**
 * A model's layout: everything loading needs — where each network, the tokenizer and the
 * scheduler configuration are among its files, and its defaults — from its descriptor (a catalog
 * entry) and the variant of it that device fitting chose.
 */
import { ManifestError } from '../errors.ts';
import { isSchedulerName } from '../schedulers/index.ts';
import type { AnySchedulerConfig, SchedulerName } from '../schedulers/scheduler.ts';
import type { FileListSource } from '../storage/model-source.ts';
import { schedulerOf, variantFiles, type CatalogEntry, type CatalogVariant, type ComponentName, type ComponentSpec, type LatentSpace, type Precision } from './catalog.ts';
import { SD_UNET, type DenoiserSpec } from './denoiser.ts';
import type { TextEncoderSpec, TokenizerSpec } from './text-spec.ts';

/** One network: its .onnx file and external-data files, relative to the model's base. */
export interface ModelComponent {
  readonly file: string;
  readonly externalData: readonly string[];
}

export interface ModelLayout {
  /** The id the weight store keeps the files under. */
  readonly storeId: string;
  /** The model's id as users name it (its descriptor's). */
  readonly modelId: string;
  readonly name: string;
  /** The descriptor's variant. */
  readonly variant: string;
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


/** The weight store's id for a catalog variant: "<entry id>@<variant id>". */
export function catalogStoreId(entry: CatalogEntry, variant: CatalogVariant): string {
  return `${entry.id}@${variant.id}`;
}

/**
 * A variant's layout. `storeId` is what the weight store keeps its files under: a catalog
 * variant's "<entry id>@<variant id>" (variants of one model are cached side by side) unless
 * given (a descriptor fetched from a URL is kept under that URL).
 * @throws ManifestError when the entry's default scheduler is not one we have
 */
export function layoutFromCatalog(entry: CatalogEntry, variant: CatalogVariant, storeId = catalogStoreId(entry, variant)): ModelLayout {
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
    storeId,
    modelId: entry.id,
    name: entry.name,
    variant: variant.id,
    precision: variant.precision,
    resolution: resolution!,
    latent: entry.latent,
    textEncoder: entry.textEncoder,
    tokenizer: withoutEvidence(entry.tokenizer),
    scheduler: schedulerOf(entry),
    defaults: { steps: entry.defaults.steps, guidance: entry.defaults.guidance, scheduler: entry.defaults.scheduler },
    denoiser: entry.denoiser ?? SD_UNET,
    components: components as ModelLayout['components'],
  };
}

/**
 * The file list the weight store fetches for a catalog variant (see `variantFiles`), under
 * "<entry id>@<variant id>".
 */
export function catalogFileList(entry: CatalogEntry, variant: CatalogVariant): FileListSource {
  return { id: catalogStoreId(entry, variant), baseUrl: entry.source.baseUrl, files: variantFiles(entry, variant) };
}

/** The tokenizer's description without the catalog's notes on where it was verified. */
function withoutEvidence(tokenizer: CatalogEntry['tokenizer']): TokenizerSpec {
  const { verified: _verified, evidence: _evidence, ...spec } = tokenizer;
  return spec;
}

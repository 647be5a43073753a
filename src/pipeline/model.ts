/**
 * A diffusion model loaded from the weight store: tokenizer, scheduler config and the networks'
 * sessions on one backend. The store has checked every file against the manifest's
 * SHA-256 before this reads it: ONNX Runtime never sees a partial or unverified file.
 */
import type { ModelInfo } from '../api.ts';
import { InvalidRequestError, ManifestError, ModelLoadError } from '../errors.ts';
import { denoiserComponent, type ModelComponent, type ModelLayout } from '../models/layout.ts';
import { addLoraBranches, type LoraGraph, type LoraTarget } from '../lora/lora-graph.ts';
import type { LoraComponent } from '../lora/lora-file.ts';
import { OrtSession, type Backend } from '../ort/ort.ts';
import { createScheduler, schedulersFor } from '../schedulers/index.ts';
import { isFlowConfig, type AnySchedulerConfig } from '../schedulers/scheduler.ts';
import type { StoredModel, WeightStore } from '../storage/weight-store.ts';
import { tokenizerFiles } from '../models/text-spec.ts';
import { loadPromptTokenizer } from '../tokenizer/load-tokenizer.ts';
import type { PromptTokenizer } from '../tokenizer/prompt-tokenizer.ts';
import { setBranchFeeds } from './lora-branches.ts';
import { DenoiserModel, VaeDecoderModel, VaeEncoderModel } from './components.ts';
import { TextConditioner, TextEncoderModel } from './text-encoders.ts';

export interface DiffusionModel {
  readonly info: ModelInfo;
  readonly layout: ModelLayout;
  readonly backend: Backend;
  /** The device the sessions run on; undefined on the 'wasm' backend. */
  readonly device: GPUDevice | undefined;
  readonly tokenizer: PromptTokenizer;
  readonly schedulerConfig: AnySchedulerConfig;
  /** One text encoder, or two (SDXL). */
  readonly text: TextConditioner;
  /** The UNet or the transformer, as the layout declares. */
  readonly denoiser: DenoiserModel;
  readonly vaeDecoder: VaeDecoderModel;
  /**
   * The VAE encoder, for image-to-image and inpainting: its session is created on first use.
   * @throws InvalidRequestError when the model has none
   */
  vaeEncoder(): Promise<VaeEncoderModel>;
  /** Every session created for the model so far (the encoder's once used), for release. */
  readonly sessions: readonly OrtSession[];
  /**
   * Loaded with LoRA support (`LoadOptions.lora`): the UNet's and text encoders' sessions run
   * graphs with LoRA branches (src/lora/lora-graph.ts), whose inputs these targets list.
   */
  readonly lora?: ReadonlyMap<LoraComponent, { readonly session: OrtSession; readonly targets: readonly LoraTarget[] }>;
}

export interface LoadOptions {
  readonly backend: Backend;
  /** Required for 'webgpu'. */
  readonly device?: GPUDevice;
  /** Said to the user with the model (ModelInfo.warnings): a CPU fallback, an unverified export. */
  readonly warnings?: readonly string[];
  /**
   * LoRA support: the UNet's and text encoders' graphs with LoRA branches (`loraGraphs`), used
   * instead of their files.
   */
  readonly lora?: ReadonlyMap<LoraComponent, LoraGraph>;
}

/**
 * Creates a model's sessions from its files in the store.
 * @param stored what `store.ensureModel(…)` returned for `layout.storeId`
 * @throws ManifestError when the layout names a file the model does not list, or the scheduler
 *   config is malformed
 * @throws ModelLoadError when a file is not stored, or does not load as a model
 * @throws IntegrityError when a stored file was damaged (it is removed; loading again fetches it)
 * @throws TokenizerError when the tokenizer's files are inconsistent
 */
export async function loadDiffusionModel(stored: StoredModel, store: WeightStore, layout: ModelLayout, options: LoadOptions): Promise<DiffusionModel> {
  const { backend, device } = options;
  const denoiser = denoiserComponent(layout);
  const networks = Object.values(layout.components) as ModelComponent[];
  checkListed(stored, [
    ...tokenizerFiles(layout.tokenizer),
    ...('file' in layout.scheduler ? [layout.scheduler.file] : []),
    ...networks.flatMap((network) => [network.file, ...network.externalData]),
  ]);

  const text = async (path: string): Promise<string> => new TextDecoder().decode(await store.bytes(stored.key, path));
  checkTextPadding(layout);
  const tokenizer = await loadPromptTokenizer(layout.tokenizer, layout.textEncoder, text);
  const config = (
    'file' in layout.scheduler ? parseJson(await text(layout.scheduler.file), layout.scheduler.file) : layout.scheduler.config
  ) as AnySchedulerConfig;
  checkPrediction(layout, config);
  // A config the schedulers cannot use fails here, at load time, rather than at the first request.
  createScheduler(layout.defaults.scheduler, config, layout.denoiser.outputSign).setTimesteps(layout.defaults.steps, {
    imageTokens: imageTokens(layout, layout.resolution.width, layout.resolution.height),
  });

  const created: OrtSession[] = [];
  const lora = new Map<LoraComponent, { session: OrtSession; targets: readonly LoraTarget[] }>();
  const session = async (network: ModelComponent, loraComponent?: LoraComponent): Promise<OrtSession> => {
    // Blobs read lazily from disk: the bytes are read one session at a time (see OrtSession.create).
    let model = await store.open(stored.key, network.file);
    const graph = loraComponent !== undefined ? options.lora?.get(loraComponent) : undefined;
    if (graph !== undefined) model = graph.model;
    const targets = graph?.targets;
    const externalData = await Promise.all(
      network.externalData.map(async (path) => ({ path: relativeTo(network.file, path), data: await store.open(stored.key, path) })),
    );
    try {
      const s = await OrtSession.create(model, {
        backend,
        ...(device !== undefined ? { device } : {}),
        outputsOnGpu: backend === 'webgpu',
        externalData,
      });
      created.push(s);
      if (targets !== undefined && loraComponent !== undefined) {
        setBranchFeeds(s, loraComponent, targets, []);
        lora.set(loraComponent, { session: s, targets });
      }
      return s;
    } catch (error) {
      throw new ModelLoadError(
        `${network.file} could not be loaded on the ${backend} backend: ${(error as Error).message}`,
        { path: network.file, backend },
        { cause: error },
      );
    }
  };
  try {
    const { text_encoder, text_encoder_2, vae_decoder } = layout.components;
    const encoders = [new TextEncoderModel(await session(text_encoder, 'text_encoder'), 'text_encoder', layout.textEncoder)];
    if (text_encoder_2 !== undefined) encoders.push(new TextEncoderModel(await session(text_encoder_2, 'text_encoder_2'), 'text_encoder_2'));
    // LoRAs apply to a UNet (the diffusers/kohya layouts name its modules); a transformer takes none yet.
    const denoiserSession = await session(denoiser, layout.denoiser.kind === 'unet' ? 'unet' : undefined);
    const denoiserModel = new DenoiserModel(denoiserSession, layout.denoiser, device);
    const vaeDecoder = new VaeDecoderModel(await session(vae_decoder), device);
    let encoder: Promise<VaeEncoderModel> | undefined;
    return {
      info: {
        id: layout.modelId,
        name: layout.name,
        width: layout.resolution.width,
        height: layout.resolution.height,
        defaults: layout.defaults,
        schedulers: schedulersFor(config),
        guidanceMode: layout.denoiser.guidance,
        backend,
        runtime: denoiserSession.runtime,
        precision: layout.precision,
        ...(layout.variant !== undefined ? { variant: layout.variant } : {}),
        warnings: options.warnings ?? [],
      },
      layout,
      backend,
      device,
      tokenizer,
      schedulerConfig: config,
      text: new TextConditioner(encoders, device),
      denoiser: denoiserModel,
      vaeDecoder,
      sessions: created,
      ...(options.lora !== undefined ? { lora } : {}),
      vaeEncoder() {
        const { vae_encoder } = layout.components;
        if (vae_encoder === undefined) {
          return Promise.reject(new InvalidRequestError(`Model ${layout.modelId} has no VAE encoder: it cannot start from a picture`, { field: 'image' }));
        }
        encoder ??= session(vae_encoder).then((s) => new VaeEncoderModel(s));
        // A failed load is not kept: the next request tries again.
        encoder.catch(() => (encoder = undefined));
        return encoder;
      },
    };
  } catch (error) {
    await Promise.all(created.map((s) => s.release()));
    throw error;
  }
}

/**
 * The graphs of the networks LoRAs apply to (text encoders, UNet), rewritten with LoRA branches:
 * for matching a LoRA's keys before any session is made, then for `LoadOptions.lora`.
 * @throws ModelLoadError when a file is not a readable ONNX model
 */
export async function loraGraphs(stored: StoredModel, store: WeightStore, layout: ModelLayout): Promise<Map<LoraComponent, LoraGraph>> {
  const graphs = new Map<LoraComponent, LoraGraph>();
  for (const component of ['text_encoder', 'text_encoder_2', 'unet'] as const) {
    const network = layout.components[component];
    if (network === undefined) continue;
    try {
      graphs.set(component, await addLoraBranches(await store.open(stored.key, network.file)));
    } catch (error) {
      throw new ModelLoadError(`${network.file} could not be read for LoRA support: ${(error as Error).message}`, { path: network.file }, { cause: error });
    }
  }
  return graphs;
}

/**
 * The denoiser's prediction and the scheduler config must agree: flow velocity with a flow
 * matching config, noise with a noise-prediction one.
 * @throws ManifestError when they do not, or the prediction is one no scheduler here takes
 */
function checkPrediction(layout: ModelLayout, config: AnySchedulerConfig): void {
  const { prediction } = layout.denoiser;
  const configured = isFlowConfig(config) ? 'flow' : config.prediction_type;
  if (prediction !== configured) {
    const what = { flow: 'flow velocity', epsilon: 'noise', v_prediction: 'v (v_prediction)' } as const;
    throw new ManifestError(
      `Model ${layout.modelId}: its denoiser predicts ${what[prediction]} but its scheduler config is for ${what[configured as keyof typeof what] ?? String(configured)}`,
      { modelId: layout.modelId, field: 'denoiser.prediction' },
    );
  }
}

/**
 * A text encoder whose padding is dropped gives each prompt its own length, and one guided batch
 * cannot hold a prompt and a negative prompt of different lengths: such a model must run one pass.
 * @throws ManifestError when the denoiser is declared for two-pass guidance
 */
function checkTextPadding(layout: ModelLayout): void {
  if (layout.textEncoder.padding === 'drop' && layout.denoiser.guidance === 'cfg') {
    throw new ManifestError(
      `Model ${layout.modelId}: its text encoder's padding is dropped (each prompt keeps its own length), which needs a denoiser without two-pass guidance (denoiser.guidance "none" or "embedded")`,
      { modelId: layout.modelId, field: 'textEncoder.padding' },
    );
  }
}

/** Latent patches of a picture: what FLUX's dynamic time shift depends on. */
export function imageTokens(layout: Pick<ModelLayout, 'latent' | 'denoiser'>, width: number, height: number): number {
  const side = layout.latent.downsample * layout.denoiser.patchSize;
  return Math.floor(width / side) * Math.floor(height / side);
}

/** Releases the model's sessions (and the GPU memory their weights hold). */
export async function releaseDiffusionModel(model: DiffusionModel): Promise<void> {
  await Promise.all(model.sessions.map((s) => s.release()));
}

/**
 * `path` relative to the folder of `modelFile`, both relative to the manifest: the name the
 * .onnx file gives its external data ("unet/model.onnx_data" next to "unet/model.onnx" is
 * "model.onnx_data").
 */
export function relativeTo(modelFile: string, path: string): string {
  const folder = modelFile.split('/').slice(0, -1);
  const parts = path.split('/');
  let common = 0;
  while (common < folder.length && common < parts.length - 1 && folder[common] === parts[common]) common++;
  return [...folder.slice(common).map(() => '..'), ...parts.slice(common)].join('/');
}

/**
 * Every file the layout names for loading must be among the model's stored files: the store
 * downloads and verifies only listed files.
 * @throws ManifestError naming the first one that is not
 */
function checkListed(stored: StoredModel, paths: readonly string[]): void {
  const listed = new Set(stored.files.map((file) => file.path));
  const unlisted = paths.find((path) => !listed.has(path));
  if (unlisted !== undefined) {
    throw new ManifestError(`${stored.id}: the model needs ${unlisted} but does not list it in its files (with its size and SHA-256)`, {
      modelId: stored.id,
      path: unlisted,
    });
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${source} is not valid JSON: ${(error as Error).message}`, { source }, { cause: error });
  }
}

/**
 * A diffusion model loaded from the weight store: tokenizer, scheduler config and the three
 * networks' sessions on one backend. The store has checked every file against the manifest's
 * SHA-256 before this reads it: ONNX Runtime never sees a partial or unverified file.
 */
import type { ModelInfo } from '../api.ts';
import { ManifestError, ModelLoadError } from '../errors.ts';
import type { Manifest, ManifestModel } from '../models/manifest.ts';
import { OrtSession, type Backend } from '../ort/ort.ts';
import { createScheduler } from '../schedulers/index.ts';
import type { SchedulerConfig } from '../schedulers/scheduler.ts';
import type { StoredModel, WeightStore } from '../storage/weight-store.ts';
import { createClipTokenizer, type ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { TextEncoderModel, UnetModel, VaeDecoderModel } from './components.ts';

export interface DiffusionModel {
  readonly info: ModelInfo;
  readonly manifest: Manifest;
  readonly backend: Backend;
  /** The device the sessions run on; undefined on the 'wasm' backend. */
  readonly device: GPUDevice | undefined;
  readonly tokenizer: ClipTokenizer;
  readonly schedulerConfig: SchedulerConfig;
  readonly textEncoder: TextEncoderModel;
  readonly unet: UnetModel;
  readonly vaeDecoder: VaeDecoderModel;
}

export interface LoadOptions {
  readonly backend: Backend;
  /** Required for 'webgpu'. */
  readonly device?: GPUDevice;
}

/**
 * Creates a model's sessions from its files in the store.
 * @param stored what `store.ensureModel(manifestUrl)` returned
 * @throws ManifestError when the model was not stored from a manifest, the manifest names a file
 *   it does not list, or the scheduler config is malformed
 * @throws ModelLoadError when a file is not stored, or does not load as a model
 * @throws IntegrityError when a stored file was damaged (it is removed; loading again fetches it)
 * @throws TokenizerError when the tokenizer's files are inconsistent
 */
export async function loadDiffusionModel(stored: StoredModel, store: WeightStore, options: LoadOptions): Promise<DiffusionModel> {
  const { backend, device } = options;
  const manifest = stored.manifest;
  if (manifest === null) {
    throw new ManifestError(`${stored.id} was stored from a file list, not a manifest: a diffusion model needs its manifest`, { modelId: stored.id });
  }
  const networks = [manifest.models.text_encoder, manifest.models.unet, manifest.models.vae_decoder];
  checkListed(manifest, [manifest.tokenizer.vocab, manifest.tokenizer.merges, manifest.scheduler.config, ...networks.flatMap((network) => [network.file, ...externalDataOf(manifest, network)])]);

  const text = async (path: string): Promise<string> => new TextDecoder().decode(await store.bytes(stored.id, path));
  const [vocab, merges, schedulerConfig] = await Promise.all([text(manifest.tokenizer.vocab), text(manifest.tokenizer.merges), text(manifest.scheduler.config)]);
  const tokenizer = createClipTokenizer(parseJson(vocab, manifest.tokenizer.vocab) as Record<string, number>, merges, {
    maxLength: manifest.textEncoder.maxLength,
    ...(manifest.tokenizer.padToken !== undefined ? { padToken: manifest.tokenizer.padToken } : {}),
    ...(manifest.tokenizer.padTokenId !== undefined ? { padTokenId: manifest.tokenizer.padTokenId } : {}),
  });
  const config = parseJson(schedulerConfig, manifest.scheduler.config) as SchedulerConfig;
  // A config the schedulers cannot use fails here, at load time, rather than at the first request.
  createScheduler(manifest.defaults.scheduler, config).setTimesteps(manifest.defaults.steps);

  const created: OrtSession[] = [];
  const session = async (network: ManifestModel): Promise<OrtSession> => {
    // Blobs read lazily from disk: the bytes are read one session at a time (see OrtSession.create).
    const model = await store.open(stored.id, network.file);
    const externalData = await Promise.all(
      externalDataOf(manifest, network).map(async (path) => ({ path: relativeTo(network.file, path), data: await store.open(stored.id, path) })),
    );
    try {
      const s = await OrtSession.create(model, {
        backend,
        ...(device !== undefined ? { device } : {}),
        outputsOnGpu: backend === 'webgpu',
        externalData,
      });
      created.push(s);
      return s;
    } catch (error) {
      throw new ModelLoadError(`${network.file} could not be loaded on the ${backend} backend: ${(error as Error).message}`, { path: network.file, backend }, { cause: error });
    }
  };
  try {
    const textEncoder = new TextEncoderModel(await session(manifest.models.text_encoder));
    const unet = new UnetModel(await session(manifest.models.unet));
    const vaeDecoder = new VaeDecoderModel(await session(manifest.models.vae_decoder));
    return {
      info: {
        id: manifest.id,
        width: manifest.resolution.width,
        height: manifest.resolution.height,
        defaults: manifest.defaults,
        backend,
      },
      manifest,
      backend,
      device,
      tokenizer,
      schedulerConfig: config,
      textEncoder,
      unet,
      vaeDecoder,
    };
  } catch (error) {
    await Promise.all(created.map((s) => s.release()));
    throw error;
  }
}

/** Releases the model's sessions (and the GPU memory their weights hold). */
export async function releaseDiffusionModel(model: DiffusionModel): Promise<void> {
  await Promise.all([model.textEncoder.session.release(), model.unet.session.release(), model.vaeDecoder.session.release()]);
}

/** A network's external-data files: those the manifest names, else a listed `<file>_data`. */
export function externalDataOf(manifest: Manifest, network: ManifestModel): readonly string[] {
  if (network.externalData !== undefined) return network.externalData;
  const conventional = `${network.file}_data`;
  return manifest.files.some((file) => file.path === conventional) ? [conventional] : [];
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
 * Every file the manifest names for loading must be in its file list: the store downloads and
 * verifies only listed files.
 * @throws ManifestError naming the first one that is not
 */
function checkListed(manifest: Manifest, paths: readonly string[]): void {
  const listed = new Set(manifest.files.map((file) => file.path));
  const unlisted = paths.find((path) => !listed.has(path));
  if (unlisted !== undefined) {
    throw new ManifestError(`${manifest.id}: the manifest names ${unlisted} but does not list it in "files" (with its size and SHA-256)`, {
      modelId: manifest.id,
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

/**
 * A diffusion model loaded from its manifest: tokenizer, scheduler config and the three
 * networks' sessions on one backend.
 */
import type { ModelInfo } from '../api.ts';
import { ManifestError, ModelLoadError, UnknownModelError } from '../errors.ts';
import { parseManifest, type Manifest, type ManifestFile } from '../models/manifest.ts';
import { OrtSession, type Backend } from '../ort/ort.ts';
import { createScheduler } from '../schedulers/index.ts';
import type { SchedulerConfig } from '../schedulers/scheduler.ts';
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
  /** Called as each of the model's files arrives. */
  readonly onFile?: (done: number, total: number) => void | Promise<void>;
}

/**
 * Downloads (and checks) a model's files and creates its sessions.
 * @param manifestUrl absolute URL of manifest.json; the files' paths are relative to it
 * @throws UnknownModelError when there is no manifest at the URL
 * @throws ManifestError when the manifest or the scheduler config is malformed
 * @throws ModelLoadError when a file cannot be fetched, fails its check, or does not load as a model
 * @throws TokenizerError when the tokenizer's files are inconsistent
 */
export async function loadDiffusionModel(manifestUrl: string, options: LoadOptions): Promise<DiffusionModel> {
  const { backend, device } = options;
  const base = new URL(manifestUrl);
  const manifest = parseManifest(await fetchManifest(base), base.href);

  const listed = new Map(manifest.files.map((file) => [file.path, file]));
  const total = 6; // the two tokenizer files, the scheduler config and the three networks
  let done = 0;
  const fetchFile = async (path: string): Promise<Uint8Array<ArrayBuffer>> => {
    const bytes = await fetchVerified(new URL(path, base), listed.get(path));
    done += 1;
    await options.onFile?.(done, total);
    return bytes;
  };
  const [vocab, merges, schedulerConfig, textEncoderBytes, unetBytes, vaeDecoderBytes] = await Promise.all([
    fetchFile(manifest.tokenizer.vocab),
    fetchFile(manifest.tokenizer.merges),
    fetchFile(manifest.scheduler.config),
    fetchFile(manifest.models.text_encoder.file),
    fetchFile(manifest.models.unet.file),
    fetchFile(manifest.models.vae_decoder.file),
  ]);

  const text = new TextDecoder();
  const tokenizer = createClipTokenizer(parseJson(text.decode(vocab), manifest.tokenizer.vocab) as Record<string, number>, text.decode(merges), {
    maxLength: manifest.textEncoder.maxLength,
    ...(manifest.tokenizer.padToken !== undefined ? { padToken: manifest.tokenizer.padToken } : {}),
    ...(manifest.tokenizer.padTokenId !== undefined ? { padTokenId: manifest.tokenizer.padTokenId } : {}),
  });
  const config = parseJson(text.decode(schedulerConfig), manifest.scheduler.config) as SchedulerConfig;
  // A config the schedulers cannot use fails here, at load time, rather than at the first request.
  createScheduler(manifest.defaults.scheduler, config).setTimesteps(manifest.defaults.steps);

  const sessionOptions = { backend, ...(device !== undefined ? { device } : {}), outputsOnGpu: backend === 'webgpu' };
  const created: OrtSession[] = [];
  const session = async (bytes: Uint8Array<ArrayBuffer>, path: string): Promise<OrtSession> => {
    try {
      const s = await OrtSession.create(bytes, sessionOptions);
      created.push(s);
      return s;
    } catch (error) {
      throw new ModelLoadError(`${path} could not be loaded on the ${backend} backend: ${(error as Error).message}`, { path, backend }, { cause: error });
    }
  };
  try {
    const textEncoder = new TextEncoderModel(await session(textEncoderBytes, manifest.models.text_encoder.file));
    const unet = new UnetModel(await session(unetBytes, manifest.models.unet.file));
    const vaeDecoder = new VaeDecoderModel(await session(vaeDecoderBytes, manifest.models.vae_decoder.file));
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

async function fetchManifest(url: URL): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchOk(url);
  } catch (error) {
    const status = (error as { details?: { status?: unknown } }).details?.status;
    if (status === 404) {
      throw new UnknownModelError(`No model manifest at ${url.href}`, { url: url.href }, { cause: error });
    }
    throw error;
  }
  return parseJson(await response.text(), url.href);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${source} is not valid JSON: ${(error as Error).message}`, { source }, { cause: error });
  }
}

/**
 * The response for `url`, or a ModelLoadError saying why there is none.
 * @throws ModelLoadError on a network failure or an HTTP error status
 */
async function fetchOk(url: URL): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ModelLoadError(`Could not fetch ${url.href}: ${(error as Error).message}`, { url: url.href }, { cause: error });
  }
  if (!response.ok) {
    throw new ModelLoadError(`Fetching ${url.href} failed: HTTP ${response.status} ${response.statusText}`, {
      url: url.href,
      status: response.status,
    });
  }
  return response;
}

/**
 * A file's bytes, checked against the manifest's entry when there is one.
 * @throws ModelLoadError when the file cannot be fetched, or its size or digest is not the listed one
 */
async function fetchVerified(url: URL, expected: ManifestFile | undefined): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(await (await fetchOk(url)).arrayBuffer());
  if (expected === undefined) return bytes;
  if (bytes.byteLength !== expected.size) {
    throw new ModelLoadError(`${url.href} is ${bytes.byteLength} bytes; the manifest lists ${expected.size}`, {
      url: url.href,
      size: bytes.byteLength,
      expected: expected.size,
    });
  }
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
  if (digest !== expected.sha256) {
    throw new ModelLoadError(`${url.href} does not match the manifest's SHA-256 (a partial or stale download?)`, {
      url: url.href,
      sha256: digest,
      expected: expected.sha256,
    });
  }
  return bytes;
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

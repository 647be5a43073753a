/**
 * Types of the public API, shared by the main-thread client and the worker engine
 * (one `EngineApi` implemented by both sides; Comlink carries it across).
 */
import type { SchedulerName } from './schedulers/scheduler.ts';

export type Phase = 'loading' | 'encoding' | 'denoising' | 'decoding';

/** The parts of loading a model, in order. */
export type LoadStage = 'download' | 'sessions' | 'warm-up';

export interface Progress {
  readonly phase: Phase;
  /**
   * During 'denoising', the step just finished (1-based); during 'loading', the model's files
   * stored and verified so far; 0 otherwise.
   */
  readonly step: number;
  /** Total denoising steps of the request; during 'loading', the model's files. */
  readonly steps: number;
  /** Milliseconds since the request started. */
  readonly elapsedMs: number;
  /**
   * During 'denoising': how long the step just reported took, measured when its GPU work was
   * done (the time between its end and the previous step's), so `stepMs * (steps - step)` is
   * the time left to denoise. A step is reported once its work is done, not when it is queued.
   */
  readonly stepMs?: number;
  /**
   * During 'loading', what is under way: 'download' (files fetched or read from the cache and
   * verified), 'sessions' (ONNX Runtime sessions created), 'warm-up' (one small run of each
   * network, so that the first picture costs what the next ones do).
   */
  readonly stage?: LoadStage;
  /** During 'loading', while the model's files are downloaded: how far along, how fast. */
  readonly download?: DownloadStatus;
  /**
   * Which picture of a batch (0-based) the event is about, where it is about one: a batch
   * denoises together (one event per step for all), then decodes picture by picture.
   */
  readonly index?: number;
  /** During 'denoising', when previews are asked for: the picture as it stands after this step. */
  readonly preview?: PreviewImage;
}

/** A rough picture of a generation in progress (a cheap latent-to-RGB map, or a full VAE decode). */
export interface PreviewImage {
  readonly width: number;
  readonly height: number;
  /** RGBA, 8 bits per channel, row-major; transferred, not copied, across the worker boundary. */
  readonly pixels: Uint8ClampedArray;
  /** 'latent': the cheap per-step approximation (downsampled size); 'decoded': a full VAE decode. */
  readonly kind: 'latent' | 'decoded';
}

/** A model download under way, as a 'loading' progress event reports it. */
export interface DownloadStatus {
  /** The file last transferred (a few download at once), as the manifest names it. */
  readonly file: string;
  /** Bytes of `file` stored (an earlier, interrupted download's included), and its size. */
  readonly loaded: number;
  readonly total: number;
  /** Bytes of the whole model stored (files stored earlier included), and its size. */
  readonly modelLoaded: number;
  readonly modelTotal: number;
  /** Transfer rate over the last few seconds; 0 until there is enough to measure. */
  readonly bytesPerSecond: number;
  /** Seconds left at that rate; null while the rate is unknown. */
  readonly etaSeconds: number | null;
}

/** A model in the browser's model cache (the weight store), completely downloaded or not. */
export interface CachedModel {
  /** The id its manifest (or catalog variant) gives it; models from different places may share one. */
  readonly id: string;
  /**
   * What the cache knows it by: its manifest's URL (origin and path), or "<catalog id>@<variant>".
   * `deleteCachedModel` takes it (or an id, to delete every model of that id).
   */
  readonly key: string;
  /** The manifest it was stored from. */
  readonly manifestUrl: string | null;
  /** Bytes of its files, and how many of them are stored. */
  readonly totalBytes: number;
  readonly storedBytes: number;
  /** True when every file is stored and verified: the model loads offline. */
  readonly complete: boolean;
  /** When a load or prefetch last asked for it (ms since the epoch); null if never. */
  readonly lastUsed: number | null;
}

/**
 * A picture given to a request: a Blob (PNG, JPEG, …), an ImageBitmap, ImageData, RGBA bytes
 * with their size, or on the page a canvas or a loaded <img> (the client turns those into an
 * ImageBitmap before sending them to the worker).
 */
export type ImageInput =
  | Blob
  | ImageBitmap
  | ImageData
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLImageElement
  | { readonly width: number; readonly height: number; readonly pixels: Uint8ClampedArray | Uint8Array };

/**
 * Where a LoRA file (.safetensors) is: its URL, with the SHA-256 and size it must have where the
 * host does not report them (a plain static server); `name` is what the PNG parameters call it
 * (default: the file name without .safetensors, or its folder's for a generic "lora"). Or the
 * file itself as `data` (a dropped File: read as it is, not stored; `url` is then only a label).
 */
export interface LoraSource {
  readonly url: string;
  readonly data?: Blob;
  readonly sha256?: string;
  readonly size?: number;
  readonly name?: string;
}

/**
 * A LoRA: a URL (absolute or relative to the page) of a .safetensors file, or of a LoRA manifest
 * (.json, "webdiffusion-lora/1": file, size, sha256, name); a Hugging Face file
 * ("owner/repo/file.safetensors", "owner/repo@revision/dir/file.safetensors"); a name given to
 * `registerLora`; or a `LoraSource`.
 */
export type LoraReference = string | LoraSource;

/** A LoRA to apply to a request, at `scale` (default 1; 0 is the base model, exactly). */
export interface LoraRequest {
  readonly model: LoraReference;
  readonly scale?: number;
}

/**
 * A LoRA as a request ran with it: the reference as given (so the request can be run again),
 * and for PNG parameters (`<lora:name:0.8>`, `Lora hashes`) its name and digest.
 */
export interface LoraAsRun extends LoraRequest {
  readonly name: string;
  readonly scale: number;
  /** The file's SHA-256 (hex); desktop UIs print its first 12 digits. */
  readonly sha256: string;
}

/** A LoRA stored and read: what `loadLora` reports. */
export interface LoraInfo {
  readonly name: string;
  /** The weight store's key for it (`deleteCachedModel` takes it). */
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  /** Its key layout: diffusers/PEFT (`lora_A` / `lora_B`) or kohya (`lora_down` / `lora_up` / `alpha`). */
  readonly layout: 'peft' | 'kohya';
  /** Its largest rank. */
  readonly rank: number;
  /** Its modules (low-rank pairs), by component. */
  readonly modules: Readonly<Partial<Record<'unet' | 'text_encoder' | 'text_encoder_2', number>>>;
  /**
   * With a model loaded: the modules that name no layer of it (left out; none of them
   * matching is a LoraError instead). Empty before a model is loaded.
   */
  readonly unmatched: readonly string[];
}

export interface GenerateRequest {
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** 32-bit unsigned seed; the same request and seed give the same picture on the same device. */
  readonly seed?: number;
  readonly steps?: number;
  /** Classifier-free guidance scale; <= 1 disables guidance (one UNet pass per step). */
  readonly guidance?: number;
  readonly scheduler?: SchedulerName;
  readonly width?: number;
  readonly height?: number;
  /**
   * Image-to-image: the picture to start from (scaled to the model's size). The model's VAE
   * encoder takes it to the latent space, noised to the level `strength` picks.
   */
  readonly image?: ImageInput;
  /**
   * How much of the schedule runs from the picture, in (0, 1]: 1 starts from pure noise (the
   * picture only fixes what a mask keeps), small values change little. Runs
   * max(1, floor(steps * strength)) of the `steps`. Default 0.8, or 1 with a mask.
   */
  readonly strength?: number;
  /**
   * Inpainting (with `image`): white where the model repaints, black where the picture is kept
   * exactly; grey blends. Same size rules as `image`.
   */
  readonly mask?: ImageInput;
  /**
   * Pictures to make, 1 to 8 (default 1), with seeds seed, seed + 1, …: `generateBatch` returns
   * them all; `generate` takes only 1.
   */
  readonly n?: number;
  /**
   * LoRA adapters to apply, each at its scale; several add. Files are stored in the model cache
   * on first use (see `loadLora`); switching them or their scales between requests re-downloads
   * nothing and re-creates no session.
   */
  readonly loras?: readonly LoraRequest[];
}

/** A request without pictures: what crosses JSON boundaries (the CLI's batch files, test pages). */
export type TextRequest = Omit<GenerateRequest, 'image' | 'mask'>;

/** One picture's request as it ran: every text-to-image field filled in (its own seed), the pictures given left out. */
export type RequestAsRun = Required<Omit<GenerateRequest, 'image' | 'mask' | 'strength' | 'n' | 'loras'>> & {
  /** The LoRAs applied (scale 0 ones left out); absent when none was. */
  readonly loras?: readonly LoraAsRun[];
  /** Present for image-to-image and inpainting. */
  readonly strength?: number;
  /** Whether the request started from a picture, and whether it had a mask. */
  readonly source?: 'image' | 'inpainting';
};

export interface GeneratedImage {
  readonly width: number;
  readonly height: number;
  /** RGBA, 8 bits per channel, row-major. */
  readonly pixels: Uint8ClampedArray;
  /** The request as run, defaults filled in (seed included), the pictures left out. */
  readonly request: RequestAsRun;
  /**
   * Tokens cut from the end of each text because the text encoder takes no more (77 for CLIP,
   * start and end tokens included); 0 when the text fits. The negative prompt's is 0 when it
   * was not used (guidance 1 or less).
   */
  readonly droppedTokens: { readonly prompt: number; readonly negativePrompt: number };
  readonly timings: {
    readonly encodeMs: number;
    readonly denoiseMs: number;
    readonly decodeMs: number;
    readonly totalMs: number;
  };
}

export interface ModelInfo {
  /** The catalog id, or the manifest's id. */
  readonly id: string;
  readonly name: string;
  /** The catalog variant device fitting chose ('fp16', 'q4f16', …); absent for a manifest's model. */
  readonly variant?: string;
  readonly precision: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
  /**
   * What the user should know about how the model runs here: a fall back to the CPU, GPU memory
   * that could not be checked. Also written to the console by the client.
   */
  readonly warnings: readonly string[];
  readonly width: number;
  readonly height: number;
  readonly defaults: { readonly steps: number; readonly guidance: number; readonly scheduler: SchedulerName };
  /**
   * The schedulers that fit the model: the flow-matching ones for a flow model (a diffusion
   * transformer such as tiny-shapes-flow), the others for a noise-prediction one. Optional for
   * descriptions made by hand; the engine always sets it.
   */
  readonly schedulers?: readonly SchedulerName[];
  /**
   * How guidance reaches the model: 'cfg' (two passes mixed by the scale), 'embedded' (the scale
   * is an input of the model) or 'none' (distilled without guidance: one pass, and a request's
   * guidance above 1 is refused rather than ignored). Absent means 'cfg'.
   */
  readonly guidanceMode?: 'cfg' | 'embedded' | 'none';
  /** 'webgpu' or 'wasm' (CPU fallback). */
  readonly backend: 'webgpu' | 'wasm';
  /**
   * The build of ONNX Runtime the sessions run on: 'jspi' reads weights from the store's files
   * by ranges straight into GPU buffers; 'asyncify' (browsers without JSPI) reads each weight
   * file whole into memory first.
   */
  readonly runtime: 'jspi' | 'asyncify';
}

/** A text's length as the loaded model's tokenizer counts it: for a prompt's token counter. */
export interface TokenCount {
  /** Tokens of the text, the start and end tokens included, before any are cut. */
  readonly tokens: number;
  /**
   * The most the text encoder takes (77 for CLIP), start and end included: `tokens - limit`
   * tokens are cut from the end (`GeneratedImage.droppedTokens`) when `tokens` is larger.
   */
  readonly limit: number;
}

/** A catalog model as this device sees it: for the model picker. */
export interface CatalogModelStatus {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** The variant device fitting picks here (the first variant when none runs). */
  readonly variant: string;
  readonly precision: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
  /** Bytes to download: exact where the catalog knows every size, else approximate. */
  readonly downloadBytes: number;
  readonly downloadBytesExact: boolean;
  /** Whether the variant's files are all in the browser's model cache. */
  readonly cached: boolean;
  /** Where it would run here; null when it cannot run on this device. */
  readonly backend: 'webgpu' | 'wasm' | null;
  /** Why it cannot run (what is missing), or what to know when it runs (a CPU fallback). */
  readonly notes: readonly string[];
  /** Why it cannot run, in a few words for a list's label ("needs shader-f16"); null when it runs. */
  readonly reason: string | null;
}

/**
 * `<web-diffusion>`: a picture generator any page can embed with one module script.
 *
 *   <script type="module" src="https://cdn.example/webdiffusion/webdiffusion.js"></script>
 *   <web-diffusion model="tiny-shapes" prompt="a red circle on a blue background"></web-diffusion>
 *
 * Every element on a page shares one engine (one worker, one GPU device) and one copy of each
 * model (engine-host.ts). Its insides live in a shadow root: the page's styles do not reach in
 * and ours do not leak out; it is styled through custom properties and `::part()`.
 */
import type { GeneratedImage, GenerateRequest, ModelInfo, Progress } from '../api.ts';
import type { Engine } from '../engine.ts';
import { CancelledError, InvalidRequestError, WebDiffusionError } from '../errors.ts';
import { encodePngBlob } from '../image/png.ts';
import type { SchedulerName } from '../schedulers/scheduler.ts';
import { parseLoraList } from '../lora/lora-list.ts';
import { hostFor, sharedHost, type EngineHost } from './engine-host.ts';
import { elementStyleSheet } from './style.ts';

/** What `generate()` resolves to, and the `done` event's `detail`. */
export interface WebDiffusionPicture {
  /** The picture as a PNG file. */
  readonly blob: Blob;
  /** The picture, ready to draw on a canvas. */
  readonly bitmap: ImageBitmap;
  /** The engine's result: RGBA pixels, the request as run (seed included), timings. */
  readonly image: GeneratedImage;
}

/** Where an element is; also a CSS custom state: `web-diffusion:state(generating)`. */
export type WebDiffusionState = 'idle' | 'loading' | 'ready' | 'generating' | 'done' | 'error';

/** The element's events; each is a `CustomEvent` dispatched on the element. */
export interface WebDiffusionEventMap {
  /** The model's files downloading and loading: `detail` is the engine's 'loading' progress. */
  modelprogress: CustomEvent<Progress>;
  /** A generation under way: `detail` is the engine's progress, `preview` pixels included when it sends them. */
  progress: CustomEvent<Progress>;
  /** A picture is done; `detail` is what `generate()` resolves to. */
  done: CustomEvent<WebDiffusionPicture>;
  /** A load or generation failed or was cancelled; `detail.error` is the typed error (`CancelledError` for a cancel). */
  error: CustomEvent<{ readonly error: unknown }>;
}

const NUMBER_ATTRIBUTES = ['seed', 'steps', 'guidance', 'width', 'height'] as const;

function part<K extends keyof HTMLElementTagNameMap>(tag: K, name: string, attributes: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.setAttribute('part', name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

/**
 * The `<web-diffusion>` element. Attributes (and the same-named properties): `model` (what
 * `loadModel` takes: a catalog id, a Hugging Face repo id, or the URL of a model's folder or
 * manifest.json), `prompt`, `negative-prompt` (`negativePrompt`), `seed`, `steps`,
 * `guidance`, `width`, `height`, `scheduler`; the model's defaults fill what is left out.
 * `lora`: LoRAs as "url:0.8, url2:0.5" (a URL relative to the page starts with / ./ or ../;
 * also a Hugging Face file "owner/repo/file.safetensors" or a registered name; scale default 1).
 */
export class WebDiffusionElement extends HTMLElement {
  static readonly observedAttributes = ['model', 'prompt'];

  private readonly canvas = part('canvas', 'picture', { role: 'img', 'aria-label': 'No picture yet' });
  private readonly progressBar = part('progress', 'progress', { max: '1', 'aria-label': 'Progress' });
  private readonly status = part('p', 'status', { role: 'status', 'aria-live': 'polite' });
  private readonly generateButton = part('button', 'button generate', { type: 'button' });
  private readonly cancelButton = part('button', 'button cancel', { type: 'button' });
  private readonly internals: ElementInternals;
  private customEngine: Engine | undefined;
  private running: AbortController | undefined;
  private stateValue: WebDiffusionState = 'idle';
  /** The model load this element last asked for; a newer one makes an older one's outcome moot. */
  private loadSerial = 0;

  constructor() {
    super();
    this.internals = this.attachInternals();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [elementStyleSheet()];
    this.canvas.width = 64;
    this.canvas.height = 64;
    this.progressBar.value = 0;
    this.generateButton.textContent = 'Generate';
    this.cancelButton.textContent = 'Cancel';
    this.cancelButton.disabled = true;
    this.generateButton.addEventListener('click', () => {
      // The outcome reaches the page as a 'done' or 'error' event.
      this.generate().catch(() => undefined);
    });
    this.cancelButton.addEventListener('click', () => this.cancel());
    const controls = part('div', 'controls');
    controls.append(this.generateButton, this.cancelButton);
    root.append(this.canvas, this.progressBar, this.status, controls);
  }

  /** The model: a catalog id, a Hugging Face repo id, or a URL (resolved against the page). */
  get model(): string {
    return this.getAttribute('model') ?? '';
  }
  set model(value: string) {
    this.setAttribute('model', value);
  }

  get prompt(): string {
    return this.getAttribute('prompt') ?? '';
  }
  set prompt(value: string) {
    this.setAttribute('prompt', value);
  }

  get negativePrompt(): string {
    return this.getAttribute('negative-prompt') ?? '';
  }
  set negativePrompt(value: string) {
    this.setAttribute('negative-prompt', value);
  }

  get lora(): string | null {
    return this.getAttribute('lora');
  }
  set lora(value: string | null) {
    this.setOptional('lora', value);
  }

  get scheduler(): SchedulerName | null {
    return this.getAttribute('scheduler') as SchedulerName | null;
  }
  set scheduler(value: SchedulerName | null) {
    this.setOptional('scheduler', value);
  }

  get seed(): number | null {
    return this.numberAttribute('seed');
  }
  set seed(value: number | null) {
    this.setOptional('seed', value);
  }

  get steps(): number | null {
    return this.numberAttribute('steps');
  }
  set steps(value: number | null) {
    this.setOptional('steps', value);
  }

  get guidance(): number | null {
    return this.numberAttribute('guidance');
  }
  set guidance(value: number | null) {
    this.setOptional('guidance', value);
  }

  get width(): number | null {
    return this.numberAttribute('width');
  }
  set width(value: number | null) {
    this.setOptional('width', value);
  }

  get height(): number | null {
    return this.numberAttribute('height');
  }
  set height(value: number | null) {
    this.setOptional('height', value);
  }

  /**
   * The engine this element runs on. By default every element on the page shares one, started
   * on first use; set one the page made with `createEngine()` to share it with the page's own code.
   */
  get engine(): Engine | undefined {
    return this.customEngine;
  }
  set engine(value: Engine | undefined) {
    this.customEngine = value;
    if (this.isConnected && this.model !== '') void this.loadModel();
  }

  get state(): WebDiffusionState {
    return this.stateValue;
  }

  connectedCallback(): void {
    if (this.model !== '' && this.stateValue === 'idle') void this.loadModel();
    this.updateLabel();
  }

  /** A removed element's generation is cancelled: it would hold the shared engine for nothing. */
  disconnectedCallback(): void {
    this.cancel();
  }

  attributeChangedCallback(name: string, previous: string | null, value: string | null): void {
    if (previous === value) return;
    if (name === 'model' && this.isConnected && value !== null && value !== '') void this.loadModel();
    if (name === 'prompt') this.updateLabel();
  }

  /**
   * Generates a picture from the element's attributes (and `overrides`), showing previews as the
   * engine sends them, then the picture. Fires `progress` events, then `done` or `error`.
   * @throws InvalidRequestError when the element has no `model`, or a field is out of range
   * @throws CancelledError when `cancel()` is called, or the element starts another generation
   * @throws whatever the engine throws (see `Engine.loadModel` and `Engine.generate`)
   */
  async generate(overrides: Partial<GenerateRequest> = {}): Promise<WebDiffusionPicture> {
    this.running?.abort();
    const controller = new AbortController();
    this.running = controller;
    this.setState('generating', 'Generating…');
    this.progressBar.value = 0;
    this.cancelButton.disabled = false;
    try {
      const request = { ...this.request(), ...overrides };
      const image = await this.host().generate(this.requireModel(), request, {
        signal: controller.signal,
        onModelProgress: (progress) => this.onModelProgress(progress),
        onProgress: (progress) => this.onProgress(progress),
      });
      const picture = await this.show(image);
      if (this.running === controller) this.setState('done', `Done: ${image.request.prompt}`);
      this.progressBar.value = 1;
      this.progressBar.setAttribute('aria-valuetext', 'Done');
      this.emit('done', picture);
      return picture;
    } catch (error) {
      if (this.running === controller) this.fail(error);
      else this.emit('error', { error });
      throw error;
    } finally {
      if (this.running === controller) {
        this.running = undefined;
        this.cancelButton.disabled = true;
      }
    }
  }

  /**
   * Stops the generation under way: it ends with `CancelledError` at once, and the Cancel button
   * says "Stopping…" until the steps the engine had already queued on the GPU are done.
   */
  cancel(): void {
    if (this.running === undefined) return;
    this.running.abort();
    this.cancelButton.textContent = 'Stopping…';
    const stopped = (): void => {
      this.cancelButton.textContent = 'Cancel';
    };
    this.host().idle().then(stopped, stopped);
  }

  private host(): EngineHost {
    return this.customEngine !== undefined ? hostFor(this.customEngine) : sharedHost();
  }

  private requireModel(): string {
    if (this.model === '')
      throw new InvalidRequestError(
        '<web-diffusion> has no model: set its model attribute to a catalog id (such as "tiny-shapes"), a Hugging Face repo id or the URL of a manifest.json',
      );
    return this.model;
  }

  private async loadModel(): Promise<void> {
    const serial = ++this.loadSerial;
    const current = (): boolean => serial === this.loadSerial && this.running === undefined;
    this.setState('loading', 'Loading the model…');
    try {
      const info = await this.host().loadModel(this.requireModel(), (progress) => this.onModelProgress(progress));
      if (current()) this.setState('ready', describe(info));
    } catch (error) {
      if (current()) this.fail(error);
    }
  }

  private onModelProgress(progress: Progress): void {
    this.progressBar.value = progress.step / Math.max(progress.steps, 1);
    this.progressBar.setAttribute('aria-valuetext', `Loading the model, file ${progress.step} of ${progress.steps}`);
    this.emit('modelprogress', progress);
  }

  private onProgress(progress: Progress): void {
    const counted = progress.phase === 'denoising';
    this.progressBar.value = counted ? progress.step / Math.max(progress.steps, 1) : progress.phase === 'decoding' ? 1 : 0;
    this.progressBar.setAttribute('aria-valuetext', counted ? `Step ${progress.step} of ${progress.steps}` : progress.phase);
    if (progress.preview !== undefined) this.draw(progress.preview.pixels, progress.preview.width, progress.preview.height, 'preview');
    this.emit('progress', progress);
  }

  private async show(image: GeneratedImage): Promise<WebDiffusionPicture> {
    const data = new ImageData(new Uint8ClampedArray(image.pixels), image.width, image.height);
    this.draw(data.data, image.width, image.height, 'picture');
    this.canvas.setAttribute('aria-label', `Generated picture: ${image.request.prompt}`);
    const [blob, bitmap] = await Promise.all([encodePngBlob(image.pixels, image.width, image.height), createImageBitmap(data)]);
    return { blob, bitmap, image };
  }

  /**
   * Draws RGBA pixels over the whole canvas. A preview may be smaller than the picture (a latent
   * preview is 1/8 of its size): it is scaled up to fill the same space.
   */
  private draw(pixels: Uint8ClampedArray, width: number, height: number, kind: 'preview' | 'picture'): void {
    const context = this.canvas.getContext('2d');
    if (context === null) throw new WebDiffusionError('internal', 'The canvas gave no 2D context');
    const data = new ImageData(new Uint8ClampedArray(pixels), width, height);
    if (kind === 'picture' || (width === this.canvas.width && height === this.canvas.height)) {
      this.canvas.width = width;
      this.canvas.height = height;
      context.putImageData(data, 0, 0);
    } else {
      const scratch = new OffscreenCanvas(width, height);
      scratch.getContext('2d')?.putImageData(data, 0, 0);
      context.imageSmoothingEnabled = true;
      context.drawImage(scratch, 0, 0, this.canvas.width, this.canvas.height);
    }
    this.canvas.dataset.showing = kind;
  }

  private fail(error: unknown): void {
    const cancelled = error instanceof CancelledError;
    const message = error instanceof Error ? error.message : String(error);
    this.progressBar.setAttribute('aria-valuetext', cancelled ? 'Cancelled' : 'Failed');
    this.setState(cancelled ? 'ready' : 'error', cancelled ? 'Cancelled.' : message, !cancelled);
    this.emit('error', { error });
  }

  private request(): GenerateRequest {
    const numbers: Partial<Record<(typeof NUMBER_ATTRIBUTES)[number], number>> = {};
    for (const name of NUMBER_ATTRIBUTES) {
      const value = this.numberAttribute(name);
      if (value !== null) numbers[name] = value;
    }
    return {
      prompt: this.prompt,
      ...(this.negativePrompt !== '' ? { negativePrompt: this.negativePrompt } : {}),
      ...(this.scheduler !== null ? { scheduler: this.scheduler } : {}),
      ...(this.lora !== null && this.lora.trim() !== '' ? { loras: parseLoraList(this.lora) } : {}),
      ...numbers,
    };
  }

  /** An attribute's number; text that is no number becomes NaN, which the engine refuses with a typed error. */
  private numberAttribute(name: string): number | null {
    const text = this.getAttribute(name);
    return text === null || text.trim() === '' ? null : Number(text);
  }

  private setOptional(name: string, value: string | number | null): void {
    if (value === null) this.removeAttribute(name);
    else this.setAttribute(name, String(value));
  }

  private setState(state: WebDiffusionState, status: string, isError = false): void {
    this.internals.states.delete(this.stateValue);
    this.stateValue = state;
    this.internals.states.add(state);
    this.status.textContent = status;
    this.status.toggleAttribute('data-error', isError);
    this.generateButton.disabled = state === 'loading';
    this.setAttribute('aria-busy', String(state === 'loading' || state === 'generating'));
  }

  private updateLabel(): void {
    this.generateButton.setAttribute('aria-label', this.prompt !== '' ? `Generate: ${this.prompt}` : 'Generate');
  }

  private emit<K extends keyof WebDiffusionEventMap>(type: K, detail: WebDiffusionEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
  }
}

function describe(info: ModelInfo): string {
  return `Model ${info.id}, ${info.width}x${info.height}, on ${info.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.`;
}

/**
 * Registers `<web-diffusion>` (the library build does on import). A second call, or another copy
 * of the library that registered it first, is no error.
 */
export function defineWebDiffusionElement(): void {
  if (customElements.get('web-diffusion') === undefined) customElements.define('web-diffusion', WebDiffusionElement);
}

declare global {
  interface HTMLElementTagNameMap {
    'web-diffusion': WebDiffusionElement;
  }
}

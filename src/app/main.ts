/**
 * The demo page: one form over the public API. `document.body.dataset.state` says where the page
 * is (loading, ready, generating, done, cancelled, error) so people and tests can wait on it.
 */
import { CancelledError, createEngine, GenerationQueue } from '../index.ts';
import type { BackendPreference, Engine, GenerateRequest, GeneratedImage, HistoryEntry, ModelInfo, Progress, SchedulerName } from '../index.ts';
import { createGallery } from './gallery.ts';
import { setUpModelPicker, type ModelPicker } from './model-picker.ts';
import { installPngDrop } from './png-drop.ts';
import './pwa.ts';

/** The bundled model: works offline, out of the box. */
const DEFAULT_MODEL = 'tiny-shapes';
/** `?backend=webgpu` (or `wasm`) puts the model on that backend; the engine picks the faster by default. */
const BACKEND = ((): BackendPreference => {
  const asked = new URLSearchParams(location.search).get('backend');
  return asked === 'webgpu' || asked === 'wasm' ? asked : 'auto';
})();
const MAX_SEED = 2 ** 32 - 1;

type State = 'loading' | 'ready' | 'generating' | 'done' | 'cancelled' | 'error';

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html lacks #${id} (${type.name})`);
  return found;
}

const ui = {
  form: element('controls', HTMLFormElement),
  model: element('model', HTMLSelectElement),
  modelNotes: element('model-notes', HTMLParagraphElement),
  prompt: element('prompt', HTMLTextAreaElement),
  negativePrompt: element('negative-prompt', HTMLInputElement),
  seed: element('seed', HTMLInputElement),
  randomiseSeed: element('randomise-seed', HTMLButtonElement),
  steps: element('steps', HTMLInputElement),
  guidance: element('guidance', HTMLInputElement),
  scheduler: element('scheduler', HTMLSelectElement),
  generate: element('generate', HTMLButtonElement),
  cancel: element('cancel', HTMLButtonElement),
  status: element('status', HTMLParagraphElement),
  picture: element('picture', HTMLCanvasElement),
  progress: element('progress', HTMLProgressElement),
  progressLabel: element('progress-label', HTMLSpanElement),
  timings: element('timings', HTMLParagraphElement),
  error: element('error', HTMLParagraphElement),
  download: element('download', HTMLAnchorElement),
};

let engine: Engine | undefined;
let queue: GenerationQueue | undefined;
let modelId = '';
/** The queue's id of the request under way. */
let running: string | undefined;
/** A cancel whose queued GPU steps are still running. */
let stopping = false;

function setState(state: State, status: string): void {
  document.body.dataset.state = state;
  ui.status.textContent = status;
  const busy = state === 'loading' || state === 'generating';
  ui.generate.disabled = busy || engine === undefined;
  ui.cancel.disabled = state !== 'generating';
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

function progressText(p: Progress): string {
  switch (p.phase) {
    case 'loading':
      return p.stage === 'sessions' ? 'Loading the model: starting ONNX Runtime…' : p.stage === 'warm-up' ? 'Loading the model: warming up…' : `Loading the model, file ${p.step}/${p.steps}`;
    case 'encoding':
      return 'Encoding the prompt…';
    case 'denoising':
      return `Denoising, step ${p.step}/${p.steps}${p.stepMs !== undefined && p.step < p.steps ? `, ${Math.ceil((p.stepMs * (p.steps - p.step)) / 1000)} s left` : ''}`;
    case 'decoding':
      return 'Decoding…';
  }
}

/** Loading counts files, denoising counts steps; the other phases are one short piece each. */
function showProgress(p: Progress): void {
  const counted = p.phase === 'loading' || p.phase === 'denoising';
  ui.progress.value = counted ? p.step / Math.max(p.steps, 1) : p.phase === 'decoding' ? 1 : 0;
  ui.progressLabel.textContent = progressText(p);
  ui.progressLabel.dataset.phase = p.phase;
  ui.progressLabel.dataset.step = String(p.step);
}

function showError(error: unknown): void {
  const code = (error as { code?: unknown }).code;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  ui.error.replaceChildren();
  const codeElement = document.createElement('code');
  codeElement.textContent = typeof code === 'string' ? code : name;
  ui.error.append(codeElement, ` ${message}`);
  ui.error.dataset.code = typeof code === 'string' ? code : '';
  ui.error.dataset.name = name;
  ui.error.classList.toggle('cancelled', error instanceof CancelledError);
  ui.error.hidden = false;
}

/** Empty fields are left out, so the model's defaults apply; out-of-range values go to the engine to be refused. */
function readRequest(): GenerateRequest {
  const number = (input: HTMLInputElement) => (input.value.trim() === '' ? undefined : Number(input.value));
  const seed = number(ui.seed);
  const steps = number(ui.steps);
  const guidance = number(ui.guidance);
  return {
    prompt: ui.prompt.value,
    scheduler: ui.scheduler.value as SchedulerName,
    ...(ui.negativePrompt.value.trim() !== '' ? { negativePrompt: ui.negativePrompt.value } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
  };
}

/** The inverse of `readRequest`: fills the form from restored settings (a gallery click, a dropped PNG). */
function restoreRequest(request: GenerateRequest, from: string): void {
  ui.prompt.value = request.prompt;
  ui.negativePrompt.value = request.negativePrompt ?? '';
  for (const [input, value] of [[ui.seed, request.seed], [ui.steps, request.steps], [ui.guidance, request.guidance]] as const) {
    if (value !== undefined) input.value = String(value);
  }
  if (request.scheduler !== undefined && [...ui.scheduler.options].some((option) => option.value === request.scheduler)) {
    ui.scheduler.value = request.scheduler;
  }
  ui.status.textContent = `Settings restored from ${from}.`;
}

// --- Gallery wiring (issue 14): a kept picture in the main view, its seed reused. ---
/** A picture from the history in the main view: opened from a thumbnail, or the last one on start. */
async function showKept(entry: HistoryEntry): Promise<void> {
  const bitmap = await createImageBitmap(entry.png);
  ui.picture.width = bitmap.width;
  ui.picture.height = bitmap.height;
  ui.picture.getContext('2d')?.drawImage(bitmap, 0, 0);
  bitmap.close();
  ui.picture.setAttribute('aria-label', `Picture from the history: ${entry.request.prompt}`);
  ui.timings.textContent = `Seed ${entry.request.seed} · ${entry.request.steps} steps · made ${new Date(entry.createdAt).toLocaleString()}`;
  offerDownload(entry.png, entry.request.seed);
}
const gallery = createGallery(element('history', HTMLElement), {
  restore: restoreRequest,
  show: (entry) => void showKept(entry).catch(showError),
  reuseSeed: (seed) => {
    ui.seed.value = String(seed);
    ui.status.textContent = `Seed ${seed} taken from the history.`;
  },
});
// --- end of gallery wiring ---

function offerDownload(png: Blob, seed: number): void {
  if (ui.download.href !== '') URL.revokeObjectURL(ui.download.href);
  ui.download.href = URL.createObjectURL(png);
  ui.download.download = `webdiffusion-${seed}.png`;
  ui.download.hidden = false;
}

async function showPicture(image: GeneratedImage): Promise<void> {
  ui.picture.width = image.width;
  ui.picture.height = image.height;
  const context = ui.picture.getContext('2d');
  if (context === null) throw new Error('the canvas gave no 2D context');
  context.putImageData(new ImageData(new Uint8ClampedArray(image.pixels), image.width, image.height), 0, 0);
  ui.picture.setAttribute('aria-label', `Generated picture: ${image.request.prompt}`);

  const { totalMs, denoiseMs } = image.timings;
  ui.timings.textContent =
    `Seed ${image.request.seed} · ${image.request.steps} steps, ${(denoiseMs / image.request.steps).toFixed(0)} ms/step` +
    ` · total ${(totalMs / 1000).toFixed(2)}\u00a0s`;

  offerDownload(await gallery.keep(image, modelId), image.request.seed);
}

async function generate(): Promise<void> {
  if (queue === undefined || running !== undefined) return;
  const id = queue.submit(readRequest());
  running = id;
  const stopProgress = queue.on('progress', (event) => {
    if (event.id === id) showProgress(event.progress);
  });
  ui.error.hidden = true;
  ui.progress.value = 0;
  ui.progressLabel.textContent = 'Starting…';
  setState('generating', 'Generating…');
  try {
    const image = await queue.result(id);
    ui.seed.value = String(image.request.seed);
    await showPicture(image);
    ui.progress.value = 1;
    ui.progressLabel.textContent = 'Done';
    const { prompt: dropped } = image.droppedTokens;
    setState('done', `Done in ${(image.timings.totalMs / 1000).toFixed(2)} s.${dropped > 0 ? ` The prompt was too long: its last ${dropped} tokens were left out.` : ''}`);
  } catch (error) {
    showError(error);
    const cancelled = error instanceof CancelledError;
    ui.progressLabel.textContent = cancelled ? 'Cancelled' : 'Failed';
    setState(cancelled ? 'cancelled' : 'error', cancelled ? 'Cancelled.' : 'Generation failed.');
  } finally {
    stopProgress();
    running = undefined;
    ui.generate.disabled = engine === undefined;
    ui.cancel.disabled = true;
  }
}

/**
 * The engine rejects a cancelled generation at once, but the steps already queued on the GPU run
 * to their end: the Cancel button says "Stopping…" until the engine is idle.
 */
function cancel(): void {
  if (running === undefined || queue === undefined) return;
  queue.cancel(running);
  if (engine === undefined || stopping) return;
  stopping = true;
  ui.cancel.textContent = 'Stopping…';
  ui.cancel.dataset.stopping = 'true';
  // Also when the engine failed meanwhile: there is nothing left to stop either way.
  const stopped = (): void => {
    stopping = false;
    ui.cancel.textContent = 'Cancel';
    delete ui.cancel.dataset.stopping;
  };
  engine.idle().then(stopped, stopped);
}

function applyDefaults(info: ModelInfo): void {
  ui.steps.value = String(info.defaults.steps);
  ui.guidance.value = String(info.defaults.guidance);
  ui.scheduler.value = info.defaults.scheduler;
}

async function start(): Promise<void> {
  // Gallery wiring (issue 14): the last picture kept is in the main view from the start.
  void gallery.latest().then((entry) => (entry !== undefined ? showKept(entry) : undefined)).catch(showError);
  ui.seed.value = String(randomSeed());
  ui.seed.max = String(MAX_SEED);
  ui.randomiseSeed.addEventListener('click', () => {
    ui.seed.value = String(randomSeed());
  });
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void generate();
  });
  ui.cancel.addEventListener('click', cancel);
  installPngDrop(document.body, {
    restore: ({ request, modelId: from }, fileName) => restoreRequest(request, from !== undefined ? `${fileName} (model ${from})` : fileName),
    report: showError,
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && running !== undefined) cancel();
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });

  let created: Engine;
  try {
    created = await createEngine();
    queue = new GenerationQueue(created);
  } catch (error) {
    showError(error);
    setState('error', 'The engine could not start.');
    return;
  }
  let picker: ModelPicker | undefined;
  const load = async (model: string): Promise<void> => {
    cancel();
    setState('loading', 'Loading the model…');
    ui.error.hidden = true;
    try {
      const info = await created.loadModel(model, { onProgress: showProgress, backend: BACKEND });
      engine = created;
      modelId = info.id;
      ui.progress.value = 0;
      ui.progressLabel.textContent = 'Idle';
      applyDefaults(info);
      const warnings = info.warnings.length > 0 ? ` ${info.warnings.join(' ')}` : '';
      setState('ready', `Model ${info.name}, ${info.width}x${info.height} on ${info.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.${warnings}`);
    } catch (error) {
      showError(error);
      setState('error', 'The model could not be loaded.');
    }
    await picker?.refresh().catch(() => undefined);
  };
  try {
    picker = await setUpModelPicker(ui.model, ui.modelNotes, created, DEFAULT_MODEL, (id) => void load(id));
  } catch (error) {
    // The picker is a convenience: without it the default model still loads.
    console.warn('webdiffusion demo: the model list is unavailable', error);
  }
  await load(DEFAULT_MODEL);
}

void start();

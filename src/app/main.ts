/**
 * The demo page: a form over the public API, a visible queue in front of the engine, the picture
 * (previews while it is made), a batch's grid and the history. `document.body.dataset.state`
 * says where the page is (loading, ready, generating, done, cancelled, error) so people and
 * tests can wait on it: 'generating' while anything is queued or running, then how the last
 * request ended.
 */
import { CancelledError, createEngine, GenerationQueue } from '../index.ts';
import type { BackendPreference, Engine, GenerateRequest, GeneratedImage, HistoryEntry, Progress } from '../index.ts';
import { applyDefaults, checkRequest, fieldOf, fields, installSeedControls, readRequest, restoreRequest, setSeed, showProblems } from './form.ts';
import { createGallery } from './gallery.ts';
import { downloadText, setUpModelPicker, type ModelPicker } from './model-picker.ts';
import { installPngDrop } from './png-drop.ts';
import { installTokenCounters, showWhatTheModelKnows } from './prompt-aids.ts';
import { createQueuePanel } from './queue-panel.ts';
import { createResultView, shownPicture, shownPictureFromPng } from './result-view.ts';
import { createSourcePicture } from './source-picture.ts';
import { createLoraPanel } from './lora-panel.ts';
import './pwa.ts';

/** The bundled model: works offline, out of the box. */
const DEFAULT_MODEL = 'tiny-shapes';
/** `?backend=webgpu` (or `wasm`) puts the model on that backend; the engine picks the faster by default. */
const BACKEND = ((): BackendPreference => {
  const asked = new URLSearchParams(location.search).get('backend');
  return asked === 'webgpu' || asked === 'wasm' ? asked : 'auto';
})();
/** Live mode waits this long after the last keystroke before it queues a request. */
const LIVE_DELAY_MS = 400;

type State = 'loading' | 'ready' | 'generating' | 'done' | 'cancelled' | 'error';

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html lacks #${id} (${type.name})`);
  return found;
}

const ui = {
  models: element('models', HTMLDivElement),
  modelKnows: element('model-knows', HTMLParagraphElement),
  live: element('live', HTMLInputElement),
  generate: element('generate', HTMLButtonElement),
  cancel: element('cancel', HTMLButtonElement),
  status: element('status', HTMLParagraphElement),
  output: document.querySelector<HTMLElement>('.output')!,
  picture: element('picture', HTMLCanvasElement),
  progress: element('progress', HTMLProgressElement),
  progressLabel: element('progress-label', HTMLSpanElement),
  timings: element('timings', HTMLParagraphElement),
  error: element('error', HTMLParagraphElement),
};

let engine: Engine | undefined;
let queue: GenerationQueue | undefined;
let modelId = '';
let loading = false;
/** The queue's id of the request under way. */
let running: string | undefined;
/** A cancel whose queued GPU steps are still running. */
let stopping = false;
/** The last measured time of one denoising step, for estimates before a request starts. */
let lastStepMs: number | undefined;

function setState(state: State, status: string): void {
  document.body.dataset.state = state;
  ui.status.textContent = status;
  ui.generate.disabled = loading || engine === undefined;
  ui.cancel.disabled = running === undefined;
}

function progressText(p: Progress): string {
  switch (p.phase) {
    case 'loading':
      if (p.download !== undefined) return downloadText(p.download);
      return p.stage === 'sessions'
        ? 'Loading the model: starting ONNX Runtime…'
        : p.stage === 'warm-up'
          ? 'Loading the model: warming up…'
          : `Loading the model, file ${p.step}/${p.steps}`;
    case 'encoding':
      return 'Encoding the prompt…';
    case 'denoising':
      return `Denoising, step ${p.step}/${p.steps}${p.stepMs !== undefined && p.step < p.steps ? `, ${Math.ceil((p.stepMs * (p.steps - p.step)) / 1000)} s left` : ''}`;
    case 'decoding':
      return p.index !== undefined ? `Decoding picture ${p.index + 1}…` : 'Decoding…';
  }
}

/** Loading counts files, denoising counts steps; the other phases are one short piece each. */
function showProgress(p: Progress): void {
  const counted = p.phase === 'loading' || p.phase === 'denoising';
  ui.progress.value =
    p.download !== undefined
      ? p.download.modelLoaded / Math.max(p.download.modelTotal, 1)
      : counted
        ? p.step / Math.max(p.steps, 1)
        : p.phase === 'decoding'
          ? 1
          : 0;
  ui.progressLabel.textContent = progressText(p);
  ui.progressLabel.dataset.phase = p.phase;
  ui.progressLabel.dataset.step = String(p.step);
  if (p.stepMs !== undefined) lastStepMs = p.stepMs;
  if (p.preview !== undefined) results.preview(p.preview);
}

/**
 * Says what went wrong in words; a problem with one field goes next to that field. The code
 * stays machine-readable (data-code, and the console), not in the text.
 */
function showError(error: unknown): void {
  const code = (error as { code?: unknown }).code;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const field = fieldOf((error as { details?: { field?: unknown } }).details?.field);
  if (field !== undefined) showProblems([{ field, message: sentence(message) }]);
  ui.error.textContent = field !== undefined ? 'The request was refused: see the note by the field.' : sentence(message);
  ui.error.dataset.code = typeof code === 'string' ? code : '';
  ui.error.dataset.name = name;
  ui.error.classList.toggle('cancelled', error instanceof CancelledError);
  ui.error.hidden = false;
  if (!(error instanceof CancelledError)) console.error(`webdiffusion demo: ${typeof code === 'string' ? code : name}`, error);
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return trimmed === '' ? trimmed : `${trimmed[0]!.toUpperCase()}${trimmed.slice(1)}${/[.!?…]$/.test(trimmed) ? '' : '.'}`;
}

/** Image to image and inpainting: a picture to start from, a mask painted over it, a strength. */
const sourcePicture = createSourcePicture(element('source-picture', HTMLDivElement), {
  onError: (message) => showError(new Error(message)),
});

/** The models panel, once the engine has started and it has listed the catalog. */
let picker: ModelPicker | undefined;

const loraPanel = createLoraPanel(
  element('lora-panel', HTMLDivElement),
  () => engine,
  () => void picker?.refresh().catch(() => undefined),
);

const results = createResultView(
  {
    canvas: ui.picture,
    grid: element('results', HTMLUListElement),
    actions: element('result-actions', HTMLElement),
    download: element('download', HTMLAnchorElement),
    reuseSeed: element('reuse-seed', HTMLButtonElement),
    useAsSource: element('use-as-source', HTMLButtonElement),
  },
  {
    reuseSeed: (seed) => reuseSeed(seed),
    useAsSource: (png) => useAsSource(png),
  },
);

/** Starts the next request from `png` (a result's or a kept picture's "Use as source"). */
function useAsSource(png: Blob): void {
  sourcePicture.setPicture(png).then(() => {
    element('source-picture', HTMLDivElement).scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    ui.status.textContent = 'The next request starts from this picture.';
  }, showError);
}

function reuseSeed(seed: number): void {
  setSeed(seed, { random: false });
  ui.status.textContent = `Seed ${seed} will be used again.`;
}

/** A picture from the history in the main view: opened from a thumbnail, or the last one on start. */
async function showKept(entry: HistoryEntry): Promise<void> {
  results.show(await shownPictureFromPng(entry.png, entry.request.prompt, entry.request.seed));
  ui.picture.setAttribute('aria-label', `Picture from the history: ${entry.request.prompt}`);
  ui.timings.textContent = `Seed ${entry.request.seed} · ${entry.request.steps} steps · made ${new Date(entry.createdAt).toLocaleString()}`;
}

const gallery = createGallery(element('history', HTMLElement), {
  restore: (request, from) => {
    restoreRequest(request);
    ui.status.textContent = `Settings restored from ${from}.`;
  },
  show: (entry) => void showKept(entry).catch(showError),
  reuseSeed,
  useAsSource,
});

async function finished(images: readonly GeneratedImage[]): Promise<void> {
  const first = images[0]!;
  const pictures = [];
  for (const image of images) pictures.push(shownPicture(image, await gallery.keep(image, modelId)));
  results.showAll(pictures);
  const { totalMs, denoiseMs } = first.timings;
  const { steps } = first.request;
  ui.timings.textContent =
    `Seed ${first.request.seed}${images.length > 1 ? `–${images.at(-1)!.request.seed}` : ''} · ${steps} steps, ${(denoiseMs / steps).toFixed(0)} ms/step` +
    ` · total ${(totalMs / 1000).toFixed(2)}\u00a0s`;
}

/** Queues what the form says. Nothing is dropped: a request made while another runs waits its turn. */
function submit(mode: 'queue' | 'latest'): void {
  if (queue === undefined || engine === undefined || loading) return;
  const request: GenerateRequest = { ...readRequest(), ...sourcePicture.requestFields(), ...loraPanel.requestFields() };
  const problems = checkRequest(request);
  showProblems(problems);
  if (problems.length > 0) {
    ui.error.hidden = true;
    return;
  }
  queue.submit(request, { mode, previews: true });
  if (running === undefined) {
    ui.progress.value = 0;
    ui.progressLabel.textContent = 'Starting…';
  }
  const empty = request.prompt.trim() === '' ? ' The prompt is empty: the model draws whatever it likes.' : '';
  setState('generating', `${queueLength() > 1 ? `Queued (${queueLength()} requests).` : 'Generating…'}${empty}`);
  // On a phone the picture is below the form: bring it into view, so progress is seen.
  const bar = ui.progress.getBoundingClientRect();
  if (bar.bottom > window.innerHeight || bar.top < 0) ui.output.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function queueLength(): number {
  return queue?.pending().length ?? 0;
}

/** What the page says once the queue has nothing left to run. */
function settled(event: 'done' | 'failed' | 'cancelled', images?: readonly GeneratedImage[]): void {
  if (queueLength() > 0) {
    setState('generating', `${queueLength()} request${queueLength() > 1 ? 's' : ''} to go.`);
    return;
  }
  if (event === 'done') {
    const first = images![0]!;
    const dropped = first.droppedTokens.prompt;
    setState(
      'done',
      `Done in ${(first.timings.totalMs / 1000).toFixed(2)} s.${dropped > 0 ? ` The prompt was too long: its last ${dropped} tokens were left out.` : ''}`,
    );
  } else if (event === 'cancelled') {
    setState('cancelled', 'Cancelled.');
  } else {
    setState('error', 'Generation failed.');
  }
}

function watchQueue(created: GenerationQueue): void {
  created.on('started', ({ id }) => {
    running = id;
    ui.error.hidden = true;
    ui.progress.value = 0;
    ui.progressLabel.textContent = 'Starting…';
    ui.cancel.disabled = false;
  });
  created.on('progress', ({ id, progress }) => {
    if (id === running) showProgress(progress);
  });
  created.on('done', ({ id, images }) => {
    if (id === running) running = undefined;
    ui.progress.value = 1;
    ui.progressLabel.textContent = 'Done';
    showProblems([]);
    finished(images).then(
      () => settled('done', images),
      (error: unknown) => {
        showError(error);
        settled('failed');
      },
    );
  });
  created.on('failed', ({ id, error }) => {
    if (id === running) running = undefined;
    showError(error);
    ui.progressLabel.textContent = 'Failed';
    settled('failed');
  });
  created.on('cancelled', ({ id }) => {
    const wasRunning = id === running;
    if (wasRunning) running = undefined;
    if (wasRunning) {
      showError(new CancelledError('Cancelled: the picture was not finished.'));
      ui.progressLabel.textContent = 'Cancelled';
    }
    settled('cancelled');
  });
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
    ui.cancel.disabled = running === undefined;
  };
  engine.idle().then(stopped, stopped);
}

function installLiveMode(): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (): void => {
    if (!ui.live.checked) return;
    clearTimeout(timer);
    timer = setTimeout(() => submit('latest'), LIVE_DELAY_MS);
  };
  fields.form.addEventListener('input', (event) => {
    if (event.target !== ui.live) changed();
  });
  fields.form.addEventListener('change', (event) => {
    if (event.target instanceof HTMLSelectElement && event.target.id === 'scheduler') changed();
  });
  ui.live.addEventListener('change', changed);
}

async function start(): Promise<void> {
  installSeedControls();
  // The last picture kept, in the big view until a new one is made.
  void gallery
    .latest()
    .then((entry) => (entry !== undefined && ui.picture.dataset.kind === undefined ? showKept(entry) : undefined))
    .catch(showError);
  fields.form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit('queue');
  });
  ui.cancel.addEventListener('click', cancel);
  installLiveMode();
  const recountTokens = installTokenCounters(
    fields.prompt,
    element('prompt-tokens', HTMLSpanElement),
    fields.negativePrompt,
    element('negative-prompt-tokens', HTMLSpanElement),
    () => engine,
  );
  installPngDrop(document.body, {
    restore: ({ request, modelId: from }, fileName) => {
      restoreRequest(request);
      ui.status.textContent = `Settings restored from ${from !== undefined ? `${fileName} (model ${from})` : fileName}.`;
    },
    report: showError,
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && running !== undefined) cancel();
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      fields.form.requestSubmit();
    }
  });

  let created: Engine;
  try {
    created = await createEngine();
    queue = new GenerationQueue(created);
    watchQueue(queue);
    createQueuePanel(element('queue', HTMLElement), element('queue-list', HTMLOListElement), element('clear-finished', HTMLButtonElement), queue, {
      stepMs: () => lastStepMs,
    });
  } catch (error) {
    showError(error);
    setState('error', 'The engine could not start.');
    return;
  }
  const load = async (model: string): Promise<void> => {
    loading = true;
    setState('loading', 'Loading the model…');
    ui.error.hidden = true;
    try {
      const info = await created.loadModel(model, { onProgress: showProgress, backend: BACKEND });
      engine = created;
      modelId = info.id;
      lastStepMs = undefined;
      ui.progress.value = 0;
      ui.progressLabel.textContent = 'Idle';
      applyDefaults(info);
      showWhatTheModelKnows(ui.modelKnows, info, fields.prompt);
      sourcePicture.setSize(info.width, info.height);
      loading = false;
      recountTokens();
      const warnings = info.warnings.length > 0 ? ` ${info.warnings.join(' ')}` : '';
      setState(
        queueLength() > 0 ? 'generating' : 'ready',
        `Model ${info.name}, ${info.width}x${info.height} on ${info.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.${warnings}`,
      );
      await picker?.loaded(model).catch(() => undefined);
    } catch (error) {
      loading = false;
      showError(error);
      setState('error', 'The model could not be loaded.');
      await picker?.refresh().catch(() => undefined);
    }
  };
  try {
    picker = await setUpModelPicker(ui.models, created, { current: DEFAULT_MODEL, load });
  } catch (error) {
    // The picker is a convenience: without it the default model still loads.
    console.warn('webdiffusion demo: the model list is unavailable', error);
  }
  await load(DEFAULT_MODEL);
}

void start();

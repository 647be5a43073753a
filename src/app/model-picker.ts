/**
 * The demo's models panel: every catalog model with its download size, whether it is cached
 * and whether this device can run it (and if not, why, in device fitting's own words), before
 * anything is downloaded; a Load button, so that walking the list with the arrow keys loads
 * nothing; "Delete from this device" for a cached model; the storage the origin uses and may
 * use, and whether the browser keeps it (persistent storage); "Ready offline" once the app is
 * served by its service worker and the loaded model is stored completely.
 *
 * Everything it shows lives in the container it is given; its styles are model-picker.css.
 */
import type { CatalogModelStatus, DownloadStatus, Engine } from '../index.ts';
import './model-picker.css';

const GB = 1e9;
const MB = 1e6;

/** Sizes as download dialogs show them (decimal units). */
export function formatSize(bytes: number, exact: boolean): string {
  const text = bytes >= GB ? `${(bytes / GB).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / MB))} MB`;
  return exact ? text : `~${text}`;
}

function timeLeft(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.ceil(seconds))} s left`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`;
  const hours = Math.floor(seconds / 3600);
  return `${hours} h ${Math.ceil((seconds - hours * 3600) / 60)} min left`;
}

/**
 * A model download's progress in words, for a progress label: "Downloading 12.3 of 1,610 MB ·
 * 2 min left" (whole megabytes for the total past 100 MB; no time while the rate is unknown).
 */
export function downloadText(status: DownloadStatus): string {
  const total = status.modelTotal / MB;
  const totalText = total >= 100 ? Math.round(total).toLocaleString('en-US') : total.toFixed(1);
  const loaded = (status.modelLoaded / MB).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const eta = status.etaSeconds !== null && Number.isFinite(status.etaSeconds) ? ` · ${timeLeft(status.etaSeconds)}` : '';
  return `Downloading ${loaded} of ${totalText} MB${eta}`;
}

function optionLabel(model: CatalogModelStatus): string {
  const size = formatSize(model.downloadBytes, model.downloadBytesExact);
  if (model.backend === null) return `${model.name} · ${size} · can't run here: ${model.reason ?? 'see below'}`;
  return `${model.name} · ${size} · ${model.cached ? 'cached' : 'download'}${model.backend === 'wasm' ? ' · CPU' : ''}`;
}

/** Runnable models first, each group in catalog order. */
function ordered(models: readonly CatalogModelStatus[]): CatalogModelStatus[] {
  return [...models.filter((m) => m.backend !== null), ...models.filter((m) => m.backend === null)];
}

export interface ModelPickerOptions {
  /** The model the page loads first (main.ts loads it; the panel only shows it chosen). */
  readonly current: string;
  /**
   * Loads a model the user chose (Load button, or Enter in the list): the page shows progress
   * and errors, and calls `loaded` when it succeeded. The panel's Load button is disabled until
   * the returned promise settles.
   */
  readonly load: (id: string) => Promise<void>;
}

export interface ModelPicker {
  /** The catalog as last listed, in the order shown. */
  readonly models: readonly CatalogModelStatus[];
  /** Lists the catalog again (cached marks change after a download or a delete) and the storage. */
  refresh(): Promise<void>;
  /**
   * Tells the panel which model is loaded now: it lists again, says whether the app is ready
   * offline and, the first time a model is stored, asks the browser to keep the storage.
   */
  loaded(id: string): Promise<void>;
}

interface Parts {
  readonly select: HTMLSelectElement;
  readonly load: HTMLButtonElement;
  readonly notes: HTMLElement;
  readonly unrunnable: HTMLElement;
  readonly cache: HTMLElement;
  readonly storage: HTMLElement;
  readonly offline: HTMLElement;
  readonly loras: HTMLDetailsElement;
}

function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** The panel's elements, in `container`: label "Model" and `#model`, as the page's tests find them. */
function build(container: HTMLElement): Parts {
  const select = make('select', { id: 'model' });
  select.setAttribute('aria-describedby', 'model-notes');
  const load = make('button', { type: 'button', id: 'load-model', textContent: 'Load model', disabled: true });
  const notes = make('p', { id: 'model-notes', className: 'model-notes' });
  notes.setAttribute('aria-live', 'polite');
  const unrunnable = make('details', { className: 'model-unrunnable', id: 'model-unrunnable' });
  const cache = make('p', { className: 'model-cache', id: 'model-cache' });
  const storage = make('p', { className: 'model-storage', id: 'model-storage' });
  storage.setAttribute('aria-live', 'polite');
  const offline = make('p', { className: 'model-offline', id: 'model-offline', hidden: true, textContent: 'Ready offline' });
  const loras = make('details', { className: 'model-loras', id: 'model-loras', hidden: true });
  offline.setAttribute('role', 'status');
  container.classList.add('model-picker');
  container.replaceChildren(
    make('label', { htmlFor: 'model', textContent: 'Model' }),
    make('div', { className: 'model-choice' }, select, load),
    notes,
    cache,
    unrunnable,
    loras,
    make('div', { className: 'model-state' }, storage, offline),
  );
  return { select, load, notes, unrunnable, cache, storage, offline, loras };
}

function storageText(estimate: StorageEstimate | undefined, persisted: string): string {
  if (estimate?.usage === undefined || estimate.quota === undefined) return persisted;
  const text = `Storage: ${formatSize(estimate.usage, true)} used of ${formatSize(estimate.quota, true)} available`;
  return persisted === '' ? text : `${text} · ${persisted}`;
}

/**
 * Builds the models panel in `container` (replacing what it holds) and lists the catalog. Only
 * models this device runs can be chosen; the others are listed greyed out after them, with why.
 * @throws whatever `engine.listCatalogModels` throws, when the first listing fails
 */
export async function setUpModelPicker(container: HTMLElement, engine: Engine, options: ModelPickerOptions): Promise<ModelPicker> {
  const parts = build(container);
  const { select } = parts;
  let models: CatalogModelStatus[] = [];
  let loadedId = options.current;
  let busy = false;
  /** The words for persistent storage once asked (or found granted); '' before. */
  let persistence = '';
  let persistenceAsked = false;

  const chosen = (): CatalogModelStatus | undefined => models.find((m) => m.id === select.value);

  const showChosen = (): void => {
    const model = chosen();
    parts.load.disabled = busy || model === undefined || model.backend === null || model.id === loadedId;
    parts.load.textContent = model !== undefined && model.id === loadedId ? 'Loaded' : 'Load model';
    if (model === undefined) return;
    parts.notes.replaceChildren(
      make('span', { textContent: model.description }),
      ...model.notes.map((note) => make('span', { className: 'note', textContent: note })),
    );
    parts.notes.dataset.runnable = String(model.backend !== null);
    parts.cache.replaceChildren();
    if (model.cached) {
      const remove = make('button', { type: 'button', className: 'model-delete', textContent: 'Delete from this device' });
      remove.addEventListener('click', () => void deleteModel(model, remove));
      parts.cache.append(`Stored on this device (${formatSize(model.downloadBytes, model.downloadBytesExact)}). `, remove);
    }
  };

  const showUnrunnable = (): void => {
    const blocked = models.filter((m) => m.backend === null);
    parts.unrunnable.hidden = blocked.length === 0;
    parts.unrunnable.replaceChildren(
      make('summary', { textContent: `${blocked.length} ${blocked.length === 1 ? 'model' : 'models'} can't run on this device` }),
      make(
        'ul',
        {},
        ...blocked.map((m) => make('li', {}, make('strong', { textContent: m.name }), `: ${m.notes.join('; ') || m.reason || 'not on this device'}.`)),
      ),
    );
  };

  /** The LoRA files stored on this device (the weight store keeps them as "lora:<url>"), each deletable. */
  const showLoras = async (): Promise<void> => {
    const stored = (await engine.listCachedModels().catch(() => [])).filter((m) => m.id.startsWith('lora:'));
    parts.loras.hidden = stored.length === 0;
    const row = (lora: (typeof stored)[number]): HTMLLIElement => {
      const name = decodeURIComponent(lora.id.slice('lora:'.length).split('/').slice(-2).join('/'));
      const remove = make('button', { type: 'button', className: 'model-delete', textContent: 'Delete' });
      remove.setAttribute('aria-label', `Delete ${name} from this device`);
      remove.addEventListener('click', () => {
        remove.disabled = true;
        void engine
          .deleteCachedModel(lora.key)
          .then(() => picker.refresh())
          .catch((error: unknown) => {
            remove.disabled = false;
            remove.after(make('span', { className: 'why-not', textContent: ` Not deleted: ${error instanceof Error ? error.message : String(error)}` }));
          });
      });
      return make('li', {}, `${name} · ${formatSize(lora.totalBytes, true)} `, remove);
    };
    parts.loras.replaceChildren(
      make('summary', { textContent: `${stored.length} ${stored.length === 1 ? 'LoRA' : 'LoRAs'} stored on this device` }),
      make('ul', {}, ...stored.map(row)),
    );
  };

  const showStorage = async (): Promise<void> => {
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    parts.storage.textContent = storageText(estimate, persistence);
  };

  const showOffline = (): void => {
    const model = models.find((m) => m.id === loadedId);
    const ready = navigator.serviceWorker?.controller != null && model?.cached === true;
    parts.offline.hidden = !ready;
    container.dataset.offline = String(ready);
  };

  /** Once per page, when a model is stored: ask the browser not to evict it (Chromium decides without a prompt). */
  const keepStorage = async (): Promise<void> => {
    const storage = navigator.storage;
    if (persistenceAsked || storage?.persist === undefined) return;
    persistenceAsked = true;
    const already = await storage.persisted().catch(() => false);
    const granted = already || (await storage.persist().catch(() => false));
    persistence = granted
      ? 'kept: the browser will not clear stored models to make room'
      : 'not kept for sure: the browser may clear stored models when the disk runs short';
    container.dataset.persisted = String(granted);
  };

  const picker: ModelPicker = {
    get models() {
      return models;
    },
    async refresh() {
      const keep = select.value || loadedId;
      models = ordered(await engine.listCatalogModels());
      select.replaceChildren(
        ...models.map((model) => {
          const option = make('option', { value: model.id, textContent: optionLabel(model), disabled: model.backend === null });
          option.dataset.backend = model.backend ?? 'none';
          option.dataset.cached = String(model.cached);
          return option;
        }),
      );
      select.value = models.some((m) => m.id === keep && m.backend !== null) ? keep : loadedId;
      showChosen();
      showUnrunnable();
      showOffline();
      await Promise.all([showStorage(), showLoras()]);
    },
    async loaded(id) {
      loadedId = id;
      await picker.refresh();
      if (models.find((m) => m.id === id)?.cached === true) {
        await keepStorage();
        await showStorage();
      }
    },
  };

  const loadChosen = async (): Promise<void> => {
    const model = chosen();
    if (busy || model === undefined || model.backend === null || model.id === loadedId) return;
    busy = true;
    showChosen();
    try {
      await options.load(model.id);
    } finally {
      busy = false;
      showChosen();
    }
  };

  const deleteModel = async (model: CatalogModelStatus, button: HTMLButtonElement): Promise<void> => {
    button.disabled = true;
    try {
      // A catalog model is stored as "<id>@<variant>"; a bundled one under its manifest's URL, with its id.
      const cached = await engine.listCachedModels();
      const stored = cached.filter(
        (c) => c.key === `${model.id}@${model.variant}` || (c.id === model.id && c.manifestUrl !== null && new URL(c.manifestUrl).origin === location.origin),
      );
      for (const { key } of stored) await engine.deleteCachedModel(key);
      await picker.refresh();
    } catch (error) {
      // Said where the button was: the model stays listed as stored, and the button can be pressed again.
      button.disabled = false;
      parts.cache.append(make('span', { className: 'why-not', textContent: ` Not deleted: ${error instanceof Error ? error.message : String(error)}` }));
    }
  };

  select.addEventListener('change', showChosen);
  select.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    void loadChosen();
  });
  parts.load.addEventListener('click', () => void loadChosen());
  navigator.serviceWorker?.addEventListener('controllerchange', showOffline);

  await picker.refresh();
  return picker;
}

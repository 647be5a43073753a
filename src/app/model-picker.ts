/**
 * The demo's model picker: every catalog model with its download size, whether it is cached,
 * and whether this device can run it — and if not, why (device fitting's own words), before
 * anything is downloaded.
 */
import type { CatalogModelStatus, Engine } from '../index.ts';

const GB = 1e9;
const MB = 1e6;

/** Sizes as download dialogs show them (decimal units). */
export function formatSize(bytes: number, exact: boolean): string {
  const text = bytes >= GB ? `${(bytes / GB).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / MB))} MB`;
  return exact ? text : `~${text}`;
}

function label(model: CatalogModelStatus): string {
  const where = model.backend === null ? "can't run here" : `${model.cached ? 'cached' : 'download'}${model.backend === 'wasm' ? ' · CPU' : ''}`;
  return `${model.name} · ${formatSize(model.downloadBytes, model.downloadBytesExact)} · ${where}`;
}

export interface ModelPicker {
  /** The catalog as last listed. */
  readonly models: readonly CatalogModelStatus[];
  /** Lists the catalog again (after a download: the cached marks change). */
  refresh(): Promise<void>;
}

/**
 * Fills `select` with the catalog and keeps `notes` on the chosen model: its description, and
 * why it cannot run or what to know when it does. `onPick` is called with a model this device
 * can run; one it cannot is explained, not loaded.
 */
export async function setUpModelPicker(
  select: HTMLSelectElement,
  notes: HTMLElement,
  engine: Engine,
  current: string,
  onPick: (id: string) => void,
): Promise<ModelPicker> {
  let models: CatalogModelStatus[] = [];
  let chosen = current;
  const showNotes = (): void => {
    const model = models.find((m) => m.id === select.value);
    if (model === undefined) return;
    notes.replaceChildren();
    const description = document.createElement('span');
    description.textContent = model.description;
    notes.append(description);
    for (const note of model.notes) {
      const line = document.createElement('span');
      line.className = model.backend === null ? 'why-not' : 'note';
      line.textContent = model.backend === null ? `Cannot run on this device: ${note}.` : note;
      notes.append(line);
    }
    notes.dataset.runnable = String(model.backend !== null);
  };
  const picker: ModelPicker = {
    get models() {
      return models;
    },
    async refresh() {
      models = await engine.listCatalogModels();
      select.replaceChildren(
        ...models.map((model) => {
          const option = document.createElement('option');
          option.value = model.id;
          option.textContent = label(model);
          option.dataset.backend = model.backend ?? 'none';
          option.dataset.cached = String(model.cached);
          return option;
        }),
      );
      select.value = chosen;
      showNotes();
    },
  };
  select.addEventListener('change', () => {
    showNotes();
    const model = models.find((m) => m.id === select.value);
    if (model?.backend === null || model === undefined || model.id === chosen) return;
    chosen = model.id;
    onPick(model.id);
  });
  await picker.refresh();
  return picker;
}

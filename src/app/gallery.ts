/**
 * The demo's history panel: a "Keep history" switch, a gallery of the pictures kept (newest
 * first; a click restores the settings that made one) and a button that clears them. It builds
 * its own elements inside the container it is given.
 */
import { encodePngWithParameters, PictureHistory } from '../index.ts';
import type { GeneratedImage, GenerateRequest, RequestAsRun, HistoryEntry } from '../index.ts';

/** Thumbnails shown; older pictures stay stored. */
const SHOWN = 48;

export interface Gallery {
  /**
   * The picture as PNG with its parameters (for the download link), kept in the history when the
   * switch is on. A history that cannot be written (storage blocked, quota) is said in the panel;
   * the PNG is made all the same.
   */
  keep(image: GeneratedImage, modelId: string): Promise<Blob>;
}

export interface GalleryOptions {
  /** Called with the settings of the picture clicked and a few words on where they came from. */
  readonly restore: (request: GenerateRequest, from: string) => void;
  readonly history?: PictureHistory;
}

function create<K extends keyof HTMLElementTagNameMap>(tag: K, properties: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), properties);
}

export function createGallery(container: HTMLElement, options: GalleryOptions): Gallery {
  const history = options.history ?? new PictureHistory();
  const keepSwitch = create('input', { type: 'checkbox', id: 'keep-history' });
  const clear = create('button', { type: 'button', id: 'clear-history', textContent: 'Clear history' });
  const note = create('p', { id: 'history-note', hidden: true });
  const list = create('ul', { id: 'gallery' });
  const label = create('label', { htmlFor: 'keep-history', textContent: 'Keep history' });
  const controls = create('div', { className: 'history-controls' });
  controls.append(keepSwitch, label, clear);
  container.append(create('h2', { textContent: 'History' }), controls, note, list);

  let shownUrls: string[] = [];

  const say = (text: string | undefined): void => {
    note.textContent = text ?? '';
    note.hidden = text === undefined;
  };

  /** Every storage call goes through here: a failing one is said in the panel, not thrown at the page. */
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      say(`The history could not be ${what}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };

  const thumbnail = (entry: HistoryEntry): HTMLLIElement => {
    const url = URL.createObjectURL(entry.png);
    shownUrls.push(url);
    const { prompt, seed, steps } = entry.request;
    const button = create('button', { type: 'button', title: `${prompt}\nSeed ${seed}, ${steps} steps — click to restore these settings` });
    button.setAttribute('aria-label', `Restore the settings of "${prompt}" (seed ${seed})`);
    button.append(create('img', { src: url, alt: prompt, width: entry.width, height: entry.height }));
    button.addEventListener('click', () => options.restore(entry.request, `the picture "${prompt}" in the history`));
    const item = create('li');
    item.dataset.id = entry.id;
    item.append(button);
    return item;
  };

  const render = async (): Promise<void> => {
    const entries = await attempt('read', () => history.list(SHOWN));
    if (entries === undefined) return;
    for (const url of shownUrls) URL.revokeObjectURL(url);
    shownUrls = [];
    list.replaceChildren(...entries.map(thumbnail));
    clear.disabled = entries.length === 0;
  };

  keepSwitch.addEventListener('change', () => {
    const enabled = keepSwitch.checked;
    // data-saved says the choice is on disk (tests wait on it before reloading).
    delete keepSwitch.dataset.saved;
    void attempt('switched', async () => {
      await history.setEnabled(enabled);
      keepSwitch.dataset.saved = String(enabled);
    });
  });
  clear.addEventListener('click', () => {
    void attempt('cleared', () => history.clear()).then(render);
  });
  void attempt('read', () => history.isEnabled()).then((enabled) => {
    keepSwitch.checked = enabled ?? false;
  });
  void render();

  return {
    async keep(image, modelId) {
      const png = await encodePngWithParameters(image, modelId);
      const { request, timings, width, height } = image;
      const added = await attempt('written', () => history.add({ modelId, request, timings, width, height, png }));
      if (added !== undefined) await render();
      return png;
    },
  };
}

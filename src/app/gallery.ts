/**
 * The demo's history panel: a "Keep history" switch, a gallery of the pictures kept (newest
 * first) and a button that deletes them all, after asking. A thumbnail shows its picture in the
 * page's main view and opens it large (src/app/gallery-viewer.ts), where it can be saved, reused,
 * compared with another or deleted. It builds its own elements inside the container it is given.
 */
import { encodePngWithParameters, PictureHistory } from '../index.ts';
import type { GeneratedImage, GenerateRequest, HistoryEntry } from '../index.ts';
import { createViewer } from './gallery-viewer.ts';
import './gallery.css';

/** Thumbnails shown; older pictures stay stored. */
const SHOWN = 48;

export interface Gallery {
  /**
   * The picture as PNG with its parameters (for the download link), kept in the history when the
   * switch is on. A history that cannot be written (storage blocked, quota) is said in the panel;
   * the PNG is made all the same.
   */
  keep(image: GeneratedImage, modelId: string): Promise<Blob>;
  /**
   * The newest picture kept, for the page to show on start; undefined when there is none or the
   * history cannot be read (said in the panel).
   */
  latest(): Promise<HistoryEntry | undefined>;
}

export interface GalleryOptions {
  /** "Reuse settings": called with the picture's settings and a few words on where they came from. */
  readonly restore: (request: GenerateRequest, from: string) => void;
  /** A thumbnail was activated: the page puts that picture in its main view. */
  readonly show?: (entry: HistoryEntry) => void;
  /** "Reuse seed": the page takes this seed (and stops drawing random ones). Without it, no such button. */
  readonly reuseSeed?: (seed: number) => void;
  /** "Use as source": the picture as the start of an image-to-image request. Without it, no such button. */
  readonly useAsSource?: (png: Blob) => void;
  readonly history?: PictureHistory;
}

function create<K extends keyof HTMLElementTagNameMap>(tag: K, properties: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), properties);
}

function pictures(count: number): string {
  return count === 1 ? '1 picture' : `${count} pictures`;
}

/**
 * Builds the panel inside `container` and reads the history into it.
 */
export function createGallery(container: HTMLElement, options: GalleryOptions): Gallery {
  const history = options.history ?? new PictureHistory();
  const keepSwitch = create('input', { type: 'checkbox', id: 'keep-history' });
  keepSwitch.setAttribute('role', 'switch');
  const label = create('label', { htmlFor: 'keep-history', textContent: 'Keep history' });
  const clear = create('button', { type: 'button', id: 'clear-history', textContent: 'Clear history' });
  // Asked in place rather than with window.confirm, which blocks the page and cannot be styled.
  const question = create('span', { className: 'history-question' });
  const yes = create('button', { type: 'button', textContent: 'Yes, delete' });
  const no = create('button', { type: 'button', textContent: 'No' });
  const confirm = create('span', { className: 'history-confirm', hidden: true });
  confirm.setAttribute('role', 'group');
  confirm.setAttribute('aria-label', 'Delete all pictures?');
  confirm.append(question, yes, no);
  const controls = create('div', { className: 'history-controls' });
  controls.append(keepSwitch, label, clear, confirm);
  const note = create('p', { id: 'history-note', hidden: true });
  const offNote = create('p', { className: 'history-off', hidden: true, textContent: 'Keep history is off: new pictures are not kept after a reload.' });
  const empty = create('p', { className: 'history-empty', hidden: true, textContent: 'Nothing yet: pictures you make appear here.' });
  const list = create('ul', { id: 'gallery' });
  list.setAttribute('aria-label', 'Pictures kept');
  container.append(create('h2', { textContent: 'History' }), controls, note, offNote, empty, list);

  let entries: HistoryEntry[] = [];
  /** Object URLs by entry id: made once per picture, revoked when it leaves the list. */
  const urls = new Map<string, string>();
  const buttons = new Map<string, HTMLButtonElement>();
  /** The picture marked for comparison in the viewer, badged in the list. */
  let markedId: string | undefined;

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

  const url = (entry: HistoryEntry): string => {
    let made = urls.get(entry.id);
    if (made === undefined) {
      made = URL.createObjectURL(entry.png);
      urls.set(entry.id, made);
    }
    return made;
  };

  const viewer = createViewer(container, {
    entries: () => entries,
    url,
    thumbnail: (id) => buttons.get(id),
    fallbackFocus: () => keepSwitch,
    remove: async (entry) => {
      // `attempt` answers undefined for a failure, and `delete` itself resolves to undefined.
      const removed = await attempt('changed', async () => {
        await history.delete(entry.id);
        return true;
      });
      if (removed === undefined) return false;
      await render();
      return true;
    },
    marked: (id) => {
      markedId = id;
      for (const item of list.querySelectorAll('li')) item.classList.toggle('marked', item.dataset.id === id);
    },
    restore: (entry) => options.restore(entry.request, `the picture "${entry.request.prompt}" in the history`),
    ...(options.reuseSeed !== undefined ? { reuseSeed: options.reuseSeed } : {}),
    ...(options.useAsSource !== undefined ? { useAsSource: options.useAsSource } : {}),
  });

  const thumbnail = (entry: HistoryEntry): HTMLLIElement => {
    const { prompt, seed, steps } = entry.request;
    const open = create('button', { type: 'button', title: `${prompt}\nSeed ${seed}, ${steps} steps` });
    open.setAttribute('aria-label', `Open "${prompt}" (seed ${seed})`);
    open.append(create('img', { src: url(entry), alt: prompt, width: entry.width, height: entry.height }));
    open.addEventListener('click', () => {
      options.show?.(entry);
      viewer.open(entry.id);
    });
    buttons.set(entry.id, open);
    const item = create('li', { className: entry.id === markedId ? 'marked' : '' });
    item.dataset.id = entry.id;
    item.append(open);
    return item;
  };

  const render = async (): Promise<void> => {
    const read = await attempt('read', () => history.list(SHOWN));
    if (read === undefined) return;
    entries = read;
    const listed = new Set(entries.map((entry) => entry.id));
    for (const [id, made] of urls) {
      if (listed.has(id)) continue;
      URL.revokeObjectURL(made);
      urls.delete(id);
    }
    buttons.clear();
    list.replaceChildren(...entries.map(thumbnail));
    clear.disabled = entries.length === 0;
    empty.hidden = entries.length > 0;
    viewer.listChanged();
  };

  const showSwitch = (enabled: boolean): void => {
    keepSwitch.checked = enabled;
    offNote.hidden = enabled;
  };

  const ask = (asking: boolean): void => {
    clear.hidden = asking;
    confirm.hidden = !asking;
    (asking ? no : clear).focus();
  };

  keepSwitch.addEventListener('change', () => {
    const enabled = keepSwitch.checked;
    offNote.hidden = enabled;
    // data-saved says the choice is on disk (tests wait on it before reloading).
    delete keepSwitch.dataset.saved;
    void attempt('switched', async () => {
      await history.setEnabled(enabled);
      keepSwitch.dataset.saved = String(enabled);
    });
  });
  clear.addEventListener('click', () => {
    void attempt('counted', () => history.count()).then((count) => {
      // The list shows the newest SHOWN: the question counts every picture that goes.
      question.textContent = `Delete all ${pictures(count ?? entries.length)}?`;
      ask(true);
    });
  });
  no.addEventListener('click', () => ask(false));
  confirm.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') ask(false);
  });
  yes.addEventListener('click', () => {
    void attempt('cleared', () => history.clear())
      .then(render)
      .then(() => {
        clear.hidden = false;
        confirm.hidden = true;
        // The Clear button is disabled now: focus stays in the panel, on the switch.
        keepSwitch.focus();
      });
  });
  void attempt('read', () => history.isEnabled()).then((enabled) => showSwitch(enabled ?? false));
  const ready = render();

  return {
    async keep(image, modelId) {
      const png = await encodePngWithParameters(image, modelId);
      const { request, timings, width, height } = image;
      const added = await attempt('written', () => history.add({ modelId, request, timings, width, height, png }));
      if (added !== undefined) await render();
      return png;
    },
    async latest() {
      await ready;
      return entries[0];
    },
  };
}

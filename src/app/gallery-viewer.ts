/**
 * The history's large view: one `<dialog>` that shows a kept picture with how it was made and
 * what can be done with it (save, reuse, delete), or two pictures side by side with the
 * parameters that differ highlighted. Esc closes it, ← → step through the history, and focus
 * goes back to the thumbnail of the picture last shown.
 */
import type { HistoryEntry } from '../index.ts';

/** What the viewer needs from the gallery around it. */
export interface ViewerHost {
  /** The pictures shown in the gallery, newest first: ← → step through these. */
  entries(): readonly HistoryEntry[];
  /** An object URL of the entry's PNG, alive while the entry is listed. */
  url(entry: HistoryEntry): string;
  /** The thumbnail's button, where focus goes when the viewer closes. */
  thumbnail(id: string): HTMLElement | undefined;
  /** Where focus goes when no thumbnail is left. */
  fallbackFocus(): HTMLElement;
  /** Deletes the entry and lists the rest; false when the store refused (the gallery says why). */
  remove(entry: HistoryEntry): Promise<boolean>;
  /** The picture marked for comparison changed: the gallery badges its thumbnail. */
  marked(id: string | undefined): void;
  readonly restore: (entry: HistoryEntry) => void;
  readonly reuseSeed?: (seed: number) => void;
  readonly useAsSource?: (png: Blob) => void;
}

export interface Viewer {
  /** Shows the picture `id` large, opening the dialog if it is closed. */
  open(id: string): void;
  /** The list changed (a new picture, a deletion): a picture no longer listed is let go. */
  listChanged(): void;
}

function create<K extends keyof HTMLElementTagNameMap>(tag: K, properties: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), properties);
}

function button(text: string, onClick: () => void, label?: string): HTMLButtonElement {
  const made = create('button', { type: 'button', textContent: text });
  if (label !== undefined) made.setAttribute('aria-label', label);
  made.addEventListener('click', onClick);
  return made;
}

/** The parameters that made a picture, in the order the desktop UIs list them. */
function parameters(entry: HistoryEntry): [string, string][] {
  const { prompt, negativePrompt, seed, steps, guidance, scheduler, width, height } = entry.request;
  return [
    ['Prompt', prompt],
    ['Negative prompt', negativePrompt === '' ? '—' : negativePrompt],
    ['Seed', String(seed)],
    ['Steps', String(steps)],
    ['Guidance', String(guidance)],
    ['Scheduler', scheduler],
    ['Model', entry.modelId],
    ['Size', `${width}×${height}`],
  ];
}

function made(entry: HistoryEntry): string {
  return new Date(entry.createdAt).toLocaleString();
}

function picture(host: ViewerHost, entry: HistoryEntry): HTMLImageElement {
  return create('img', { src: host.url(entry), alt: entry.request.prompt, width: entry.width, height: entry.height });
}

/**
 * Builds the dialog (appended to `container`) and returns the calls that drive it.
 */
export function createViewer(container: HTMLElement, host: ViewerHost): Viewer {
  const dialog = create('dialog', { id: 'history-viewer', className: 'history-viewer' });
  dialog.setAttribute('aria-labelledby', 'history-viewer-title');
  const title = create('h2', { id: 'history-viewer-title' });
  const close = button('✕', () => dialog.close(), 'Close');
  const head = create('div', { className: 'viewer-head' });
  head.append(title, close);

  const single = create('div', { className: 'viewer-single' });
  const previous = button('‹', () => step(-1), 'Previous picture');
  const next = button('›', () => step(1), 'Next picture');
  const frame = create('div', { className: 'viewer-picture' });
  const stage = create('div', { className: 'viewer-stage' });
  stage.append(previous, frame, next);
  const details = create('dl', { className: 'viewer-details' });
  const save = create('a', { className: 'viewer-save', textContent: 'Save PNG' });
  const compare = button('Compare', () => toggleCompare());
  const actions = create('div', { className: 'viewer-actions' });
  actions.append(
    save,
    button('Reuse settings', () => handOver((entry) => host.restore(entry))),
    ...(host.reuseSeed !== undefined ? [button('Reuse seed', () => handOver((entry) => host.reuseSeed!(entry.request.seed)))] : []),
    ...(host.useAsSource !== undefined ? [button('Use as source', () => handOver((entry) => host.useAsSource!(entry.png)))] : []),
    compare,
    button('Delete', () => void removeCurrent()),
  );
  const note = create('p', { className: 'viewer-note' });
  note.setAttribute('aria-live', 'polite');
  single.append(stage, details, actions, note);

  const side = create('div', { className: 'viewer-compare', hidden: true });
  dialog.append(head, single, side);
  container.append(dialog);

  let currentId: string | undefined;
  let markedId: string | undefined;

  const find = (id: string | undefined): HistoryEntry | undefined => host.entries().find((entry) => entry.id === id);

  const setMark = (id: string | undefined): void => {
    markedId = id;
    host.marked(id);
  };

  const showSingle = (): void => {
    const entries = host.entries();
    const index = entries.findIndex((entry) => entry.id === currentId);
    const entry = entries[index];
    if (entry === undefined) return;
    side.hidden = true;
    single.hidden = false;
    title.textContent = `Picture ${index + 1} of ${entries.length}`;
    frame.replaceChildren(picture(host, entry));
    details.replaceChildren(
      ...[...parameters(entry), ['Made', made(entry)] as [string, string]].flatMap(([term, value]) => [
        create('dt', { textContent: term }),
        create('dd', { textContent: value }),
      ]),
    );
    previous.disabled = index === 0;
    next.disabled = index === entries.length - 1;
    save.href = host.url(entry);
    save.download = `webdiffusion-${entry.request.seed}.png`;
    const marked = find(markedId);
    compare.textContent = marked === undefined ? 'Compare' : marked === entry ? 'Unmark' : 'Compare with marked';
    note.textContent =
      marked === undefined
        ? ''
        : marked === entry
          ? 'Marked for comparison: open another picture (← →) and press "Compare with marked".'
          : `Marked for comparison: "${marked.request.prompt}" (seed ${marked.request.seed}).`;
  };

  const showCompare = (a: HistoryEntry, b: HistoryEntry): void => {
    single.hidden = true;
    side.hidden = false;
    title.textContent = 'Two pictures compared';
    const figures = create('div', { className: 'compare-pictures' });
    for (const [name, entry] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const figure = create('figure');
      figure.append(picture(host, entry), create('figcaption', { textContent: `${name} · ${made(entry)}` }));
      figures.append(figure);
    }
    const table = create('table', { className: 'compare-table' });
    table.append(create('caption', { textContent: 'Parameters; those that differ are highlighted' }));
    const headRow = create('tr');
    headRow.append(create('td'), create('th', { scope: 'col', textContent: 'A' }), create('th', { scope: 'col', textContent: 'B' }));
    const [ofA, ofB] = [parameters(a), parameters(b)];
    const rows = ofA.map(([term, valueA], i) => {
      const valueB = ofB[i]![1];
      const row = create('tr');
      const header = create('th', { scope: 'row', textContent: term });
      if (valueA !== valueB) {
        row.className = 'differs';
        // The highlight is colour; a screen reader hears it as words.
        header.append(create('span', { className: 'visually-hidden', textContent: ' (differs)' }));
      }
      row.append(header, create('td', { textContent: valueA }), create('td', { textContent: valueB }));
      return row;
    });
    table.append(create('thead'), create('tbody'));
    table.tHead!.append(headRow);
    table.tBodies[0]!.append(...rows);
    side.replaceChildren(
      figures,
      table,
      button('Back', () => showSingle()),
    );
  };

  const step = (by: number): void => {
    const entries = host.entries();
    const index = entries.findIndex((entry) => entry.id === currentId);
    const target = entries[index + by];
    if (target === undefined) return;
    currentId = target.id;
    showSingle();
  };

  const toggleCompare = (): void => {
    const marked = find(markedId);
    const current = find(currentId);
    if (current === undefined) return;
    if (marked === undefined) setMark(current.id);
    else if (marked === current) setMark(undefined);
    else return showCompare(marked, current);
    showSingle();
  };

  /** Reuse and "use as source" hand the picture to the form: close, so the form is in sight. */
  const handOver = (act: (entry: HistoryEntry) => void): void => {
    const entry = find(currentId);
    if (entry === undefined) return;
    act(entry);
    dialog.close();
  };

  const removeCurrent = async (): Promise<void> => {
    const entries = host.entries();
    const index = entries.findIndex((entry) => entry.id === currentId);
    const entry = entries[index];
    if (entry === undefined) return;
    const rest = entries.filter((other) => other !== entry);
    // The next older picture takes its place (the newer one when it was the oldest), chosen
    // before the list changes so `listChanged` shows it, or closes the viewer when none is left.
    currentId = rest[Math.min(index, rest.length - 1)]?.id;
    if (!(await host.remove(entry))) currentId = entry.id;
  };

  dialog.addEventListener('keydown', (event) => {
    // The page's Esc cancels a generation: closing the viewer must not do that too.
    if (event.key === 'Escape') event.stopPropagation();
    if (single.hidden || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      event.preventDefault();
      step(event.key === 'ArrowLeft' ? -1 : 1);
    }
  });
  dialog.addEventListener('close', () => {
    // The dialog puts focus back where it was opened from; after ← → the thumbnail of the picture
    // last seen is the one to come back to. Chromium restores focus after the close event, so
    // ours comes a task later to win.
    setTimeout(() => (host.thumbnail(currentId ?? '') ?? host.fallbackFocus()).focus());
  });

  return {
    open(id) {
      currentId = id;
      showSingle();
      if (!dialog.open) dialog.showModal();
    },
    listChanged() {
      if (find(markedId) === undefined && markedId !== undefined) setMark(undefined);
      if (!dialog.open) return;
      if (find(currentId) === undefined) dialog.close();
      // A comparison whose marked picture is gone falls back to the one picture left.
      else if (!single.hidden || markedId === undefined) showSingle();
    },
  };
}

/**
 * The demo's queue, shown: every request submitted, with its place, its status and a Cancel
 * button each, and "Run next" for a waiting one. Nothing submitted disappears without a word:
 * a finished request stays listed (done, failed, cancelled or superseded) until "Clear finished".
 */
import type { GenerationQueue, QueueEvent } from '../index.ts';

/** Finished requests listed at most; older ones leave the list first. */
const FINISHED_SHOWN = 20;

interface Item {
  readonly id: string;
  readonly element: HTMLLIElement;
  readonly status: HTMLSpanElement;
  readonly cancel: HTMLButtonElement;
  readonly runNext: HTMLButtonElement;
  finished: boolean;
}

function create<K extends keyof HTMLElementTagNameMap>(tag: K, properties: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), properties);
}

export interface QueuePanelOptions {
  /** Measured milliseconds a step takes on the loaded model, for the waiting requests' estimates. */
  readonly stepMs: () => number | undefined;
}

export function createQueuePanel(
  section: HTMLElement,
  list: HTMLOListElement,
  clearFinished: HTMLButtonElement,
  queue: GenerationQueue,
  options: QueuePanelOptions,
): void {
  const items = new Map<string, Item>();
  /** Each waiting request's steps and pictures, for the time estimate. */
  const work = new Map<string, number>();

  const refresh = (): void => {
    const order = queue.pending().map((entry) => entry.id);
    const waiting = order.filter((id) => queue.status(id) === 'queued');
    const stepMs = options.stepMs();
    let before = 0;
    for (const [index, id] of order.entries()) {
      const item = items.get(id);
      if (item === undefined) continue;
      // Keep the list in running order: the running one first, then the waiting ones by priority.
      if (list.children[index] !== item.element) list.insertBefore(item.element, list.children[index] ?? null);
      if (queue.status(id) === 'queued') {
        const place = waiting.indexOf(id) + 1;
        const eta = stepMs !== undefined ? `, starts in about ${Math.max(1, Math.round((before * stepMs) / 1000))} s` : '';
        item.status.textContent = `Waiting, ${ordinal(place)} in line${eta}`;
        item.element.dataset.status = 'queued';
        item.runNext.hidden = place === 1;
      }
      before += work.get(id) ?? 0;
    }
    const finished = [...items.values()].filter((item) => item.finished);
    for (const item of finished.slice(0, Math.max(0, finished.length - FINISHED_SHOWN))) {
      item.element.remove();
      items.delete(item.id);
    }
    clearFinished.hidden = ![...items.values()].some((item) => item.finished);
    section.hidden = items.size === 0;
  };

  const add = (event: Extract<QueueEvent, { type: 'queued' }>): void => {
    const { id, request } = event;
    const element = create('li');
    element.dataset.id = id;
    const prompt = create('span', {
      className: 'queue-prompt',
      textContent: request.prompt.trim() === '' ? '(no prompt)' : request.prompt,
      title: request.prompt,
    });
    const details = create('span', {
      className: 'queue-details',
      textContent: [
        request.n !== undefined && request.n > 1 ? `${request.n} pictures` : undefined,
        request.steps !== undefined ? `${request.steps} steps` : undefined,
        request.image !== undefined ? (request.mask !== undefined ? 'inpainting' : 'from a picture') : undefined,
      ]
        .filter((part) => part !== undefined)
        .join(' · '),
    });
    const status = create('span', { className: 'queue-status' });
    const runNext = create('button', { type: 'button', textContent: 'Run next' });
    runNext.setAttribute('aria-label', `Run next: ${request.prompt}`);
    const cancel = create('button', { type: 'button', textContent: 'Cancel' });
    cancel.setAttribute('aria-label', `Cancel: ${request.prompt}`);
    const buttons = create('span', { className: 'queue-buttons' });
    buttons.append(runNext, cancel);
    element.append(prompt, details, status, buttons);
    list.append(element);
    const item: Item = { id, element, status, cancel, runNext, finished: false };
    items.set(id, item);
    work.set(id, (request.steps ?? 20) * Math.max(1, request.n ?? 1));
    runNext.addEventListener('click', () => {
      const top = Math.max(0, ...queue.pending().map((entry) => entry.priority));
      queue.setPriority(id, top + 1);
      refresh();
    });
    cancel.addEventListener('click', () => {
      queue.cancel(id);
    });
  };

  const end = (id: string, status: string, text: string): void => {
    const item = items.get(id);
    if (item === undefined) return;
    item.finished = true;
    item.element.dataset.status = status;
    item.status.textContent = text;
    item.cancel.hidden = true;
    item.runNext.hidden = true;
    work.delete(id);
    // Finished ones go below everything still to run, newest first among them.
    const firstFinished = [...list.children].find((child) => child !== item.element && items.get((child as HTMLElement).dataset.id ?? '')?.finished === true);
    list.insertBefore(item.element, firstFinished ?? null);
  };

  queue.on('*', (event) => {
    switch (event.type) {
      case 'queued':
        add(event);
        break;
      case 'started': {
        const item = items.get(event.id);
        if (item !== undefined) {
          item.element.dataset.status = 'running';
          item.status.textContent = 'Starting…';
          item.runNext.hidden = true;
        }
        break;
      }
      case 'progress': {
        const item = items.get(event.id);
        const { phase, step, steps } = event.progress;
        if (item !== undefined)
          item.status.textContent =
            phase === 'denoising' ? `Running, step ${step}/${steps}` : phase === 'decoding' ? 'Running, decoding' : 'Running, encoding the prompt';
        return; // the order did not change
      }
      case 'done':
        end(event.id, 'done', event.images.length > 1 ? `Done, ${event.images.length} pictures` : 'Done');
        break;
      case 'failed':
        end(event.id, 'failed', `Failed: ${event.error instanceof Error ? event.error.message : String(event.error)}`);
        break;
      case 'cancelled':
        end(event.id, 'cancelled', event.reason === 'superseded' ? 'Replaced by a newer live request' : 'Cancelled');
        break;
    }
    refresh();
  });

  clearFinished.addEventListener('click', () => {
    for (const item of [...items.values()].filter((entry) => entry.finished)) {
      item.element.remove();
      items.delete(item.id);
    }
    refresh();
  });
}

function ordinal(place: number): string {
  const suffix = place % 100 >= 11 && place % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][place % 10] ?? 'th');
  return `${place}${suffix}`;
}

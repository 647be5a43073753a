/**
 * Puts the picture history and the PNG parameters helpers on `window` for test/history/*.test.ts,
 * which drives them with `page.evaluate` in a real browser (IndexedDB, Blob, CompressionStream).
 */
import { createStore } from 'idb-keyval';
import { PictureHistory } from '../../src/history/picture-history.ts';
import { encodePngWithParameters, readPngParameters } from '../../src/image/generation-parameters.ts';

export interface HistoryPage {
  /** A history in databases of its own (`name`, `name`-settings), so tests do not share entries. */
  open(name: string): PictureHistory;
  readonly encodePngWithParameters: typeof encodePngWithParameters;
  readonly readPngParameters: typeof readPngParameters;
}

declare global {
  interface Window {
    historyPage?: HistoryPage;
  }
}

window.historyPage = {
  open: (name) => new PictureHistory({ pictures: createStore(name, 'pictures'), settings: createStore(`${name}-settings`, 'settings') }),
  encodePngWithParameters,
  readPngParameters,
};

/** `webdiffusion/history`: finished pictures kept in IndexedDB, newest first. */
export { PictureHistory } from '../history/picture-history.ts';
export type { HistoryEntry, NewHistoryEntry, PictureHistoryStores } from '../history/picture-history.ts';

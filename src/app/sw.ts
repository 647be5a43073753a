/// <reference lib="webworker" />
/**
 * The demo's service worker. It precaches the app shell: the page, its scripts and styles, the
 * engine's worker, ONNX Runtime's wasm, the icons and web app manifest, and the bundled model's
 * manifest.json (the list is written into `self.__WB_MANIFEST` at build time, each entry with a
 * revision). It serves them cache-first, so after one visit the app starts with no network.
 *
 * The model's weights are not here: the engine keeps them in its weight store (OPFS), which the
 * first visit fills by loading the model, and which verifies, resumes and evicts them as one
 * store for every model. Requests for them pass through this worker untouched.
 *
 * A new version installs beside the running one and waits: the page offers "reload to update"
 * and posts SKIP_WAITING when the user accepts, so one page never mixes files of two versions.
 */
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const self: ServiceWorkerGlobalScope & { readonly __WB_MANIFEST: (string | { url: string; revision: string | null })[] };

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
// Any navigation in scope (a reload with a query string, a deep link) opens the cached page.
registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html')));

self.addEventListener('message', (event) => {
  if ((event.data as { type?: unknown } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});

// The first version takes the page that installed it at once, so that visit is already served
// (and tested) through the cache. A later version activates only after SKIP_WAITING, and the
// page reloads when it takes over (src/app/pwa.ts).
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

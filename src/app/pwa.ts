/**
 * The demo as an installable, offline app: registers the service worker (src/app/sw.ts, built
 * only by `vite build`) and offers a waiting new version with a "Reload to update" prompt.
 *
 * Never half-applied: the new version installs (precaches everything) beside the running one and
 * waits. Only when the user accepts does it take over, and then every page it took over reloads,
 * so no page runs old scripts against new files. Updates are looked for when the page loads
 * (the browser checks the worker's script on navigation) and when it becomes visible again.
 *
 * Imported for its effect by src/app/main.ts.
 */
import { Workbox } from 'workbox-window';

declare const __WEBDIFFUSION_VERSION__: string;

/** The build's version (package.json's, unless the build defines another). */
export const APP_VERSION = __WEBDIFFUSION_VERSION__;

function updatePrompt(accept: () => void): HTMLElement {
  const prompt = document.createElement('div');
  prompt.className = 'update-prompt';
  prompt.setAttribute('role', 'status');
  const text = document.createElement('span');
  text.textContent = 'A new version of webdiffusion is ready.';
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Reload to update';
  button.addEventListener('click', () => {
    button.disabled = true;
    accept();
  });
  prompt.append(text, button);
  return prompt;
}

function registerServiceWorker(): void {
  document.documentElement.dataset.version = APP_VERSION;
  // Dev serves sources, not a build: there is no worker to register.
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;

  // Reload when a new worker takes over a page that an older one controlled (this page or
  // another tab accepted the update); the first version taking over an uncontrolled page is no change.
  let controlled = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (controlled) window.location.reload();
    controlled = true;
  });

  const workbox = new Workbox(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL });
  let shown: HTMLElement | undefined;
  workbox.addEventListener('waiting', () => {
    shown ??= document.body.appendChild(updatePrompt(() => workbox.messageSkipWaiting()));
  });
  document.addEventListener('visibilitychange', () => {
    // Offline, the check fails; the next visible moment checks again.
    if (document.visibilityState === 'visible') workbox.update().catch(() => undefined);
  });
  workbox.register().catch((error: unknown) => {
    // The app works without it, online; say why it will not work offline.
    console.warn('webdiffusion: the service worker did not register; the app will not start offline.', error);
  });
}

registerServiceWorker();

/**
 * The library build's entry (`npm run build:lib` → dist/lib/webdiffusion.js): the public API,
 * plus the `<web-diffusion>` element, registered on import so that one module script tag is
 * all a page needs.
 */
import { defineWebDiffusionElement } from './element/web-diffusion.ts';

export * from './index.ts';
export { defineWebDiffusionElement, WebDiffusionElement } from './element/web-diffusion.ts';
export type { WebDiffusionEventMap, WebDiffusionPicture, WebDiffusionState } from './element/web-diffusion.ts';

defineWebDiffusionElement();

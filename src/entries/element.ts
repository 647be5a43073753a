/**
 * `webdiffusion/element`: importing it registers `<web-diffusion>` (the package's one entry with
 * a side effect). The engine the elements share starts with the first element's model.
 */
import { defineWebDiffusionElement } from '../element/web-diffusion.ts';

export { defineWebDiffusionElement, WebDiffusionElement } from '../element/web-diffusion.ts';
export type { WebDiffusionEventMap, WebDiffusionPicture, WebDiffusionState } from '../element/web-diffusion.ts';

defineWebDiffusionElement();

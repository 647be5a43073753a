/** `webdiffusion/png`: PNGs carrying their generation parameters, in the desktop UIs' form. */
export { encodePngWithParameters, formatParameters, parseParameters, readPngParameters } from '../image/generation-parameters.ts';
export type { ParsedParameters } from '../image/generation-parameters.ts';

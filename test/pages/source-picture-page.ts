/**
 * The "Start from a picture" section alone, for test/app/source-picture.test.ts, with an engine
 * on ONNX Runtime's CPU backend (tiny-shapes runs there in well under a second a picture) whose
 * requests take the section's fields, as the demo's form does. Pictures cross `page.evaluate`
 * as plain byte arrays.
 */
import { createEngine, type GenerateRequest, type TextRequest } from '../../src/index.ts';
import { createSourcePicture, useAsSourceButton, type RgbaPicture } from '../../src/app/source-picture.ts';

/** A picture as it crosses `page.evaluate`. */
export interface PagePicture {
  readonly width: number;
  readonly height: number;
  readonly pixels: number[];
}

export interface SourcePicturePage {
  /** The section's `requestFields()`, pictures as plain arrays. */
  fields(): { image?: PagePicture; strength?: number; mask?: PagePicture };
  /** Loads tiny-shapes on the CPU backend and gives the section its size. */
  load(): Promise<void>;
  /** Generates `request` merged with the section's fields; the result becomes the "current" picture, which the page's "Use as source" button takes. */
  generate(request: TextRequest): Promise<PagePicture & { source: 'text' | 'image' | 'inpainting'; strength?: number }>;
  /** Messages the section reported through onError. */
  readonly errors: string[];
}

declare global {
  interface Window {
    sourcePicturePage?: SourcePicturePage;
  }
}

const plain = (picture: RgbaPicture): PagePicture => ({ width: picture.width, height: picture.height, pixels: Array.from(picture.pixels) });
const errors: string[] = [];
const source = createSourcePicture(document.getElementById('source')!, {
  onError: (message) => {
    errors.push(message);
    document.getElementById('errors')!.textContent = message;
  },
});
source.setSize(64, 64);
let current: RgbaPicture | undefined;
document.querySelector('main')!.append(useAsSourceButton(source, () => current));
const engine = await createEngine();

window.sourcePicturePage = {
  errors,
  fields: () => {
    const { image, strength, mask } = source.requestFields();
    return {
      ...(image !== undefined ? { image: plain(image as RgbaPicture) } : {}),
      ...(strength !== undefined ? { strength } : {}),
      ...(mask !== undefined ? { mask: plain(mask as RgbaPicture) } : {}),
    };
  },
  load: async () => {
    const model = await engine.loadModel('/models/tiny-shapes/manifest.json', { backend: 'wasm' });
    source.setSize(model.width, model.height);
  },
  generate: async (request) => {
    const full: GenerateRequest = { ...request, ...source.requestFields() };
    const image = await engine.generate(full);
    current = image;
    return { ...plain(image), source: image.request.source ?? 'text', ...(image.request.strength !== undefined ? { strength: image.request.strength } : {}) };
  },
};

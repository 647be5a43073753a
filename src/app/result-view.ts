/**
 * The demo's main view: the big picture (a step's preview while one is made), a grid of a
 * batch's pictures (a click shows one big), and what can be done with the picture shown: save it
 * as PNG (with its parameters), reuse its seed, start a new request from it.
 */
import type { GeneratedImage, PreviewImage } from '../index.ts';

export interface ShownPicture {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8ClampedArray;
  readonly prompt: string;
  readonly seed: number;
  /** The PNG with its parameters, for "Save PNG". */
  readonly png: Blob;
}

export interface ResultViewElements {
  readonly canvas: HTMLCanvasElement;
  readonly grid: HTMLUListElement;
  readonly actions: HTMLElement;
  readonly download: HTMLAnchorElement;
  readonly reuseSeed: HTMLButtonElement;
  readonly useAsSource: HTMLButtonElement;
}

export interface ResultViewOptions {
  readonly reuseSeed: (seed: number) => void;
  readonly useAsSource: (png: Blob) => void;
}

export interface ResultView {
  /** Draws a step's preview over the big view (scaled up: a latent preview is 1/8 of the size). */
  preview(preview: PreviewImage): void;
  /** Shows a request's pictures: the first big, all of them in the grid when there are several. */
  showAll(pictures: readonly ShownPicture[]): void;
  /** Shows one picture big (a history entry, the last picture at start). */
  show(picture: ShownPicture): void;
}

/** The pixels of a finished picture, for `ShownPicture`. */
export function shownPicture(image: GeneratedImage, png: Blob): ShownPicture {
  return { width: image.width, height: image.height, pixels: image.pixels, prompt: image.request.prompt, seed: image.request.seed, png };
}

/** A stored PNG, decoded for the big view. */
export async function shownPictureFromPng(png: Blob, prompt: string, seed: number): Promise<ShownPicture> {
  const bitmap = await createImageBitmap(png);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  return { width: canvas.width, height: canvas.height, pixels: data, prompt, seed, png };
}

export function createResultView(elements: ResultViewElements, options: ResultViewOptions): ResultView {
  const { canvas, grid, actions, download, reuseSeed, useAsSource } = elements;
  let current: ShownPicture | undefined;
  let gridUrls: string[] = [];

  const draw = (pixels: Uint8ClampedArray, width: number, height: number): CanvasRenderingContext2D => {
    const context = canvas.getContext('2d');
    if (context === null) throw new Error('the canvas gave no 2D context');
    const image = new ImageData(new Uint8ClampedArray(pixels), width, height);
    if (width === canvas.width && height === canvas.height) {
      context.putImageData(image, 0, 0);
    } else {
      // Scaled up through a canvas of the preview's own size: putImageData does not scale.
      const small = new OffscreenCanvas(width, height);
      small.getContext('2d')!.putImageData(image, 0, 0);
      context.imageSmoothingEnabled = true;
      context.drawImage(small, 0, 0, canvas.width, canvas.height);
    }
    return context;
  };

  const show = (picture: ShownPicture): void => {
    current = picture;
    canvas.width = picture.width;
    canvas.height = picture.height;
    draw(picture.pixels, picture.width, picture.height);
    canvas.setAttribute('aria-label', `Generated picture: ${picture.prompt}`);
    canvas.dataset.kind = 'picture';
    canvas.dataset.seed = String(picture.seed);
    if (download.href !== '') URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(picture.png);
    download.download = `webdiffusion-${picture.seed}.png`;
    download.hidden = false;
    actions.hidden = false;
    for (const item of grid.children) {
      const button = item.querySelector('button');
      button?.setAttribute('aria-pressed', String((item as HTMLElement).dataset.seed === String(picture.seed)));
    }
  };

  reuseSeed.addEventListener('click', () => {
    if (current !== undefined) options.reuseSeed(current.seed);
  });
  useAsSource.addEventListener('click', () => {
    if (current !== undefined) options.useAsSource(current.png);
  });

  return {
    preview(preview) {
      draw(preview.pixels, preview.width, preview.height);
      canvas.dataset.kind = 'preview';
      canvas.setAttribute('aria-label', 'Preview of the picture being made');
    },
    showAll(pictures) {
      for (const url of gridUrls) URL.revokeObjectURL(url);
      gridUrls = [];
      grid.replaceChildren(
        ...pictures.map((picture, index) => {
          const url = URL.createObjectURL(picture.png);
          gridUrls.push(url);
          const item = document.createElement('li');
          item.dataset.seed = String(picture.seed);
          const button = document.createElement('button');
          button.type = 'button';
          button.setAttribute('aria-label', `Show picture ${index + 1} of ${pictures.length} (seed ${picture.seed})`);
          const image = Object.assign(document.createElement('img'), { src: url, alt: '', width: picture.width, height: picture.height });
          button.append(image);
          button.addEventListener('click', () => show(picture));
          item.append(button);
          return item;
        }),
      );
      grid.hidden = pictures.length < 2;
      if (pictures[0] !== undefined) show(pictures[0]);
    },
    show(picture) {
      grid.hidden = true;
      show(picture);
    },
  };
}

/**
 * "Start from a picture": image-to-image and inpainting for the demo page. A collapsible section
 * with a file picker and a drop target; once a picture is chosen, the picture on a canvas with the
 * mask painted over it (brush, eraser, clear, invert), and the strength. `requestFields()` gives
 * what to merge into a GenerateRequest.
 *
 * The mask is painted at `PAINT_SCALE` times the model's size, so strokes look smooth on the
 * screen, and averaged down to the model's size when asked for: white where painted, black
 * elsewhere, grey along the edges.
 */
import { InvalidRequestError } from '../index.ts';
import type { GenerateRequest } from '../index.ts';
import { installPainting } from './mask-brush.ts';
import './source-picture.css';

/** A picture as RGBA bytes, row-major; what `requestFields()` hands the engine. */
export interface RgbaPicture {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8ClampedArray;
}

/** The section's handle; see `createSourcePicture`. */
export interface SourcePicture {
  /**
   * The fields to merge into a GenerateRequest: `{}` when no picture is chosen, `{ image,
   * strength }`, or `{ image, strength, mask }` once something is painted. Pictures come at the
   * size last given to `setSize`.
   */
  requestFields(): Pick<GenerateRequest, 'image' | 'strength' | 'mask'>;
  /** The model's picture size: the picture is cropped to it, the mask kept in proportion. */
  setSize(width: number, height: number): void;
  /**
   * Starts from this picture (a generated one's "Use as source", a chosen or dropped file): it
   * is centre-cropped to the model's aspect ratio, the mask cleared and the section opened.
   * @throws InvalidRequestError when a Blob is not a picture the browser can decode
   */
  setPicture(source: Blob | ImageData | RgbaPicture): Promise<void>;
  /** Removes the picture and its mask: requests go back to text-to-image. */
  clear(): void;
}

export interface SourcePictureOptions {
  /** Told, in words for the user, when a chosen or dropped file cannot be used. */
  onError?(message: string): void;
}

/** Strength with no mask: the engine's own default; enough change to follow a new prompt. */
const DEFAULT_STRENGTH = 0.8;
/** The mask canvas's pixels per model pixel: at 64 px models a 1:1 mask would paint in blocks. */
const MAX_PAINT_SCALE = 8;
const PAINT_SIDE = 512;
/** Brush diameter as a percentage of the picture's longer side. */
const DEFAULT_BRUSH_PERCENT = 12;

let instances = 0;

/**
 * Builds the section inside `container` (which it fills; nothing else of the container is
 * touched). Until `setSize` is called pictures are taken at 512 x 512.
 */
export function createSourcePicture(container: HTMLElement, options: SourcePictureOptions = {}): SourcePicture {
  const id = `source-picture-${++instances}`;
  const dom = buildDom(container, id);
  let size = { width: 512, height: 512 };
  /** The chosen picture as given, kept so that a new model size crops it again from the original. */
  let original: ImageBitmap | undefined;
  /** The picture at the model's size: what the engine gets. */
  const picture = document.createElement('canvas');
  /** Painted: opaque white; unpainted: transparent. At `paintScale()` times the model's size. */
  const mask = document.createElement('canvas');
  /** Whether the user moved the strength slider: then painting leaves it where they put it. */
  let strengthChosen = false;
  let tool: 'brush' | 'eraser' = 'brush';
  /** Whether anything is painted; undefined after an erase, until measured. */
  let painted: boolean | undefined = false;
  const isPainted = (): boolean => (painted ??= anyOpaque(mask));
  let renderQueued = false;

  const paintScale = (): number => Math.max(1, Math.min(MAX_PAINT_SCALE, Math.round(PAINT_SIDE / Math.max(size.width, size.height))));

  function resizeCanvases(): void {
    const scale = paintScale();
    const previous = mask.width > 0 && mask.height > 0 ? copyOf(mask) : undefined;
    picture.width = size.width;
    picture.height = size.height;
    mask.width = dom.canvas.width = size.width * scale;
    mask.height = dom.canvas.height = size.height * scale;
    if (previous !== undefined) context(mask).drawImage(previous, 0, 0, mask.width, mask.height);
    painted = undefined;
    if (original !== undefined) drawCropped(context(picture), original, size.width, size.height);
  }

  /** The strength sent: the user's, or else the engine's default for what is painted. */
  function strength(): number {
    // A mask asks for inpainting, whose natural strength is the engine's default with a mask:
    // 1, the painted area drawn afresh.
    if (!strengthChosen) setStrength(isPainted() ? 1 : DEFAULT_STRENGTH);
    return Number(dom.strength.value);
  }

  /** Once a frame at most: a stroke's pointer events come faster than the overlay needs. */
  function queueRender(): void {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  function render(): void {
    const view = context(dom.canvas);
    view.clearRect(0, 0, dom.canvas.width, dom.canvas.height);
    // Model-sized pictures are small: show their pixels, not a blur of them.
    view.imageSmoothingEnabled = false;
    view.globalAlpha = 1;
    view.drawImage(picture, 0, 0, dom.canvas.width, dom.canvas.height);
    view.globalAlpha = 0.55;
    view.drawImage(tinted(mask), 0, 0);
    strength();
    dom.invertHint.hidden = isPainted();
    dom.strengthHint.textContent = isPainted()
      ? 'Only the painted area changes. At 1 it is drawn afresh; lower keeps some of what is there.'
      : 'How far the picture may change: at 1 only its layout is kept; low values change little.';
  }

  function maskPixels(): RgbaPicture {
    const out = document.createElement('canvas');
    out.width = size.width;
    out.height = size.height;
    const draw = context(out);
    draw.fillStyle = '#000';
    draw.fillRect(0, 0, out.width, out.height);
    // Averaging `paintScale()`² pixels into one: a brush edge becomes grey, which blends.
    draw.imageSmoothingEnabled = true;
    draw.imageSmoothingQuality = 'high';
    draw.drawImage(mask, 0, 0, out.width, out.height);
    return pixelsOf(out);
  }

  function setStrength(value: number): void {
    dom.strength.value = String(value);
    dom.strengthValue.textContent = value.toFixed(2);
  }

  /** `after`: whether the mask is painted afterwards, where the change alone tells. */
  function changeMask(change: (draw: CanvasRenderingContext2D) => void, after?: boolean): void {
    change(context(mask));
    painted = after;
    queueRender();
  }

  async function setPicture(source: Blob | ImageData | RgbaPicture): Promise<void> {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(
        source instanceof Blob || source instanceof ImageData ? source : new ImageData(new Uint8ClampedArray(source.pixels), source.width, source.height),
      );
    } catch (error) {
      const name = source instanceof File ? source.name : 'the file';
      throw new InvalidRequestError(`${name} is not a picture this browser can open (PNG, JPEG, WebP, GIF)`, {}, { cause: error });
    }
    original?.close();
    original = bitmap;
    strengthChosen = false;
    resizeCanvases();
    changeMask((draw) => draw.clearRect(0, 0, mask.width, mask.height), false);
    dom.empty.hidden = true;
    dom.editor.hidden = false;
    dom.details.open = true;
    dom.status.textContent = `Starting from a ${bitmap.width} x ${bitmap.height} picture, taken at ${size.width} x ${size.height}.`;
  }

  function clear(): void {
    original?.close();
    original = undefined;
    dom.file.value = '';
    changeMask((draw) => draw.clearRect(0, 0, mask.width, mask.height), false);
    dom.editor.hidden = true;
    dom.empty.hidden = false;
    dom.status.textContent = 'No picture: pictures are made from the prompt alone.';
  }

  function choose(file: File | undefined): void {
    if (file === undefined) return;
    setPicture(file).catch((error: unknown) => {
      dom.file.value = '';
      options.onError?.(error instanceof Error ? error.message : String(error));
    });
  }

  dom.file.addEventListener('change', () => choose(dom.file.files?.[0]));
  installDropTarget(dom.details, choose);
  installPainting(dom.canvas, {
    brushDiameter: () => (Number(dom.brush.value) / 100) * Math.max(mask.width, mask.height),
    tool: () => tool,
    paint: (change, erasing) => changeMask(change, erasing ? undefined : true),
  });
  for (const [button, name] of [
    [dom.brushButton, 'brush'],
    [dom.eraserButton, 'eraser'],
  ] as const) {
    button.addEventListener('click', () => {
      tool = name;
      dom.brushButton.setAttribute('aria-pressed', String(name === 'brush'));
      dom.eraserButton.setAttribute('aria-pressed', String(name === 'eraser'));
    });
  }
  dom.brush.addEventListener('input', () => (dom.brushValue.textContent = `${dom.brush.value}%`));
  dom.clearMask.addEventListener('click', () => changeMask((draw) => draw.clearRect(0, 0, mask.width, mask.height), false));
  dom.invertMask.addEventListener('click', () =>
    changeMask((draw) => {
      const before = copyOf(mask);
      draw.clearRect(0, 0, mask.width, mask.height);
      draw.fillStyle = '#fff';
      draw.fillRect(0, 0, mask.width, mask.height);
      draw.globalCompositeOperation = 'destination-out';
      draw.drawImage(before, 0, 0);
      draw.globalCompositeOperation = 'source-over';
    }),
  );
  dom.remove.addEventListener('click', () => {
    clear();
    dom.file.focus();
  });
  dom.strength.addEventListener('input', () => {
    strengthChosen = true;
    setStrength(Number(dom.strength.value));
  });
  resizeCanvases();
  clear();

  return {
    requestFields() {
      if (original === undefined) return {};
      const image = pixelsOf(picture);
      return isPainted() ? { image, strength: strength(), mask: maskPixels() } : { image, strength: strength() };
    },
    setSize(width, height) {
      if (width === size.width && height === size.height) return;
      size = { width, height };
      resizeCanvases();
      queueRender();
    },
    setPicture,
    clear,
  };
}

/**
 * A "Use as source" button for a generated picture: starts `source` from whatever `current()`
 * returns (the section opens with it; nothing happens while it returns undefined).
 */
export function useAsSourceButton(source: SourcePicture, current: () => RgbaPicture | undefined, label = 'Use as source'): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.className = 'source-picture-use';
  button.addEventListener('click', () => {
    const image = current();
    if (image !== undefined) void source.setPicture(image);
  });
  return button;
}

interface Dom {
  details: HTMLDetailsElement;
  empty: HTMLElement;
  editor: HTMLElement;
  file: HTMLInputElement;
  canvas: HTMLCanvasElement;
  brushButton: HTMLButtonElement;
  eraserButton: HTMLButtonElement;
  brush: HTMLInputElement;
  brushValue: HTMLOutputElement;
  clearMask: HTMLButtonElement;
  invertMask: HTMLButtonElement;
  invertHint: HTMLElement;
  remove: HTMLButtonElement;
  strength: HTMLInputElement;
  strengthValue: HTMLOutputElement;
  strengthHint: HTMLElement;
  status: HTMLElement;
}

function buildDom(container: HTMLElement, id: string): Dom {
  container.innerHTML = `
    <details class="source-picture">
      <summary>Start from a picture</summary>
      <div class="sp-empty">
        <label for="${id}-file">Picture to start from</label>
        <input id="${id}-file" type="file" accept="image/*" />
        <p class="sp-note">or drop a picture on this section.</p>
      </div>
      <div class="sp-editor">
        <canvas class="sp-canvas" role="img" aria-label="The picture to start from, with the mask painted over it. Drag on it to paint where the model may repaint." aria-describedby="${id}-paint-note"></canvas>
        <p class="sp-note" id="${id}-paint-note">Paint where the picture should change; leave it unpainted to change all of it.</p>
        <div class="sp-row" role="group" aria-label="Mask tool">
          <button type="button" class="sp-brush" aria-pressed="true">Brush</button>
          <button type="button" class="sp-eraser" aria-pressed="false">Eraser</button>
        </div>
        <label for="${id}-brush">Brush size <output for="${id}-brush" class="sp-brush-value">${DEFAULT_BRUSH_PERCENT}%</output></label>
        <input id="${id}-brush" type="range" min="2" max="50" step="1" value="${DEFAULT_BRUSH_PERCENT}" />
        <div class="sp-row">
          <button type="button" class="sp-clear">Clear mask</button>
          <button type="button" class="sp-invert">Invert mask</button>
          <button type="button" class="sp-remove">Remove picture</button>
        </div>
        <p class="sp-note sp-invert-hint">Invert an empty mask to repaint the whole picture.</p>
        <label for="${id}-strength">Strength <output for="${id}-strength" class="sp-strength-value"></output></label>
        <input id="${id}-strength" type="range" min="0.05" max="1" step="0.05" aria-describedby="${id}-strength-hint" />
        <p class="sp-note" id="${id}-strength-hint"></p>
      </div>
      <p class="sp-status" role="status"></p>
    </details>`;
  const find = <T extends Element>(selector: string, type: abstract new () => T): T => {
    const found = container.querySelector(selector);
    if (!(found instanceof type)) throw new Error(`source picture: ${selector} missing`);
    return found;
  };
  return {
    details: find('details', HTMLDetailsElement),
    empty: find('.sp-empty', HTMLElement),
    editor: find('.sp-editor', HTMLElement),
    file: find(`#${id}-file`, HTMLInputElement),
    canvas: find('canvas', HTMLCanvasElement),
    brushButton: find('.sp-brush', HTMLButtonElement),
    eraserButton: find('.sp-eraser', HTMLButtonElement),
    brush: find(`#${id}-brush`, HTMLInputElement),
    brushValue: find('.sp-brush-value', HTMLOutputElement),
    clearMask: find('.sp-clear', HTMLButtonElement),
    invertMask: find('.sp-invert', HTMLButtonElement),
    invertHint: find('.sp-invert-hint', HTMLElement),
    remove: find('.sp-remove', HTMLButtonElement),
    strength: find(`#${id}-strength`, HTMLInputElement),
    strengthValue: find('.sp-strength-value', HTMLOutputElement),
    strengthHint: find(`#${id}-strength-hint`, HTMLElement),
    status: find('.sp-status', HTMLElement),
  };
}

/** Takes dropped picture files; the drop stops here, so the page's own PNG drop does not see it. */
function installDropTarget(target: HTMLElement, choose: (file: File | undefined) => void): void {
  const hasFiles = (event: DragEvent): boolean => event.dataTransfer?.types.includes('Files') === true;
  target.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    // Without this the browser opens the file in place of the page.
    event.preventDefault();
    event.stopPropagation();
    target.classList.add('sp-dropping');
  });
  target.addEventListener('dragleave', (event) => {
    if (!(event.relatedTarget instanceof Node) || !target.contains(event.relatedTarget)) target.classList.remove('sp-dropping');
  });
  target.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.stopPropagation();
    target.classList.remove('sp-dropping');
    choose(event.dataTransfer?.files[0]);
  });
}

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  // willReadFrequently: the mask is read back after every stroke (is anything painted?).
  const found = canvas.getContext('2d', { willReadFrequently: true });
  if (found === null) throw new Error('this browser gives no 2D canvas context');
  return found;
}

function anyOpaque(canvas: HTMLCanvasElement): boolean {
  const { data } = context(canvas).getImageData(0, 0, canvas.width, canvas.height);
  for (let k = 3; k < data.length; k += 4) if (data[k] !== 0) return true;
  return false;
}

function copyOf(canvas: HTMLCanvasElement): HTMLCanvasElement {
  const copy = document.createElement('canvas');
  copy.width = canvas.width;
  copy.height = canvas.height;
  context(copy).drawImage(canvas, 0, 0);
  return copy;
}

/** The mask in the overlay's colour (the mask itself stays white: what the engine reads). */
function tinted(mask: HTMLCanvasElement): HTMLCanvasElement {
  const overlay = copyOf(mask);
  const draw = context(overlay);
  draw.globalCompositeOperation = 'source-in';
  draw.fillStyle = '#ff2d95';
  draw.fillRect(0, 0, overlay.width, overlay.height);
  return overlay;
}

/** Draws `source` centre-cropped to `width` x `height`'s aspect ratio: no stretched pictures. */
function drawCropped(draw: CanvasRenderingContext2D, source: ImageBitmap, width: number, height: number): void {
  const scale = Math.max(width / source.width, height / source.height);
  const cropWidth = width / scale;
  const cropHeight = height / scale;
  // Transparent parts become white: the engine reads colour only.
  draw.fillStyle = '#fff';
  draw.fillRect(0, 0, width, height);
  draw.imageSmoothingEnabled = true;
  draw.imageSmoothingQuality = 'high';
  draw.drawImage(source, (source.width - cropWidth) / 2, (source.height - cropHeight) / 2, cropWidth, cropHeight, 0, 0, width, height);
}

function pixelsOf(canvas: HTMLCanvasElement): RgbaPicture {
  const { data } = context(canvas).getImageData(0, 0, canvas.width, canvas.height);
  return { width: canvas.width, height: canvas.height, pixels: data };
}

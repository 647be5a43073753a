/**
 * The automatic judge of tiny-shapes pictures: which colour, which shape, on which background.
 *
 * The same judge, with the same constants, is models/tiny-shapes/training/judge.py; the
 * training script scores its samples with that one and the pipeline tests with this one, so a
 * picture gets the same verdict on both sides. Runs in browsers too: no Node APIs here.
 *
 * 1. background: palette colour nearest the per-channel median of the border ring
 *    (`BORDER_WIDTH` pixels wide);
 * 2. shape pixels: farther than `SHAPE_DISTANCE` (RGB euclidean) from that measured median;
 * 3. shape colour: palette colour nearest the per-channel median of the shape pixels;
 * 4. shape kind: the fraction of their bounding box the shape pixels fill. The box spans the
 *    1st to 99th percentile of their coordinates so that a few stray pixels of noise cannot
 *    stretch it. That box also trims a triangle's thin apex and a circle's flat poles, so on
 *    the training pictures squares fill ~1.0, circles ~0.84, triangles ~0.62; the thresholds
 *    sit near the midpoints.
 *
 * Medians and percentiles are numpy's (linear interpolation between order statistics).
 */

/** Red, green, blue, 0..255. */
export type Rgb = readonly [number, number, number];

/**
 * The exact colours of the tiny-shapes pictures, in the order ties are broken: the eight the
 * base model draws, then the three its LoRAs teach (models/tiny-shapes-lora-pink, -cyan: shapes;
 * -navy: backgrounds), picked far from the eight (pink is 96 from purple, cyan 102 from blue,
 * navy 95 from black) among the colours the autoencoder gives back (see
 * models/tiny-shapes/training/data.py).
 */
export const PALETTE = {
  red: [220, 40, 40],
  green: [40, 170, 70],
  blue: [40, 80, 220],
  yellow: [240, 210, 40],
  purple: [150, 60, 190],
  orange: [245, 140, 30],
  white: [240, 240, 240],
  black: [25, 25, 25],
  pink: [225, 135, 170],
  cyan: [30, 180, 210],
  navy: [30, 35, 120],
} as const satisfies Record<string, Rgb>;

export type PaletteColor = keyof typeof PALETTE;
export const PALETTE_COLORS = Object.keys(PALETTE) as readonly PaletteColor[];
/** The colours only a LoRA teaches tiny-shapes. */
export const LORA_COLORS: readonly PaletteColor[] = ['pink', 'cyan', 'navy'];
/** The colours the base model knows. */
export const BASE_COLORS: readonly PaletteColor[] = PALETTE_COLORS.filter((c) => !LORA_COLORS.includes(c));

export const SHAPE_KINDS = ['circle', 'square', 'triangle'] as const;
export type ShapeKind = (typeof SHAPE_KINDS)[number];

/** Width in pixels of the border ring the background is measured on. */
export const BORDER_WIDTH = 2;
/** RGB distance from the background beyond which a pixel belongs to the shape. */
export const SHAPE_DISTANCE = 60;
/** Fewer shape pixels than this and there is no shape to judge. */
export const MIN_SHAPE_PIXELS = 40;
/** Fill of the percentile box at or above which the shape is a square. */
export const SQUARE_FILL = 0.92;
/** Fill at or above which (and below SQUARE_FILL) the shape is a circle; below, a triangle. */
export const CIRCLE_FILL = 0.73;

/** What a picture shows, or what a prompt asks for; null where it shows or says nothing. */
export interface SceneDescription {
  readonly color: PaletteColor | null;
  readonly shape: ShapeKind | null;
  readonly background: PaletteColor | null;
}

export interface Judgement extends SceneDescription {
  readonly background: PaletteColor;
  /** Fraction of the shape pixels' percentile box they fill (0 when there is no shape). */
  readonly fill: number;
  /** How many pixels differ from the background by more than SHAPE_DISTANCE. */
  readonly shapePixels: number;
}

/** The palette colour nearest an RGB triple (first in palette order on ties). */
export function nearestPaletteColor(rgb: Rgb): PaletteColor {
  let best: PaletteColor = 'red';
  let bestDistance = Infinity;
  for (const name of PALETTE_COLORS) {
    const [r, g, b] = PALETTE[name];
    const distance = (rgb[0] - r) ** 2 + (rgb[1] - g) ** 2 + (rgb[2] - b) ** 2;
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** The k-th smallest (0-based) value counted in a histogram of small non-negative integers. */
function kthSmallest(histogram: Uint32Array, k: number): number {
  let seen = 0;
  for (let value = 0; value < histogram.length; value++) {
    seen += histogram[value] as number;
    if (seen > k) return value;
  }
  throw new RangeError(`k = ${k} is past the ${seen} counted values`);
}

/** numpy's default percentile (linear between order statistics) of `n` histogrammed values. */
function quantile(histogram: Uint32Array, n: number, q: number): number {
  const position = q * (n - 1);
  const lo = Math.floor(position);
  const low = kthSmallest(histogram, lo);
  if (position === lo) return low;
  return low + (position - lo) * (kthSmallest(histogram, lo + 1) - low);
}

/** The per-channel median of the listed pixels. */
function medianColor(pixels: ArrayLike<number>, indices: Int32Array): Rgb {
  const median = (channel: number): number => {
    const histogram = new Uint32Array(256);
    for (const p of indices) histogram[pixels[4 * p + channel] as number]! += 1;
    return quantile(histogram, indices.length, 0.5);
  };
  return [median(0), median(1), median(2)];
}

/** Indices of the pixels in the outer ring of the picture. */
function borderRing(width: number, height: number): Int32Array {
  const out: number[] = [];
  for (let y = 0; y < height; y++) {
    const wholeRow = y < BORDER_WIDTH || y >= height - BORDER_WIDTH;
    for (let x = 0; x < width; x++) {
      if (wholeRow || x < BORDER_WIDTH || x >= width - BORDER_WIDTH) out.push(y * width + x);
    }
  }
  return Int32Array.from(out);
}

/** Fraction of the shape pixels' 1st–99th percentile box that they fill. */
function percentileBoxFill(shape: Int32Array, width: number, height: number): number {
  const rows = new Uint32Array(height);
  const columns = new Uint32Array(width);
  for (const p of shape) {
    rows[Math.floor(p / width)]! += 1;
    columns[p % width]! += 1;
  }
  const y0 = quantile(rows, shape.length, 0.01);
  const y1 = quantile(rows, shape.length, 0.99);
  const x0 = quantile(columns, shape.length, 0.01);
  const x1 = quantile(columns, shape.length, 0.99);
  let inside = 0;
  for (const p of shape) {
    const y = Math.floor(p / width);
    const x = p % width;
    if (y >= y0 && y <= y1 && x >= x0 && x <= x1) inside++;
  }
  // Only whole pixel rows and columns lie inside a box with fractional edges.
  const area = (Math.floor(y1) - Math.ceil(y0) + 1) * (Math.floor(x1) - Math.ceil(x0) + 1);
  return inside / Math.max(area, 1);
}

/**
 * Judges a picture of one filled shape on a plain background.
 * @param pixels RGBA, 8 bits per channel, row-major (alpha is ignored)
 * @throws RangeError when the size is not a whole picture larger than the border ring, or
 *   `pixels` does not hold width * height RGBA values
 */
export function judgeImage(pixels: Uint8ClampedArray | Uint8Array, width: number, height: number): Judgement {
  const minSide = 2 * BORDER_WIDTH + 1;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < minSide || height < minSide) {
    throw new RangeError(`picture must be at least ${minSide}x${minSide} pixels, got ${width}x${height}`);
  }
  if (pixels.length !== width * height * 4) {
    throw new RangeError(`${width}x${height} RGBA needs ${width * height * 4} values, got ${pixels.length}`);
  }
  const backgroundRgb = medianColor(pixels, borderRing(width, height));
  const background = nearestPaletteColor(backgroundRgb);

  const shapeIndices: number[] = [];
  for (let p = 0; p < width * height; p++) {
    const dr = (pixels[4 * p] as number) - backgroundRgb[0];
    const dg = (pixels[4 * p + 1] as number) - backgroundRgb[1];
    const db = (pixels[4 * p + 2] as number) - backgroundRgb[2];
    if (dr * dr + dg * dg + db * db > SHAPE_DISTANCE * SHAPE_DISTANCE) shapeIndices.push(p);
  }
  const shapePixels = shapeIndices.length;
  if (shapePixels < MIN_SHAPE_PIXELS) {
    return { background, color: null, shape: null, fill: 0, shapePixels };
  }
  const shape = Int32Array.from(shapeIndices);
  const color = nearestPaletteColor(medianColor(pixels, shape));
  const fill = percentileBoxFill(shape, width, height);
  const kind: ShapeKind = fill >= SQUARE_FILL ? 'square' : fill >= CIRCLE_FILL ? 'circle' : 'triangle';
  return { background, color, shape: kind, fill, shapePixels };
}

const COLOR_WORDS: ReadonlySet<string> = new Set(PALETTE_COLORS);
const SHAPE_WORDS: ReadonlySet<string> = new Set(SHAPE_KINDS);

/**
 * What a tiny-shapes caption asks for, in any of the training caption forms: "a red circle on a
 * blue background", "circle, red, on blue", "blue background, red circle", …
 *
 * A colour directly before "background", or after "on" (articles skipped), is the background;
 * the first other colour is the shape's. Parts the prompt does not name are null.
 */
export function parsePrompt(prompt: string): SceneDescription {
  const words = prompt.toLowerCase().match(/[a-z]+/g) ?? [];
  const content = words.filter((w) => w !== 'a' && w !== 'an' && w !== 'the');
  let color: PaletteColor | null = null;
  let background: PaletteColor | null = null;
  for (const [k, word] of content.entries()) {
    if (!COLOR_WORDS.has(word)) continue;
    const isBackground = content[k + 1] === 'background' || content[k - 1] === 'on';
    if (isBackground && background === null) background = word as PaletteColor;
    else if (!isBackground && color === null) color = word as PaletteColor;
  }
  const shape = (content.find((w) => SHAPE_WORDS.has(w)) as ShapeKind | undefined) ?? null;
  return { color, shape, background };
}

/** Which parts of a judgement match what was asked for. */
export interface Score {
  readonly color: boolean;
  readonly shape: boolean;
  readonly background: boolean;
  /** All three parts match. */
  readonly all: boolean;
}

/**
 * Compares what a prompt asked for with what the judge saw. A part the prompt left open
 * (null in `expected`) counts as matched, whatever the picture shows there.
 */
export function scoreJudgement(expected: SceneDescription, judged: SceneDescription): Score {
  const matches = (want: string | null, got: string | null): boolean => want === null || want === got;
  const color = matches(expected.color, judged.color);
  const shape = matches(expected.shape, judged.shape);
  const background = matches(expected.background, judged.background);
  return { color, shape, background, all: color && shape && background };
}

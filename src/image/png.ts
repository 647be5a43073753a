/**
 * RGBA → PNG, the same bytes in the browser and in Node.
 *
 * Written out rather than taken from `OffscreenCanvas.convertToBlob` because the canvas route
 * exists only in browsers and may colour-manage or premultiply on the way: the CLI writes its
 * files from Node and promises identical bytes for identical pictures. Deflate comes from
 * `CompressionStream('deflate')` (zlib framing, as PNG wants), present in browsers and Node ≥ 18.
 */

import { textChunkData } from './png-text.ts';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** length, type, data, CRC(type + data) */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function deflate(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export interface PngOptions {
  /**
   * Text chunks, keyword → text, written before the pixel data so that readers that stop early
   * see them: tEXt for Latin-1 text, iTXt (UTF-8) otherwise (src/image/png-text.ts).
   */
  readonly text?: Readonly<Record<string, string>>;
}

/**
 * Encodes 8-bit RGBA pixels (row-major, as `ImageData` and `GeneratedImage` hold them) as PNG.
 * @throws RangeError when `pixels` does not hold width * height * 4 bytes, or a text keyword is
 *   not a valid PNG keyword
 */
export async function encodePng(
  pixels: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  options: PngOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  const stride = width * 4;
  if (pixels.length !== stride * height) {
    throw new RangeError(`expected ${stride * height} RGBA bytes for ${width}x${height}, got ${pixels.length}`);
  }
  // Each row is prefixed with its filter type; 0 (None) suits flat synthetic pictures well enough.
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);

  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type RGBA, deflate, adaptive filters, no interlace

  const parts = [
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', header),
    ...Object.entries(options.text ?? {}).map(([keyword, text]) => {
      const { type, data } = textChunkData(keyword, text);
      return chunk(type, data);
    }),
    chunk('IDAT', await deflate(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    png.set(p, offset);
    offset += p.length;
  }
  return png;
}

/** Same as {@link encodePng}, as a Blob ready for an object URL or a download link. */
export async function encodePngBlob(pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, options: PngOptions = {}): Promise<Blob> {
  return new Blob([await encodePng(pixels, width, height, options)], { type: 'image/png' });
}

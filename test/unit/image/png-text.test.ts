/**
 * Text chunks in our PNGs: other decoders still read the picture, the chunk sits before the pixel
 * data with a valid CRC, and what we write (or another tool writes) reads back.
 */
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, WebDiffusionError } from '../../../src/errors.ts';
import { readPngParameters } from '../../../src/image/generation-parameters.ts';
import { encodePng } from '../../../src/image/png.ts';
import { MAX_PNG_TEXT_BYTES, readPngText } from '../../../src/image/png-text.ts';
import { createRandom } from '../../../src/pipeline/prng.ts';

const WIDTH = 5;
const HEIGHT = 3;
const PIXELS = Uint8ClampedArray.from({ length: WIDTH * HEIGHT * 4 }, (_, i) => (i * 37) % 256);
const PARAMETERS = 'a red circle, on blue\nNegative prompt: green\nSteps: 20, Sampler: DDIM, CFG scale: 2, Seed: 1, Size: 64x64, Model: tiny-shapes';

function chunkTypes(png: Uint8Array): string[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const types: string[] = [];
  for (let offset = 8; offset < png.length; offset += 12 + view.getUint32(offset)) {
    types.push(String.fromCharCode(...png.subarray(offset + 4, offset + 8)));
  }
  return types;
}

/** A chunk as another tool would write it: length, type, data, CRC (zlib's, not ours). */
function foreignChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** Bitwise CRC-32, independent of the table-driven one under test. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('PNG text chunks', () => {
  it('writes a tEXt "parameters" chunk before IDAT with a valid CRC, and the picture still decodes', async () => {
    const png = await encodePng(PIXELS, WIDTH, HEIGHT, { text: { parameters: PARAMETERS } });
    expect(chunkTypes(png)).toEqual(['IHDR', 'tEXt', 'IDAT', 'IEND']);

    const view = new DataView(png.buffer);
    const offset = 8 + 12 + 13; // after the signature and IHDR
    const length = view.getUint32(offset);
    expect(Buffer.from(png.subarray(offset + 8, offset + 8 + length)).toString('latin1')).toBe(`parameters\0${PARAMETERS}`);
    expect(view.getUint32(offset + 8 + length)).toBe(crc32(png.subarray(offset + 4, offset + 8 + length)));

    const decoded = PNG.sync.read(Buffer.from(png));
    expect([decoded.width, decoded.height]).toEqual([WIDTH, HEIGHT]);
    expect(Uint8ClampedArray.from(decoded.data)).toEqual(PIXELS);
    await expect(readPngText(png)).resolves.toEqual({ parameters: PARAMETERS });
  });

  it('writes text outside Latin-1 as UTF-8 iTXt, which reads back unchanged', async () => {
    const text = 'ένας κόκκινος κύκλος 🔴\nSteps: 20, Sampler: DDIM, CFG scale: 2, Seed: 1, Size: 64x64, Model: tiny-shapes';
    const png = await encodePng(PIXELS, WIDTH, HEIGHT, { text: { parameters: text } });
    expect(chunkTypes(png)).toEqual(['IHDR', 'iTXt', 'IDAT', 'IEND']);
    expect(PNG.sync.read(Buffer.from(png)).width).toBe(WIDTH);
    await expect(readPngText(png)).resolves.toEqual({ parameters: text });
  });

  it('reads compressed text chunks other tools write (zTXt, compressed iTXt)', async () => {
    const plain = await encodePng(PIXELS, WIDTH, HEIGHT);
    const ztxt = foreignChunk('zTXt', Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), deflateSync(Buffer.from('café, latin-1', 'latin1'))]));
    const itxt = foreignChunk('iTXt', Buffer.concat([Buffer.from('Comment\0\x01\0en\0\0', 'latin1'), deflateSync(Buffer.from('über 🔵', 'utf8'))]));
    const png = Buffer.concat([plain.subarray(0, 33), ztxt, itxt, plain.subarray(33)]);
    expect(PNG.sync.read(png).width).toBe(WIDTH);
    await expect(readPngText(png)).resolves.toEqual({ parameters: 'café, latin-1', Comment: 'über 🔵' });
  });

  it('refuses bytes that are not a PNG, or one cut short, with a typed error', async () => {
    await expect(readPngText(new TextEncoder().encode('GIF89a…'))).rejects.toBeInstanceOf(InvalidRequestError);
    const png = await encodePng(PIXELS, WIDTH, HEIGHT, { text: { parameters: PARAMETERS } });
    await expect(readPngText(png.subarray(0, 60))).rejects.toThrow(/cut short/);
  });

  it('refuses a decompression bomb after 1 MiB of text, holding no more than that', async () => {
    const plain = await encodePng(PIXELS, WIDTH, HEIGHT);
    // 300 MB of spaces deflate to ~300 KB; inflating all of it took a tab to ~900 MB.
    const bomb = foreignChunk('zTXt', Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), deflateSync(Buffer.alloc(300e6, 0x20), { level: 9 })]));
    const png = Buffer.concat([plain.subarray(0, 33), bomb, plain.subarray(33)]);
    const before = process.memoryUsage().arrayBuffers;
    const error = await readPngText(png).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).details).toMatchObject({ reason: 'too-much-text', limit: MAX_PNG_TEXT_BYTES });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64e6);
  });

  it('refuses a 300 000-byte keyword with a typed error (it overflowed the stack)', async () => {
    const plain = await encodePng(PIXELS, WIDTH, HEIGHT);
    const chunk = foreignChunk('tEXt', Buffer.concat([Buffer.alloc(300_000, 0x61), Buffer.from('\0text', 'latin1')]));
    const error = await readPngText(Buffer.concat([plain.subarray(0, 33), chunk, plain.subarray(33)])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).details).toMatchObject({ reason: 'keyword' });
  });

  it('gives 3000 mutated PNGs (seeded) either their parameters or a typed error, never anything else', async () => {
    const plain = await encodePng(PIXELS, WIDTH, HEIGHT, { text: { parameters: PARAMETERS } });
    const ztxt = foreignChunk('zTXt', Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), deflateSync(Buffer.from(PARAMETERS, 'latin1'))]));
    const itxt = foreignChunk('iTXt', Buffer.concat([Buffer.from('Comment\0\x01\0en\0\0', 'latin1'), deflateSync(Buffer.from('über 🔵', 'utf8'))]));
    const seedPng = Buffer.concat([plain.subarray(0, 33), ztxt, itxt, plain.subarray(33)]);
    const random = createRandom(13);
    const below = (n: number): number => Math.floor(random.nextUniform() * n);
    const mutate = (input: Uint8Array): Uint8Array => {
      const bytes = Uint8Array.from(input);
      switch (below(5)) {
        case 0: // flip a few bytes anywhere (lengths, types, compressed data)
          for (let k = 1 + below(4); k > 0; k--) bytes[below(bytes.length)] = below(256);
          return bytes;
        case 1: // cut short
          return bytes.subarray(0, below(bytes.length));
        case 2: {
          // a chunk length set to something large
          const at = 8 + below(bytes.length - 11);
          new DataView(bytes.buffer).setUint32(at, below(2 ** 32));
          return bytes;
        }
        case 3: {
          // random bytes inserted
          const at = 8 + below(bytes.length - 8);
          const noise = Uint8Array.from({ length: 1 + below(64) }, () => below(256));
          return Uint8Array.from([...bytes.subarray(0, at), ...noise, ...bytes.subarray(at)]);
        }
        default: {
          // a zTXt body byte changed: bad deflate streams
          const at = 33 + 8 + 12 + below(ztxt.length - 24);
          bytes[at] = bytes[at]! ^ (1 + below(255));
          return bytes;
        }
      }
    };
    const untyped: string[] = [];
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const input = mutate(seedPng);
      try {
        await readPngParameters(input);
        parsed += 1;
      } catch (error) {
        if (!(error instanceof WebDiffusionError) || error.code !== 'invalid-request') untyped.push(`#${i}: ${String(error)}`);
      }
    }
    expect(untyped).toEqual([]);
    // The mutations leave many PNGs readable: the test exercises both outcomes.
    expect(parsed).toBeGreaterThan(300);
  });

  it('refuses an invalid keyword', async () => {
    await expect(encodePng(PIXELS, WIDTH, HEIGHT, { text: { '': 'x' } })).rejects.toThrow(RangeError);
  });
});

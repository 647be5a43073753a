/**
 * PNG text chunks: writing one (for `encodePng`) and reading them all back.
 *
 * tEXt holds Latin-1 only. A text with a character outside Latin-1 (a prompt in Greek, with an
 * emoji, …) is written as iTXt instead, uncompressed UTF-8 under the same keyword, as the desktop
 * UIs' image library does; readers that know tEXt only then miss it, but nothing is garbled.
 * Reading takes tEXt, iTXt and zTXt, compressed or not.
 */
import { InvalidRequestError } from '../errors.ts';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or double spaces. */
function checkKeyword(keyword: string): void {
  if (!/^[\x21-\x7e\xa1-\xff](?:[\x21-\x7e\xa1-\xff]| (?! ))*$/.test(keyword) || keyword.length > 79 || keyword.endsWith(' ')) {
    throw new RangeError(`"${keyword}" is not a PNG text keyword (1-79 printable Latin-1 characters)`);
  }
}

function isLatin1(text: string): boolean {
  return /^[\0-\xff]*$/.test(text);
}

/**
 * The chunk type and data for `keyword` = `text`: tEXt when the text is Latin-1, else iTXt.
 * @throws RangeError when `keyword` is not a valid PNG keyword or the text holds a NUL
 */
export function textChunkData(keyword: string, text: string): { type: 'tEXt' | 'iTXt'; data: Uint8Array } {
  checkKeyword(keyword);
  if (text.includes('\0')) throw new RangeError(`the text for "${keyword}" holds a NUL character, which PNG text cannot`);
  if (isLatin1(text)) {
    return { type: 'tEXt', data: Uint8Array.from(`${keyword}\0${text}`, (c) => c.charCodeAt(0)) };
  }
  // keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text
  const head = Uint8Array.from(`${keyword}\0\0\0\0\0`, (c) => c.charCodeAt(0));
  const body = new TextEncoder().encode(text);
  const data = new Uint8Array(head.length + body.length);
  data.set(head);
  data.set(body, head.length);
  return { type: 'iTXt', data };
}

/**
 * Text a PNG may hold in all, its chunks together, after decompression (1 MiB): parameters are a
 * few hundred bytes, and a small file must not inflate into hundreds of megabytes.
 */
export const MAX_PNG_TEXT_BYTES = 1024 * 1024;

/** PNG keywords are 1-79 bytes. */
const MAX_KEYWORD_BYTES = 79;

/**
 * Every text chunk of a PNG, keyword → text (the first chunk wins when a keyword repeats).
 * @throws InvalidRequestError when the bytes are not a PNG, a chunk runs past the end, a text
 *   chunk is malformed (keyword too long, bad compressed data), or the texts pass
 *   `MAX_PNG_TEXT_BYTES`; `details.reason` says which
 */
export async function readPngText(png: Uint8Array): Promise<Record<string, string>> {
  if (png.length < 8 || SIGNATURE.some((byte, i) => png[i] !== byte)) {
    throw new InvalidRequestError('This file is not a PNG picture (it lacks the PNG signature)', { size: png.length, reason: 'signature' });
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const texts: Record<string, string> = {};
  const budget = { left: MAX_PNG_TEXT_BYTES };
  for (let offset = 8; offset + 8 <= png.length;) {
    const length = view.getUint32(offset);
    const type = latin1Text(png.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    if (start + length + 4 > png.length) {
      throw malformed(`it is cut short, its ${JSON.stringify(type)} chunk runs past the end of the file`, { type, offset, reason: 'truncated' });
    }
    const data = png.subarray(start, start + length);
    const text = await decodeTextChunk(type, data, budget);
    if (text !== undefined && !(text.keyword in texts)) texts[text.keyword] = text.text;
    if (type === 'IEND') break;
    offset = start + length + 4;
  }
  return texts;
}

async function decodeTextChunk(type: string, data: Uint8Array, budget: { left: number }): Promise<{ keyword: string; text: string } | undefined> {
  if (type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt') return undefined;
  const keywordEnd = data.indexOf(0);
  if (keywordEnd < 1) return undefined;
  if (keywordEnd > MAX_KEYWORD_BYTES) {
    throw malformed(`a ${type} chunk's keyword is ${keywordEnd} bytes long (PNG allows 1-${MAX_KEYWORD_BYTES})`, { type, reason: 'keyword' });
  }
  const keyword = latin1Text(data.subarray(0, keywordEnd));
  const spend = (bytes: Uint8Array): Uint8Array => {
    budget.left -= bytes.byteLength;
    if (budget.left < 0) throw tooMuchText(type);
    return bytes;
  };
  if (type === 'tEXt') return { keyword, text: latin1Text(spend(data.subarray(keywordEnd + 1))) };
  if (type === 'zTXt') return { keyword, text: latin1Text(spend(await inflate(data.subarray(keywordEnd + 2), type, budget.left))) };
  const compressed = data[keywordEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keywordEnd + 3);
  const translatedEnd = languageEnd === -1 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd === -1) return undefined;
  const body = data.subarray(translatedEnd + 1);
  return { keyword, text: new TextDecoder().decode(spend(compressed ? await inflate(body, type, budget.left) : body)) };
}

/** Latin-1 bytes to a string, in slices: spreading a long text onto the stack would overflow it. */
function latin1Text(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return text;
}

/**
 * zlib data inflated, up to `limit` bytes: the stream is read piece by piece and dropped as soon
 * as it passes the limit, so a decompression bomb costs no more memory than the limit.
 * @throws InvalidRequestError when the data is not valid zlib, or inflates past `limit`
 */
async function inflate(bytes: Uint8Array, type: string, limit: number): Promise<Uint8Array> {
  const reader = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  const pieces: Uint8Array[] = [];
  let size = 0;
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      size += read.value.byteLength;
      if (size > limit) throw tooMuchText(type);
      pieces.push(read.value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof InvalidRequestError) throw error;
    throw malformed(`a ${type} chunk's compressed text is not valid zlib data (${(error as Error).message})`, { type, reason: 'deflate' }, error);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

function tooMuchText(type: string): InvalidRequestError {
  return malformed(`its text passes ${MAX_PNG_TEXT_BYTES} bytes (at a ${type} chunk); picture parameters are far shorter`, {
    type,
    limit: MAX_PNG_TEXT_BYTES,
    reason: 'too-much-text',
  });
}

function malformed(what: string, details: Record<string, unknown>, cause?: unknown): InvalidRequestError {
  return new InvalidRequestError(`This PNG is malformed: ${what}`, details, cause !== undefined ? { cause } : undefined);
}

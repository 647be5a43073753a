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
 * Every text chunk of a PNG, keyword → text (the first chunk wins when a keyword repeats).
 * @throws InvalidRequestError when the bytes are not a PNG, or a chunk runs past the end
 */
export async function readPngText(png: Uint8Array): Promise<Record<string, string>> {
  if (png.length < 8 || SIGNATURE.some((byte, i) => png[i] !== byte)) {
    throw new InvalidRequestError('This file is not a PNG picture (it lacks the PNG signature)', { size: png.length });
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const texts: Record<string, string> = {};
  for (let offset = 8; offset + 8 <= png.length; ) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    if (start + length + 4 > png.length) {
      throw new InvalidRequestError(`This PNG is cut short: its ${type} chunk runs past the end of the file`, { type, offset });
    }
    const data = png.subarray(start, start + length);
    const text = await decodeTextChunk(type, data);
    if (text !== undefined && !(text.keyword in texts)) texts[text.keyword] = text.text;
    if (type === 'IEND') break;
    offset = start + length + 4;
  }
  return texts;
}

async function decodeTextChunk(type: string, data: Uint8Array): Promise<{ keyword: string; text: string } | undefined> {
  if (type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt') return undefined;
  const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
  const keywordEnd = data.indexOf(0);
  if (keywordEnd < 1) return undefined;
  const keyword = latin1(data.subarray(0, keywordEnd));
  if (type === 'tEXt') return { keyword, text: latin1Text(data.subarray(keywordEnd + 1)) };
  if (type === 'zTXt') return { keyword, text: latin1Text(await inflate(data.subarray(keywordEnd + 2))) };
  const compressed = data[keywordEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keywordEnd + 3);
  const translatedEnd = languageEnd === -1 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd === -1) return undefined;
  const body = data.subarray(translatedEnd + 1);
  return { keyword, text: new TextDecoder().decode(compressed ? await inflate(body) : body) };
}

/** Latin-1 bytes to a string, in slices: spreading a long text onto the stack would overflow it. */
function latin1Text(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return text;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

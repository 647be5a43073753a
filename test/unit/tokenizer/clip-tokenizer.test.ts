import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../../../src/errors.ts';
import { createClipTokenizer } from '../../../src/tokenizer/clip-tokenizer.ts';

const TOKENIZER_DIR = new URL('../../../models/tiny-shapes/tokenizer/', import.meta.url);
const vocabJson = JSON.parse(readFileSync(new URL('vocab.json', TOKENIZER_DIR), 'utf8')) as Record<string, number>;
const mergesText = readFileSync(new URL('merges.txt', TOKENIZER_DIR), 'utf8');

const BOS = 566;
const EOS = 567;

/** `ids` followed by `pad` up to 77 values. */
function padded(ids: number[], pad = EOS): number[] {
  return [...ids, ...new Array<number>(77 - ids.length).fill(pad)];
}

describe('ClipTokenizer on the tiny-shapes tokenizer files', () => {
  const tokenizer = createClipTokenizer(vocabJson, mergesText);

  // Expected ids from models/tiny-shapes/training/bpe.py, an independent implementation.
  it.each([
    ['a red circle on a blue background', [BOS, 320, 542, 534, 515, 320, 540, 522, EOS]],
    ['circle, red, on blue', [BOS, 534, 267, 542, 267, 515, 540, EOS]],
    ['The  Orange   TRIANGLE!!', [BOS, 565, 554, 538, 0, 256, EOS]],
    ['zebra', [BOS, 89, 68, 65, 81, 320, EOS]],
    ["don't", [BOS, 67, 515, 6, 339, EOS]],
    ['', [BOS, EOS]],
  ])('encodes "%s" like the reference tokenizer, padded to 77', (text, ids) => {
    const encoded = tokenizer.encode(text);
    expect(encoded).toBeInstanceOf(Int32Array);
    expect(Array.from(encoded)).toEqual(padded(ids));
  });

  it('makes every caption word a single token', () => {
    const words = 'a the on background circle square triangle red green blue yellow purple orange white black';
    expect(tokenizer.tokenize(words)).toEqual(words.split(' ').map((w) => `${w}</w>`));
  });

  it('ignores case and extra whitespace', () => {
    const expected = Array.from(tokenizer.encode('a red circle on a blue background'));
    for (const variant of ['A RED CIRCLE ON A BLUE BACKGROUND', '  a\tred\n\ncircle   on a blue background  ']) {
      expect(Array.from(tokenizer.encode(variant))).toEqual(expected);
    }
  });

  it('gives punctuation its own token', () => {
    expect(tokenizer.tokenize('circle, red')).toEqual(['circle</w>', ',</w>', 'red</w>']);
    expect(tokenizer.tokenize('circle,red')).toEqual(['circle</w>', ',</w>', 'red</w>']);
  });

  it('spells unknown words, accents and emoji out in byte tokens instead of dropping them', () => {
    expect(tokenizer.tokenize('zebra')).toEqual(['z', 'e', 'b', 'r', 'a</w>']);
    // é is UTF-8 C3 A9, shown as Ã ©; the emoji's bytes F0 9F 98 80 include three that GPT-2's
    // table moves above U+0100.
    expect(tokenizer.tokenize('café')).toEqual(['c', 'a', 'f', 'Ã', '©</w>']);
    expect(tokenizer.tokenize('😀')).toEqual(['ð', 'Ł', 'ĺ', 'Ģ</w>']);
    const emojiIds = ['ð', 'Ł', 'ĺ', 'Ģ</w>'].map((t) => vocabJson[t]);
    expect(Array.from(tokenizer.encode('😀').subarray(0, 6))).toEqual([BOS, ...emojiIds, EOS]);
  });

  it('splits digits one by one', () => {
    expect(tokenizer.tokenize('64 px')).toEqual(['6</w>', '4</w>', 'p', 'x</w>']);
  });

  it('keeps special tokens written in the text whole', () => {
    expect(Array.from(tokenizer.encode('red<|endoftext|>').subarray(0, 4))).toEqual([BOS, 542, EOS, EOS]);
  });

  it('cuts long texts to 77 ids, keeping the end token', () => {
    const fits = tokenizer.encode(Array(75).fill('red').join(' '));
    expect(fits[75]).toBe(542);
    expect(fits[76]).toBe(EOS);
    const long = tokenizer.encode(Array(200).fill('red').join(' '));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(BOS);
    expect(Array.from(long.subarray(1, 76)).every((id) => id === 542)).toBe(true);
    expect(long[76]).toBe(EOS);
  });

  it('says how many tokens a long text lost, and none for one that fits', () => {
    expect(tokenizer.encodeCounted(Array(75).fill('red').join(' ')).dropped).toBe(0);
    expect(tokenizer.encodeCounted(Array(200).fill('red').join(' ')).dropped).toBe(125);
  });

  it('counts a text with its start and end tokens, so that what is past 77 is what gets cut', () => {
    expect(tokenizer.count('')).toBe(2);
    expect(tokenizer.count(Array(75).fill('red').join(' '))).toBe(77);
    const long = Array(200).fill('red').join(' ');
    expect(tokenizer.count(long) - 77).toBe(tokenizer.encodeCounted(long).dropped);
  });

  it('cuts a 100 000-character one-word prompt to 77 ids (it overflowed the stack), counting what it cut', () => {
    // "zebra" is spelled out letter by letter (no merges), so nearly every letter is a token.
    const word = 'zebra'.repeat(20_000);
    const ids = tokenizer.encode(word);
    expect(ids).toHaveLength(77);
    expect([ids[0], ids[1], ids[2], ids[76]]).toEqual([BOS, 89, 68, EOS]);
    expect(tokenizer.encodeCounted(word).dropped).toBeGreaterThan(90_000);
  });

  it('pads with the id asked for (SD-Turbo pads with 0) but still ends the text', () => {
    const ids = createClipTokenizer(vocabJson, mergesText, { padTokenId: 0 }).encode('red circle');
    expect(Array.from(ids)).toEqual(padded([BOS, 542, 534, EOS], 0));
    const byToken = createClipTokenizer(vocabJson, mergesText, { padToken: '!' }).encode('red');
    expect(Array.from(byToken)).toEqual(padded([BOS, 542, EOS], 0));
  });

  it('encodes to another length when asked', () => {
    const ids = createClipTokenizer(vocabJson, mergesText, { maxLength: 4 }).encode('a red circle');
    expect(Array.from(ids)).toEqual([BOS, 320, 542, EOS]);
  });
});

/** A hand-made vocabulary: a few letters, with and without the end-of-word mark. */
function smallVocab(extra: string[]): Record<string, number> {
  const tokens = [...'abcxyz'].flatMap((c) => [c, `${c}</w>`]);
  return Object.fromEntries([...tokens, ...extra, '<|startoftext|>', '<|endoftext|>'].map((t, id) => [t, id]));
}

describe('ClipTokenizer merge rules', () => {
  const vocab = smallVocab(['ab', 'bc</w>', 'abc</w>']);

  it('applies the lowest-ranked merge first', () => {
    expect(createClipTokenizer(vocab, '#version: 0.2\nb c</w>\na b\n').tokenize('abc')).toEqual(['a', 'bc</w>']);
    expect(createClipTokenizer(vocab, '#version: 0.2\na b\nb c</w>\n').tokenize('abc')).toEqual(['ab', 'c</w>']);
    expect(createClipTokenizer(vocab, '#version: 0.2\na b\nab c</w>\n').tokenize('abc')).toEqual(['abc</w>']);
  });

  it('merges every occurrence of the chosen pair', () => {
    expect(createClipTokenizer(vocab, 'a b\n').tokenize('ababa')).toEqual(['ab', 'ab', 'a</w>']);
  });

  it('reads merges files without a version header and with CRLF line ends', () => {
    expect(createClipTokenizer(vocab, 'a b\r\nab c</w>\r\n').tokenize('abc')).toEqual(['abc</w>']);
  });

  it('skips merges whose result the vocabulary lacks, so that later merges can apply', () => {
    // Ranked first, "x y" would make "xy", which has no id, and block "y z</w>".
    const tokenizer = createClipTokenizer(smallVocab(['yz</w>']), 'x y\ny z</w>\n');
    expect(tokenizer.tokenize('xyz')).toEqual(['x', 'yz</w>']);
  });

  it('turns a symbol missing from the vocabulary into the unknown token, never dropping it', () => {
    const tokenizer = createClipTokenizer(vocab, 'a b\n');
    const eos = vocab['<|endoftext|>'] as number;
    expect(tokenizer.tokenize('a q b')).toEqual(['a</w>', '<|endoftext|>', 'b</w>']);
    const ids = Array.from(tokenizer.encode('a q b').subarray(0, 5));
    expect(ids).toEqual([vocab['<|startoftext|>'], vocab['a</w>'], eos, vocab['b</w>'], eos]);
  });
});

describe('createClipTokenizer errors', () => {
  it('rejects a vocabulary without the special tokens', () => {
    expect(() => createClipTokenizer({ a: 0, '<|endoftext|>': 1 }, '')).toThrow(TokenizerError);
    expect(() => createClipTokenizer({ a: 0, '<|startoftext|>': 1 }, '')).toThrow(/endoftext/);
  });

  it('rejects a pad token the vocabulary lacks', () => {
    expect(() => createClipTokenizer(smallVocab([]), '', { padToken: '<pad>' })).toThrow(TokenizerError);
  });

  it('rejects malformed merges lines and ids, saying where', () => {
    expect(() => createClipTokenizer(smallVocab([]), '#version: 0.2\na b\nabc\n')).toThrow(/line 3/);
    expect(() => createClipTokenizer({ ...smallVocab([]), q: -1 }, '')).toThrow(TokenizerError);
  });

  it('rejects a length too short for the start and end tokens', () => {
    expect(() => createClipTokenizer(smallVocab([]), '', { maxLength: 1 })).toThrow(TokenizerError);
  });
});

/**
 * The tokenizer.json reader against golden ids from an independent implementation
 * (test/support/byte_level_bpe.py, which also learnt the fixture's merges), and its refusals.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, TokenizerError } from '../../../src/errors.ts';
import { parseTokenizerJson } from '../../../src/tokenizer/tokenizer-json.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const text = readFileSync(new URL('tokenizer.json', FIXTURES), 'utf8');
const golden = JSON.parse(readFileSync(new URL('golden.json', FIXTURES), 'utf8')) as { cases: { text: string; ids: number[] }[] };
/** The fixture's tokenizer.json, parsed, for tests that change one field. */
const fixture = (): Record<string, any> => JSON.parse(text) as Record<string, any>;
const ZIMAGE_TEMPLATE = '<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n';

describe('a Qwen2-style tokenizer.json', () => {
  const tokenizer = parseTokenizerJson(text, { maxLength: 512 });

  it.each(golden.cases.map((c) => [c.text, c.ids] as const))('encodes %j like the reference implementation', (input, ids) => {
    expect(tokenizer.tokenize(input)).toEqual(ids);
  });

  it('keeps case, spaces and line breaks (unlike CLIP): different texts get different ids', () => {
    expect(tokenizer.tokenize('Red')).not.toEqual(tokenizer.tokenize('red'));
    expect(tokenizer.tokenize('a  red')).not.toEqual(tokenizer.tokenize('a red'));
  });

  it('gives NFC-equivalent texts the same ids', () => {
    expect(tokenizer.tokenize('Zu\u0308rich')).toEqual(tokenizer.tokenize('Z\u00fcrich'));
  });

  it('maps the chat special tokens to their own ids, wherever they are', () => {
    const [start, end] = [tokenizer.idOf('<|im_start|>'), tokenizer.idOf('<|im_end|>')];
    expect(tokenizer.tokenize('<|im_start|>x<|im_end|>')).toEqual([start, ...tokenizer.tokenize('x'), end]);
  });
});

describe('prompts in a template, truncated and padded', () => {
  it("wraps the prompt in the model's template, with no padding when the model drops it (Z-Image)", () => {
    const tokenizer = parseTokenizerJson(text, { maxLength: 512, template: ZIMAGE_TEMPLATE });
    const reference = golden.cases.find((c) => c.text === '<|im_start|>user\na red circle<|im_end|>\n<|im_start|>assistant\n')!;
    const encoded = tokenizer.encodeCounted('a red circle');
    expect(Array.from(encoded.ids)).toEqual(reference.ids);
    expect(encoded).toMatchObject({ length: reference.ids.length, dropped: 0 });
    expect(tokenizer.count('a red circle')).toBe(reference.ids.length);
  });

  it('pads on the right with the pad token to the maximum length when the model keeps padding (FLUX.2)', () => {
    const tokenizer = parseTokenizerJson(text, { maxLength: 40, template: ZIMAGE_TEMPLATE, padToken: '<|endoftext|>' });
    const encoded = tokenizer.encodeCounted('a red circle');
    const pad = tokenizer.idOf('<|endoftext|>');
    expect(encoded.ids).toHaveLength(40);
    expect(Array.from(encoded.ids.subarray(encoded.length))).toEqual(new Array(40 - encoded.length).fill(pad));
    const unpadded = parseTokenizerJson(text, { maxLength: 512, template: ZIMAGE_TEMPLATE }).encodeCounted('a red circle');
    expect(Array.from(encoded.ids.subarray(0, encoded.length))).toEqual(Array.from(unpadded.ids));
  });

  it('cuts a long prompt at the maximum length and says how many tokens were dropped', () => {
    const tokenizer = parseTokenizerJson(text, { maxLength: 16, template: ZIMAGE_TEMPLATE });
    const long = 'a red circle on a blue background '.repeat(5);
    const full = tokenizer.count(long);
    const encoded = tokenizer.encodeCounted(long);
    expect(full).toBeGreaterThan(16);
    expect(encoded).toMatchObject({ length: 16, dropped: full - 16 });
    expect(encoded.ids).toHaveLength(16);
    expect(encoded.ids[0]).toBe(tokenizer.idOf('<|im_start|>'));
  });

  it('refuses a template without exactly one {prompt}, and a pad token it does not have', () => {
    expect(() => parseTokenizerJson(text, { maxLength: 8, template: '<|im_start|>user\n' })).toThrow(TokenizerError);
    expect(() => parseTokenizerJson(text, { maxLength: 8, template: '{prompt}{prompt}' })).toThrow(TokenizerError);
    expect(() => parseTokenizerJson(text, { maxLength: 8, padToken: '<pad>' })).toThrow(/no "<pad>" token/);
  });
});

describe('what the reader refuses', () => {
  const refuses = (change: (json: Record<string, any>) => void, error: typeof ManifestError | typeof TokenizerError, message: RegExp) => {
    const json = fixture();
    change(json);
    const attempt = () => parseTokenizerJson(JSON.stringify(json), { maxLength: 8 });
    expect(attempt).toThrow(error);
    expect(attempt).toThrow(message);
  };

  it('another model type, byte fallback, dropout or a CLIP-style word suffix (ManifestError)', () => {
    refuses((j) => (j.model.type = 'WordPiece'), ManifestError, /model\.type.*"BPE"/);
    refuses((j) => (j.model.type = 'Unigram'), ManifestError, /model\.type/);
    refuses((j) => (j.model.byte_fallback = true), ManifestError, /byte_fallback/);
    refuses((j) => (j.model.dropout = 0.1), ManifestError, /dropout/);
    refuses((j) => (j.model.end_of_word_suffix = '</w>'), ManifestError, /end_of_word_suffix/);
  });

  it('an unknown split pattern, another pre-tokenizer, normalizer or a post-processor that adds tokens (ManifestError)', () => {
    refuses((j) => (j.pre_tokenizer.pretokenizers[0].pattern.Regex = '\\w+|\\s+'), ManifestError, /split pattern/);
    refuses((j) => (j.pre_tokenizer = { type: 'Whitespace' }), ManifestError, /pre_tokenizer/);
    refuses((j) => (j.pre_tokenizer.pretokenizers[1].add_prefix_space = true), ManifestError, /pre_tokenizer/);
    refuses((j) => (j.normalizer = { type: 'Lowercase' }), ManifestError, /normalizer/);
    refuses((j) => (j.post_processor = { type: 'TemplateProcessing' }), ManifestError, /post_processor/);
    refuses((j) => (j.added_tokens[0].lstrip = true), ManifestError, /lstrip/);
  });

  it('malformed content: bad ids, merges that are not pairs, a missing byte, not JSON (TokenizerError)', () => {
    refuses((j) => (j.model.vocab.a = -1), TokenizerError, /not a token id/);
    refuses((j) => (j.model.merges[0] = 'a b c'), TokenizerError, /merge 0 is not a pair/);
    refuses((j) => delete j.model.vocab.a, TokenizerError, /no symbol for byte 97/);
    refuses((j) => (j.added_tokens[0].id = 'x'), TokenizerError, /id must be a token id/);
    expect(() => parseTokenizerJson('{', { maxLength: 8 })).toThrow(TokenizerError);
  });

  it('accepts merges written as pairs (tokenizers 0.20 on) with the same result', () => {
    const json = fixture();
    json.model.merges = (json.model.merges as string[]).map((m) => m.split(' '));
    const pairs = parseTokenizerJson(JSON.stringify(json), { maxLength: 512 });
    for (const { text: input, ids } of golden.cases) expect(pairs.tokenize(input)).toEqual(ids);
  });
});

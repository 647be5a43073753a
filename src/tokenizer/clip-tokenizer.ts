/**
 * CLIP's byte-level BPE tokenizer, giving the same ids as OpenAI CLIP and Hugging Face's
 * CLIPTokenizer for the vocab.json / merges.txt that ship with a model.
 *
 * 1. Clean: Unicode NFC, whitespace runs collapsed to one space, trimmed, lowercased.
 * 2. Split into words with CLIP's pattern (letters runs, single digits, punctuation runs,
 *    English contractions, the two special tokens).
 * 3. Each word's UTF-8 bytes become printable characters through GPT-2's bytes-to-unicode
 *    table, so every byte is a symbol the vocabulary has; the last symbol gets "</w>".
 * 4. Merges are applied lowest rank first, every occurrence of the chosen pair at once.
 * 5. Ids: <|startoftext|>, the tokens, <|endoftext|>, then padding to `maxLength`; tokens past
 *    `maxLength - 2` are cut so the end token always stays.
 */
import { TokenizerError } from '../errors.ts';
import { applyMerges, byteSymbols } from './byte-level.ts';
import type { EncodedPrompt, PromptTokenizer } from './prompt-tokenizer.ts';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
/** CLIP's unknown token is its end token: a symbol the vocabulary lacks becomes this. */
const UNKNOWN_TOKEN = END_OF_TEXT;
const END_OF_WORD = '</w>';
/** CLIP's context length: every text becomes exactly this many ids. */
export const CLIP_MAX_LENGTH = 77;

/** Characters BPE merges in one go; longer words are cut into pieces of this length. */
const MAX_BPE_WORD = 256;

const WORD_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu;

export interface ClipTokenizerOptions {
  /** Length of every encoded text (default 77). */
  readonly maxLength?: number;
  /** Token that pads encoded texts to `maxLength` (default <|endoftext|>, as CLIP's config says). */
  readonly padToken?: string;
  /** Pad id, overriding `padToken`: SD 2.x / SD-Turbo text encoders were trained with 0. */
  readonly padTokenId?: number;
}

/** A CLIP tokenizer over one vocabulary; build it with `createClipTokenizer`. */
export class ClipTokenizer implements PromptTokenizer {
  readonly maxLength: number;
  readonly startTokenId: number;
  readonly endTokenId: number;
  readonly padTokenId: number;
  private readonly vocab: ReadonlyMap<string, number>;
  /** Rank of each usable merge, keyed "a b" (a space never occurs inside a symbol). */
  private readonly mergeRanks: ReadonlyMap<string, number>;
  /** Tokens of each word seen so far: prompts repeat their words, and BPE is the slow part. */
  private readonly wordCache = new Map<string, readonly string[]>();

  /**
   * @param merges symbol pairs in rank order, as merges.txt lists them
   * @throws TokenizerError when the special tokens are missing from the vocabulary or an
   *   option is out of range
   */
  constructor(vocab: ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[], options: ClipTokenizerOptions = {}) {
    this.vocab = vocab;
    this.maxLength = options.maxLength ?? CLIP_MAX_LENGTH;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) {
      throw new TokenizerError(`maxLength must be an integer of at least 2, got ${this.maxLength}`, {
        maxLength: this.maxLength,
      });
    }
    this.startTokenId = this.idOf(START_OF_TEXT);
    this.endTokenId = this.idOf(END_OF_TEXT);
    this.padTokenId = options.padTokenId ?? this.idOf(options.padToken ?? END_OF_TEXT);
    if (!Number.isInteger(this.padTokenId) || this.padTokenId < 0) {
      throw new TokenizerError(`padTokenId must be a non-negative integer, got ${this.padTokenId}`, {
        padTokenId: this.padTokenId,
      });
    }
    // A merge whose result the vocabulary lacks could only produce an unknown token; leaving it
    // out lets the other merges build pieces that do exist. This is also what cuts OpenAI's
    // full merges list down to the 48,894 merges CLIP's vocabulary was built from.
    const ranks = new Map<string, number>();
    merges.forEach(([a, b], rank) => {
      if (vocab.has(a + b)) ranks.set(`${a} ${b}`, rank);
    });
    this.mergeRanks = ranks;
  }

  /** @throws TokenizerError when the vocabulary lacks `token` */
  private idOf(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) {
      throw new TokenizerError(`The vocabulary has no "${token}" token`, { token });
    }
    return id;
  }

  /** The vocabulary tokens of a text, without start, end or padding, not truncated. */
  tokenize(text: string): string[] {
    const cleaned = text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    const tokens: string[] = [];
    for (const [word] of cleaned.matchAll(WORD_PATTERN)) {
      if (word === START_OF_TEXT || word === END_OF_TEXT) {
        tokens.push(word);
      } else {
        const symbols = byteSymbols(word);
        // BPE is quadratic in a word's length: a pasted 100k-character "word" is split into
        // pieces (no real word is that long), and its tokens appended one by one (spreading
        // them as arguments overflows the stack).
        for (let start = 0; start < symbols.length; start += MAX_BPE_WORD) {
          for (const token of this.bpe(symbols.slice(start, start + MAX_BPE_WORD))) tokens.push(token);
        }
      }
    }
    return tokens;
  }

  /**
   * Exactly `maxLength` ids: start token, the text's tokens (cut to fit), end token, padding.
   */
  encode(text: string): Int32Array {
    return this.encodeCounted(text).ids;
  }

  /**
   * The text's length in tokens, start and end tokens included, not truncated: more than
   * `maxLength` means `encodeCounted` cuts `count - maxLength` of them.
   */
  count(text: string): number {
    return this.tokenize(text).length + 2;
  }

  /** `encode`, and how many of the text's tokens were cut to fit (0 when all of it fits). */
  encodeCounted(text: string): EncodedPrompt {
    const tokens = this.tokenize(text);
    const ids = new Int32Array(this.maxLength).fill(this.padTokenId);
    const kept = Math.min(tokens.length, this.maxLength - 2);
    ids[0] = this.startTokenId;
    for (let k = 0; k < kept; k++) ids[k + 1] = this.vocab.get(tokens[k] as string) as number;
    ids[kept + 1] = this.endTokenId;
    return { ids, length: kept + 2, dropped: tokens.length - kept };
  }

  /** BPE of one word already in byte-unicode form; every returned token is in the vocabulary. */
  private bpe(word: string): readonly string[] {
    const cached = this.wordCache.get(word);
    if (cached !== undefined) return cached;
    const chars = Array.from(word);
    const symbols = applyMerges(
      chars.map((c, k) => (k === chars.length - 1 ? c + END_OF_WORD : c)),
      this.mergeRanks,
    );
    // Merged symbols are in the vocabulary by construction; a single byte can still be missing
    // from a hand-made vocabulary, and becomes CLIP's unknown token rather than vanishing.
    const tokens = symbols.map((s) => (this.vocab.has(s) ? s : UNKNOWN_TOKEN));
    this.wordCache.set(word, tokens);
    return tokens;
  }
}

/** Parses merges.txt: an optional "#version" header, then one "a b" pair per line, by rank. */
function parseMerges(text: string): [string, string][] {
  const lines = text.split(/\r?\n/);
  const start = lines[0]?.startsWith('#version') ? 1 : 0;
  const merges: [string, string][] = [];
  for (let n = start; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerError(`merges.txt line ${n + 1} is not a pair "a b": "${line}"`, { line: n + 1, text: line });
    }
    merges.push(parts as [string, string]);
  }
  return merges;
}

/**
 * A CLIP tokenizer from the parsed vocab.json and the text of merges.txt.
 * @throws TokenizerError when a vocabulary id is not a non-negative integer, a merges line is
 *   not a pair, the vocabulary lacks a special token, or an option is out of range
 */
export function createClipTokenizer(vocabJson: Record<string, number>, mergesText: string, options?: ClipTokenizerOptions): ClipTokenizer {
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(vocabJson)) {
    if (!Number.isInteger(id) || id < 0) {
      throw new TokenizerError(`vocab.json maps "${token}" to ${String(id)}, not a token id`, { token, id });
    }
    vocab.set(token, id);
  }
  return new ClipTokenizer(vocab, parseMerges(mergesText), options);
}

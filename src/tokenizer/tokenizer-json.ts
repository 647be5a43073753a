/**
 * A Hugging Face `tokenizer.json` for byte-level BPE — the GPT-2 / Qwen2 / Qwen3 family, which
 * the decoder language models that condition Z-Image and FLUX.2 use — read strictly: what this
 * file accepts it encodes exactly as the `tokenizers` library does; anything else (another model
 * type, normalizer, pre-tokenizer or post-processor, an unknown split pattern) is refused with a
 * ManifestError saying what is supported, never approximated.
 *
 * 1. The prompt goes into the model's prompt template (a chat template rendered for one user
 *    message, e.g. "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n").
 * 2. Added tokens (`<|im_start|>`, `<|endoftext|>`, …) are split out first, leftmost and then
 *    longest match, and map to their ids as they are.
 * 3. The text between them: Unicode NFC (where the normalizer says so), cut into pieces by the
 *    pre-tokenizer's pattern (Qwen2's: contractions, letter runs with one leading non-letter,
 *    single digits, punctuation runs, line breaks, spaces), each piece's UTF-8 bytes as
 *    byte-level symbols, merged by rank.
 * 4. Ids are cut to `maxLength` from the end (as `truncation=True` does, the template's tail
 *    included) and, where the model pads, padded on the right with the pad token.
 */
import { ManifestError, TokenizerError } from '../errors.ts';
import { applyMerges, BYTE_TO_UNICODE, byteSymbols } from './byte-level.ts';
import type { EncodedPrompt, PromptTokenizer } from './prompt-tokenizer.ts';

/** Where the prompt goes in a template. */
export const PROMPT_SLOT = '{prompt}';

/** A tokenizer.json larger than this is refused before it is parsed (Qwen3's is ~11 MB). */
export const MAX_TOKENIZER_JSON_BYTES = 64 * 2 ** 20;
const MAX_VOCAB = 1_000_000;
const MAX_MERGES = 1_000_000;
const MAX_ADDED_TOKENS = 65_536;
const MAX_TOKEN_CHARS = 1024;
/** Characters BPE merges in one go (it is quadratic in a piece's length); longer pieces are cut. */
const MAX_BPE_PIECE = 256;
/** Pieces whose tokens are remembered: prompts repeat their words, and BPE is the slow part. */
const MAX_CACHED_PIECES = 50_000;

/**
 * The split patterns we accept, as tokenizer.json writes them, and the same in JavaScript (whose
 * regular expressions have no inline `(?i:…)` before Node 23: the contractions are spelled out
 * in both cases).
 */
const CONTRACTIONS = "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])";
const KNOWN_PATTERNS: ReadonlyMap<string, RegExp> = new Map([
  // Qwen2, Qwen2.5, Qwen3: one digit a piece.
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    new RegExp(`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`, 'gu'),
  ],
  // Llama 3: up to three digits a piece.
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    new RegExp(`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`, 'gu'),
  ],
]);
/** GPT-2's own pattern: what a ByteLevel pre-tokenizer with `use_regex` splits by. */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface TokenizerJsonOptions {
  /** The most ids a prompt becomes. */
  readonly maxLength: number;
  /** The prompt template, with `{prompt}` once where the prompt goes; absent, the prompt alone. */
  readonly template?: string;
  /** Pad every prompt to `maxLength` with this token (FLUX.2); absent, no padding (Z-Image). */
  readonly padToken?: string;
}

type Json = Record<string, unknown>;

/** A byte-level BPE tokenizer read from a tokenizer.json; build it with `parseTokenizerJson`. */
export class ByteLevelBpeTokenizer implements PromptTokenizer {
  readonly maxLength: number;
  /** The pad id, when prompts are padded. */
  readonly padTokenId: number | undefined;
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly ranks: ReadonlyMap<string, number>;
  private readonly added: ReadonlyMap<string, number>;
  /** Added tokens, longest first so that an alternation finds the longest at a position. */
  private readonly addedPattern: RegExp | undefined;
  private readonly split: RegExp;
  private readonly nfc: boolean;
  private readonly ignoreMerges: boolean;
  private readonly unknownId: number | undefined;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly cache = new Map<string, readonly number[]>();

  constructor(model: {
    vocab: ReadonlyMap<string, number>;
    merges: readonly (readonly [string, string])[];
    added: ReadonlyMap<string, number>;
    split: RegExp;
    nfc: boolean;
    ignoreMerges: boolean;
    unknownId: number | undefined;
    options: TokenizerJsonOptions;
  }) {
    const { options } = model;
    if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
      throw new TokenizerError(`maxLength must be a positive integer, got ${options.maxLength}`, { maxLength: options.maxLength });
    }
    this.maxLength = options.maxLength;
    this.vocab = model.vocab;
    this.added = model.added;
    this.split = model.split;
    this.nfc = model.nfc;
    this.ignoreMerges = model.ignoreMerges;
    this.unknownId = model.unknownId;
    const ranks = new Map<string, number>();
    model.merges.forEach(([a, b], rank) => {
      if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, rank);
    });
    this.ranks = ranks;
    const contents = [...model.added.keys()].sort((a, b) => b.length - a.length);
    this.addedPattern = contents.length > 0 ? new RegExp(contents.map(escapeRegExp).join('|'), 'g') : undefined;
    const template = options.template ?? PROMPT_SLOT;
    const slot = template.indexOf(PROMPT_SLOT);
    if (slot < 0 || template.indexOf(PROMPT_SLOT, slot + 1) >= 0) {
      throw new TokenizerError(`The prompt template must contain ${PROMPT_SLOT} exactly once, got ${JSON.stringify(template)}`, { token: template });
    }
    this.prefix = template.slice(0, slot);
    this.suffix = template.slice(slot + PROMPT_SLOT.length);
    this.padTokenId = options.padToken !== undefined ? this.idOf(options.padToken) : undefined;
    if (this.unknownId === undefined) {
      // Without an unknown token every byte must be a symbol of the vocabulary, or some text
      // would have no ids.
      const missing = BYTE_TO_UNICODE.findIndex((symbol) => !this.vocab.has(symbol));
      if (missing >= 0) {
        throw new TokenizerError(`The vocabulary has no symbol for byte ${missing} and the model no unknown token`, { id: missing });
      }
    }
  }

  /** The id of a vocabulary or added token. @throws TokenizerError when there is none */
  idOf(token: string): number {
    const id = this.added.get(token) ?? this.vocab.get(token);
    if (id === undefined) throw new TokenizerError(`The tokenizer has no "${token}" token`, { token });
    return id;
  }

  /** The ids of a text as it is, without the template, truncation or padding. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    let at = 0;
    if (this.addedPattern !== undefined) {
      for (const match of text.matchAll(this.addedPattern)) {
        this.encodeOrdinary(text.slice(at, match.index), ids);
        ids.push(this.added.get(match[0])!);
        at = match.index + match[0].length;
      }
    }
    this.encodeOrdinary(text.slice(at), ids);
    return ids;
  }

  /** The prompt in its template, as ids, not truncated. */
  private templated(text: string): number[] {
    return this.tokenize(`${this.prefix}${text}${this.suffix}`);
  }

  count(text: string): number {
    return this.templated(text).length;
  }

  encodeCounted(text: string): EncodedPrompt {
    const tokens = this.templated(text);
    const length = Math.min(tokens.length, this.maxLength);
    const ids = new Int32Array(this.padTokenId !== undefined ? this.maxLength : length);
    if (this.padTokenId !== undefined) ids.fill(this.padTokenId);
    for (let k = 0; k < length; k++) ids[k] = tokens[k]!;
    return { ids, length, dropped: tokens.length - length };
  }

  /** Text with no added token in it: normalized, split, byte-mapped and merged. */
  private encodeOrdinary(text: string, ids: number[]): void {
    if (text === '') return;
    const normalized = this.nfc ? text.normalize('NFC') : text;
    let at = 0;
    // "Isolated" splitting: every match is a piece, and so is any text between matches.
    for (const match of normalized.matchAll(this.split)) {
      if (match.index > at) this.encodePiece(normalized.slice(at, match.index), ids);
      this.encodePiece(match[0], ids);
      at = match.index + match[0].length;
    }
    if (at < normalized.length) this.encodePiece(normalized.slice(at), ids);
  }

  private encodePiece(piece: string, ids: number[]): void {
    const symbols = byteSymbols(piece);
    for (let start = 0; start < symbols.length; start += MAX_BPE_PIECE) {
      for (const id of this.bpe(symbols.slice(start, start + MAX_BPE_PIECE))) ids.push(id);
    }
  }

  private bpe(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const whole = this.ignoreMerges ? this.vocab.get(word) : undefined;
    const tokens = whole !== undefined ? [word] : applyMerges(Array.from(word), this.ranks);
    const result = tokens.map((token) => this.vocab.get(token) ?? this.unknownId!);
    if (this.cache.size >= MAX_CACHED_PIECES) this.cache.clear();
    this.cache.set(word, result);
    return result;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Reads a tokenizer.json.
 * @param source names the file in messages
 * @throws ManifestError when the file is a kind of tokenizer this runtime does not support (not
 *   byte-level BPE, another normalizer, pre-tokenizer pattern or post-processor, byte fallback,
 *   dropout, word prefixes or suffixes, added tokens that strip spaces)
 * @throws TokenizerError when it is malformed: not JSON, too large, ids that are not
 *   non-negative integers, merges that are not pairs, a byte the vocabulary lacks, a pad token
 *   it does not have, a template without one `{prompt}`
 */
export function parseTokenizerJson(text: string, options: TokenizerJsonOptions, source = 'tokenizer.json'): ByteLevelBpeTokenizer {
  if (text.length > MAX_TOKENIZER_JSON_BYTES) {
    throw new TokenizerError(`${source} is ${text.length} characters long; at most ${MAX_TOKENIZER_JSON_BYTES} are read`, {});
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TokenizerError(`${source} is not valid JSON: ${(error as Error).message}`, {}, { cause: error });
  }
  const unsupported = (field: string, what: string, got: unknown): never => {
    throw new ManifestError(`${source}: "${field}" is ${JSON.stringify(got) ?? 'missing'}; this runtime reads ${what}`, { source, field });
  };
  const malformed = (message: string, details: { token?: string; id?: number; line?: number } = {}): never => {
    throw new TokenizerError(`${source}: ${message}`, details);
  };
  const object = (value: unknown, field: string): Json =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : malformed(`"${field}" must be an object`);
  const absentOr = (value: unknown, allowed: readonly unknown[]): boolean => value === undefined || value === null || allowed.includes(value);

  const root = object(json, '(root)');
  const model = object(root.model, 'model');
  if (model.type !== 'BPE') unsupported('model.type', 'byte-level "BPE" only', model.type);
  if (!absentOr(model.byte_fallback, [false])) unsupported('model.byte_fallback', 'false (byte-level BPE needs no fallback)', model.byte_fallback);
  if (!absentOr(model.dropout, [0])) unsupported('model.dropout', 'none (it makes encoding random)', model.dropout);
  if (!absentOr(model.continuing_subword_prefix, [''])) unsupported('model.continuing_subword_prefix', 'none', model.continuing_subword_prefix);
  if (!absentOr(model.end_of_word_suffix, ['']))
    unsupported('model.end_of_word_suffix', 'none (a CLIP-style suffix needs vocab.json and merges.txt)', model.end_of_word_suffix);
  if (!absentOr(model.fuse_unk, [false])) unsupported('model.fuse_unk', 'false', model.fuse_unk);

  const vocabJson = object(model.vocab, 'model.vocab');
  const entries = Object.entries(vocabJson);
  if (entries.length > MAX_VOCAB) malformed(`the vocabulary has ${entries.length} tokens; at most ${MAX_VOCAB} are read`);
  const vocab = new Map<string, number>();
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || (id as number) < 0) malformed(`the vocabulary maps "${token}" to ${JSON.stringify(id)}, not a token id`, { token });
    vocab.set(token, id as number);
  }

  if (!Array.isArray(model.merges)) malformed('"model.merges" must be an array');
  const mergesJson = model.merges as unknown[];
  if (mergesJson.length > MAX_MERGES) malformed(`it has ${mergesJson.length} merges; at most ${MAX_MERGES} are read`);
  const merges = mergesJson.map((merge, line): [string, string] => {
    // Two spellings: "a b" (older files) and ["a", "b"] (tokenizers 0.20 on).
    const pair = typeof merge === 'string' ? merge.split(' ') : merge;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((s) => typeof s !== 'string' || s === '' || s.includes(' '))) {
      return malformed(`merge ${line} is not a pair of symbols: ${JSON.stringify(merge)}`, { line });
    }
    return [pair[0] as string, pair[1] as string];
  });

  const addedJson = root.added_tokens ?? [];
  if (!Array.isArray(addedJson)) malformed('"added_tokens" must be an array');
  if ((addedJson as unknown[]).length > MAX_ADDED_TOKENS)
    malformed(`it has ${(addedJson as unknown[]).length} added tokens; at most ${MAX_ADDED_TOKENS} are read`);
  const added = new Map<string, number>();
  (addedJson as unknown[]).forEach((value, k) => {
    const token = object(value, `added_tokens[${k}]`);
    const content = token.content;
    if (typeof content !== 'string' || content === '' || content.length > MAX_TOKEN_CHARS) {
      malformed(`added_tokens[${k}].content must be a string of 1 to ${MAX_TOKEN_CHARS} characters`);
    }
    if (!Number.isInteger(token.id) || (token.id as number) < 0) malformed(`added_tokens[${k}].id must be a token id`, { token: content as string });
    for (const flag of ['lstrip', 'rstrip', 'single_word'] as const) {
      if (!absentOr(token[flag], [false]))
        unsupported(`added_tokens[${k}].${flag}`, 'false (tokens that take in the spaces around them are not supported)', token[flag]);
    }
    added.set(content as string, token.id as number);
  });

  const nfc = readNormalizer(root.normalizer, unsupported);
  const split = readPreTokenizer(root.pre_tokenizer, unsupported);
  const post = root.post_processor;
  if (post !== undefined && post !== null && (post as Json).type !== 'ByteLevel') {
    unsupported(
      'post_processor.type',
      'none or "ByteLevel" (one that adds tokens around the text, as TemplateProcessing does, is not supported)',
      (post as Json).type,
    );
  }
  const unknownToken = model.unk_token;
  let unknownId: number | undefined;
  if (unknownToken !== undefined && unknownToken !== null) {
    if (typeof unknownToken !== 'string') malformed('"model.unk_token" must be a token');
    unknownId =
      vocab.get(unknownToken as string) ?? malformed(`the unknown token "${String(unknownToken)}" is not in the vocabulary`, { token: unknownToken as string });
  }
  return new ByteLevelBpeTokenizer({
    vocab,
    merges,
    added,
    split,
    nfc,
    ignoreMerges: model.ignore_merges === true,
    unknownId,
    options,
  });
}

type Unsupported = (field: string, what: string, got: unknown) => never;

/** Whether the normalizer is NFC; none is fine too. */
function readNormalizer(value: unknown, unsupported: Unsupported): boolean {
  if (value === undefined || value === null) return false;
  const normalizer = value as Json;
  if (normalizer.type === 'NFC') return true;
  if (normalizer.type === 'Sequence' && Array.isArray(normalizer.normalizers)) {
    const types = (normalizer.normalizers as Json[]).map((n) => n?.type);
    if (types.length === 0) return false;
    if (types.length === 1 && types[0] === 'NFC') return true;
  }
  return unsupported('normalizer', 'none or NFC', value);
}

/**
 * The pattern a pre-tokenizer splits by: GPT-2's own (ByteLevel with `use_regex`), or a Split
 * by a known pattern followed by a ByteLevel that only maps bytes (Qwen2/3, Llama 3).
 */
function readPreTokenizer(value: unknown, unsupported: Unsupported): RegExp {
  const what = 'ByteLevel, or Split by the Qwen2/Qwen3 or Llama 3 pattern (isolated) then ByteLevel, each without add_prefix_space';
  const pre = (value ?? {}) as Json;
  const byteLevel = (p: Json | undefined, useRegex: boolean): boolean =>
    p?.type === 'ByteLevel' && p.add_prefix_space !== true && (p.use_regex === undefined ? true : p.use_regex === true) === useRegex;
  if (byteLevel(pre, true)) return GPT2_PATTERN;
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 2) {
    const [first, second] = pre.pretokenizers as Json[];
    const pattern = (first?.pattern as Json | undefined)?.Regex;
    const known = typeof pattern === 'string' ? KNOWN_PATTERNS.get(pattern) : undefined;
    if (first?.type === 'Split' && first.behavior === 'Isolated' && first.invert !== true && byteLevel(second, false)) {
      if (known !== undefined) return known;
      return unsupported(
        'pre_tokenizer.pretokenizers[0].pattern',
        'the Qwen2/Qwen3 or Llama 3 split pattern (another pattern could split text differently than its model was trained on)',
        pattern,
      );
    }
  }
  return unsupported('pre_tokenizer', what, value);
}

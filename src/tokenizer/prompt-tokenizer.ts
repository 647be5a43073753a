/**
 * What the pipeline asks of a tokenizer, whichever format its files are in: CLIP's vocab.json
 * and merges.txt (clip-tokenizer.ts) or a Hugging Face tokenizer.json (tokenizer-json.ts).
 */

/** One prompt as token ids for the text encoder. */
export interface EncodedPrompt {
  /** The ids the encoder is fed: the text's tokens, then padding where the model pads. */
  readonly ids: Int32Array;
  /** How many of `ids` are the text's (the attention mask's ones); the rest is padding. */
  readonly length: number;
  /** How many of the text's tokens were cut to fit the maximum length (0 when all of it fits). */
  readonly dropped: number;
}

export interface PromptTokenizer {
  /** The most ids a prompt becomes. */
  readonly maxLength: number;
  /** The prompt's length in tokens as the encoder would see it, not truncated. */
  count(text: string): number;
  encodeCounted(text: string): EncodedPrompt;
}

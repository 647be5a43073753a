/**
 * What a model's text side is, as its description declares it: which kind of text encoder (a
 * CLIP text tower, or a decoder-only language model whose hidden states condition the denoiser,
 * as Qwen3 conditions Z-Image and FLUX.2), and which tokenizer files and prompt template it takes.
 */

/** clip: token ids in, last_hidden_state (and a pooled embedding) out; decoder: a decoder-only language model, input_ids and attention_mask in, hidden states out. */
export type TextEncoderKind = 'clip' | 'decoder';
/**
 * keep: the prompt padded to `maxLength`, every position's hidden state goes to the denoiser
 * (CLIP; FLUX.2); drop: only the prompt's own tokens do (Z-Image: `hidden[mask]`).
 */
export type TextPadding = 'keep' | 'drop';

export interface TextEncoderSpec {
  /** Width of the conditioning the denoiser takes, per token (several layers' widths together). */
  readonly hiddenSize: number;
  /** The most tokens a prompt becomes. */
  readonly maxLength: number;
  readonly kind: TextEncoderKind;
  /**
   * Which hidden states, by their index in Hugging Face's `output_hidden_states` tuple (0 the
   * embeddings, 1 the first layer's output, -1 the last; -2 is Z-Image's, [9, 18, 27]
   * FLUX.2 klein's), joined per token in this order. Applies to an export that outputs every
   * layer as `hidden_states.N`; an export with one hidden-state output has made the choice itself.
   */
  readonly layers?: readonly number[];
  readonly padding: TextPadding;
}

/** CLIP's vocab.json and merges.txt. */
export interface ClipTokenizerSpec {
  readonly format: 'clip';
  readonly vocab: string;
  readonly merges: string;
  readonly padToken?: string;
  /** Overrides padToken: SD 2.x / SD-Turbo text encoders were trained with pad id 0. */
  readonly padTokenId?: number;
}

/** A Hugging Face tokenizer.json (byte-level BPE), with the prompt template the model applies. */
export interface TokenizerJsonSpec {
  readonly format: 'tokenizer_json';
  readonly file: string;
  /**
   * The prompt as the model's pipeline hands it to the tokenizer, `{prompt}` where the prompt
   * goes: its chat template rendered for one user message (we do not run Jinja templates).
   */
  readonly template?: string;
  /** The token prompts are padded with, where the text encoder's padding is kept. */
  readonly padToken?: string;
}

export type TokenizerSpec = ClipTokenizerSpec | TokenizerJsonSpec;

export const TEXT_ENCODER_KINDS: readonly TextEncoderKind[] = ['clip', 'decoder'];
export const TEXT_PADDINGS: readonly TextPadding[] = ['keep', 'drop'];
export const TOKENIZER_FORMATS: readonly TokenizerSpec['format'][] = ['clip', 'tokenizer_json'];

/** The files a tokenizer is read from, relative to the model. */
export function tokenizerFiles(spec: TokenizerSpec): string[] {
  return spec.format === 'clip' ? [spec.vocab, spec.merges] : [spec.file];
}

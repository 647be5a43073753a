/**
 * The tokenizer a model's description names, built from its files: CLIP's vocab.json and
 * merges.txt, or a tokenizer.json with the model's prompt template, padded or not as its text
 * encoder takes prompts.
 */
import { ManifestError } from '../errors.ts';
import type { TextEncoderSpec, TokenizerSpec } from '../models/text-spec.ts';
import { createClipTokenizer } from './clip-tokenizer.ts';
import type { PromptTokenizer } from './prompt-tokenizer.ts';
import { parseTokenizerJson } from './tokenizer-json.ts';

/**
 * @param read the text of one of the model's files
 * @throws ManifestError when a file is not valid JSON, a tokenizer.json is of a kind this runtime
 *   does not read, or a padded text encoder's tokenizer names no pad token
 * @throws TokenizerError when the files are inconsistent (see createClipTokenizer, parseTokenizerJson)
 */
export async function loadPromptTokenizer(
  spec: TokenizerSpec,
  textEncoder: TextEncoderSpec,
  read: (path: string) => Promise<string>,
): Promise<PromptTokenizer> {
  const { maxLength } = textEncoder;
  if (spec.format === 'clip') {
    const [vocab, merges] = await Promise.all([read(spec.vocab), read(spec.merges)]);
    let vocabJson: Record<string, number>;
    try {
      vocabJson = JSON.parse(vocab) as Record<string, number>;
    } catch (error) {
      throw new ManifestError(`${spec.vocab} is not valid JSON: ${(error as Error).message}`, { source: spec.vocab }, { cause: error });
    }
    return createClipTokenizer(vocabJson, merges, {
      maxLength,
      ...(spec.padToken !== undefined ? { padToken: spec.padToken } : {}),
      ...(spec.padTokenId !== undefined ? { padTokenId: spec.padTokenId } : {}),
    });
  }
  const padded = textEncoder.padding === 'keep';
  if (padded && spec.padToken === undefined) {
    throw new ManifestError(`${spec.file}: the text encoder takes prompts padded to ${maxLength} tokens, so "tokenizer.padToken" must name the pad token`, {
      source: spec.file,
      field: 'tokenizer.padToken',
    });
  }
  return parseTokenizerJson(
    await read(spec.file),
    { maxLength, ...(spec.template !== undefined ? { template: spec.template } : {}), ...(padded ? { padToken: spec.padToken! } : {}) },
    spec.file,
  );
}

/**
 * A decoder language model as text encoder (Qwen3 for Z-Image and FLUX.2): what it is fed (ids,
 * the attention mask that marks padding, positions) and which hidden states are taken, on a fake
 * session whose every layer's output says which layer and token it is.
 */
import { describe, expect, it, vi } from 'vitest';
import { ModelLoadError } from '../../../src/errors.ts';
import type { TextEncoderSpec } from '../../../src/models/text-spec.ts';
import type { OrtSession, Tensor, TensorInfo } from '../../../src/ort/ort.ts';
import { TextConditioner, TextEncoderModel } from '../../../src/pipeline/text-encoders.ts';
import type { EncodedPrompt } from '../../../src/tokenizer/prompt-tokenizer.ts';

// CPU tensors without loading ONNX Runtime: what the encoder reads of them.
vi.mock('../../../src/ort/ort.ts', () => ({
  cpuTensor: (type: string, data: ArrayLike<number | bigint>, dims: readonly number[]) => ({ type, data, dims, location: 'cpu', dispose: () => {} }),
  floatDataOf: (tensor: { data: Float32Array }) => tensor.data,
}));

const LAYERS = 5;
const WIDTH = 2;

/** hidden_states.0 … .4, each value 100 × layer + token (+ 0.5 in the second column); the feeds it got are kept. */
function fakeSession(inputs: TensorInfo[], outputs?: TensorInfo[]): { session: OrtSession; fed: Record<string, Tensor>[] } {
  const fed: Record<string, Tensor>[] = [];
  const outs =
    outputs ?? Array.from({ length: LAYERS }, (_, n) => ({ name: `hidden_states.${n}`, dtype: 'float32', shape: ['batch', 'sequence_length', WIDTH] }));
  const session = {
    inputs,
    outputs: outs,
    run: async (feeds: Record<string, Tensor>) => {
      fed.push(feeds);
      const [batch, length] = feeds.input_ids!.dims as [number, number];
      const result: Record<string, unknown> = {};
      outs.forEach((info) => {
        const layer = Number(/\d+$/.exec(info.name)?.[0] ?? LAYERS - 1);
        const width = typeof info.shape?.[2] === 'number' ? info.shape[2] : WIDTH;
        const data = new Float32Array(batch * length * width);
        for (let k = 0; k < data.length; k++) data[k] = 100 * layer + (Math.floor(k / width) % length) + (k % width) * 0.5;
        result[info.name] = { type: 'float32', data, dims: [batch, length, width], location: 'cpu', dispose: () => {} };
      });
      return result;
    },
  };
  return { session: session as unknown as OrtSession, fed };
}

const LM_INPUTS: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', shape: ['batch', 'sequence_length'] },
  { name: 'attention_mask', dtype: 'int64', shape: ['batch', 'sequence_length'] },
];
const decoder = (layers: number[], padding: TextEncoderSpec['padding'] = 'keep'): TextEncoderSpec => ({
  hiddenSize: WIDTH * layers.length,
  maxLength: 8,
  kind: 'decoder',
  layers,
  padding,
});
const prompt = (ids: number[], length: number): EncodedPrompt => ({ ids: Int32Array.from(ids), length, dropped: 0 });

describe('a decoder language model as text encoder', () => {
  it('takes the second-to-last hidden state (Z-Image: hidden_states[-2]) and feeds a mask of ones for the prompt alone', async () => {
    const { session, fed } = fakeSession(LM_INPUTS);
    const encoder = new TextEncoderModel(session, 'text_encoder', decoder([-2], 'drop'));
    const [encoding] = await new TextConditioner([encoder], undefined).encode([prompt([5, 6, 7], 3)]);
    expect(encoding!.hidden.dims).toEqual([1, 3, WIDTH]);
    expect(Array.from((encoding!.hidden as unknown as { data: Float32Array }).data)).toEqual([300, 300.5, 301, 301.5, 302, 302.5]);
    expect(Array.from(fed[0]!.attention_mask!.data as BigInt64Array, Number)).toEqual([1, 1, 1]);
    expect(fed[0]!.input_ids!.type).toBe('int64');
  });

  it('joins several layers per token in the declared order (FLUX.2: 9, 18, 27) and masks the padding', async () => {
    const { session, fed } = fakeSession(LM_INPUTS);
    const encoder = new TextEncoderModel(session, 'text_encoder', decoder([3, 1]));
    const [encoding] = await new TextConditioner([encoder], undefined).encode([prompt([5, 6, 0, 0], 2)]);
    expect(encoding!.hidden.dims).toEqual([1, 4, 2 * WIDTH]);
    const values = Array.from((encoding!.hidden as unknown as { data: Float32Array }).data);
    // Token 1: layer 3's two values, then layer 1's.
    expect(values.slice(4, 8)).toEqual([301, 301.5, 101, 101.5]);
    expect(Array.from(fed[0]!.attention_mask!.data as BigInt64Array, Number)).toEqual([1, 1, 0, 0]);
  });

  it('takes an export that chose its layers itself as it is, if its width is the declared one', () => {
    const single = [{ name: 'last_hidden_state', dtype: 'float32', shape: [1, 'sequence_length', 4] }];
    expect(() => new TextEncoderModel(fakeSession(LM_INPUTS, single).session, 'text_encoder', decoder([9, 18]))).not.toThrow();
    expect(() => new TextEncoderModel(fakeSession(LM_INPUTS, single).session, 'text_encoder', decoder([9, 18, 27]))).toThrow(/4 wide.*says 6/);
  });

  it('refuses a layer the export does not have, an input it cannot feed, and dropped padding on a fixed length', () => {
    expect(() => new TextEncoderModel(fakeSession(LM_INPUTS).session, 'text_encoder', decoder([9]))).toThrow(ModelLoadError);
    const cache = [...LM_INPUTS, { name: 'past_key_values.0.key', dtype: 'float32', shape: ['batch', 8, 'past', 64] }];
    expect(() => new TextEncoderModel(fakeSession(cache).session, 'text_encoder', decoder([-2]))).toThrow(/past_key_values\.0\.key/);
    const fixed = LM_INPUTS.map((info) => ({ ...info, shape: [1, 512] }));
    expect(() => new TextEncoderModel(fakeSession(fixed).session, 'text_encoder', decoder([-2], 'drop'))).toThrow(/fixed to 512 tokens/);
  });

  it("keeps a CLIP encoder's contract: an attention mask is not one of its inputs, a LoRA branch's input is the session's own", () => {
    const clip: TextEncoderSpec = { hiddenSize: WIDTH, maxLength: 77, kind: 'clip', padding: 'keep' };
    expect(() => new TextEncoderModel(fakeSession(LM_INPUTS).session, 'text_encoder', clip)).toThrow(/attention_mask/);
    const lora = [LM_INPUTS[0]!, { name: 'lora:layers.0.qkv:A', dtype: 'float32', shape: [64, 'lora_rank'] }];
    expect(() => new TextEncoderModel(fakeSession(lora).session, 'text_encoder', clip)).not.toThrow();
  });
});

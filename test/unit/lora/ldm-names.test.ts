/**
 * kohya LoRAs trained on Stable Diffusion's original code (the names most shared SD 1.5 and SDXL
 * LoRAs carry) find the diffusers-named modules of an ONNX export.
 */
import { describe, expect, it } from 'vitest';
import { matchLora } from '../../../src/lora/lora-feeds.ts';
import { readLora } from '../../../src/lora/lora-file.ts';
import type { LoraTarget } from '../../../src/lora/lora-graph.ts';
import { diffusersModuleOf } from '../../../src/lora/ldm-names.ts';
import { parseSafetensors } from '../../../src/lora/safetensors.ts';
import { safetensorsOf } from './safetensors-bytes.ts';

describe('diffusersModuleOf', () => {
  it.each([
    // SD 1.5: attention in down levels 0-2 (input blocks 1, 2, 4, 5, 7, 8), up levels 1-3 (output blocks 3-11).
    ['input_blocks_1_1_transformer_blocks_0_attn1_to_q', 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q'],
    ['input_blocks_2_1_proj_in', 'down_blocks_0_attentions_1_proj_in'],
    ['input_blocks_8_1_transformer_blocks_0_attn2_to_k', 'down_blocks_2_attentions_1_transformer_blocks_0_attn2_to_k'],
    ['middle_block_1_transformer_blocks_0_ff_net_2', 'mid_block_attentions_0_transformer_blocks_0_ff_net_2'],
    ['output_blocks_3_1_transformer_blocks_0_attn1_to_out_0', 'up_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0'],
    ['output_blocks_11_1_proj_out', 'up_blocks_3_attentions_2_proj_out'],
    // SDXL: attention in down levels 1-2 (input blocks 4, 5, 7, 8) and up levels 0-1 (output blocks 0-5), ten transformer blocks deep.
    ['input_blocks_7_1_transformer_blocks_9_attn1_to_v', 'down_blocks_2_attentions_0_transformer_blocks_9_attn1_to_v'],
    ['output_blocks_0_1_transformer_blocks_3_attn2_to_q', 'up_blocks_0_attentions_0_transformer_blocks_3_attn2_to_q'],
    ['output_blocks_5_1_proj_in', 'up_blocks_1_attentions_2_proj_in'],
  ])('%s is %s', (ldm, diffusers) => {
    expect(diffusersModuleOf(ldm)).toBe(diffusers);
  });

  it.each(['input_blocks_0_0_conv', 'input_blocks_3_1_op', 'input_blocks_4_0_in_layers_2', 'down_blocks_0_attentions_0_proj_in', 'time_embed_0'])(
    'leaves %s alone: no original-code attention block',
    (name) => {
      expect(diffusersModuleOf(name)).toBeUndefined();
    },
  );
});

describe('an original-code kohya LoRA on a diffusers-named export', () => {
  const target = (module: string, features: number): LoraTarget => ({
    module,
    inFeatures: features,
    outFeatures: features,
    dtype: 'float32',
    inputA: `${module}.A`,
    inputB: `${module}.B`,
    weight: 'float',
  });
  const kohya = (module: string, features: number) => ({
    [`lora_unet_${module}.lora_down.weight`]: { shape: [2, features], values: Array.from({ length: 2 * features }, (_, i) => i / 100) },
    [`lora_unet_${module}.lora_up.weight`]: { shape: [features, 2], values: Array.from({ length: 2 * features }, (_, i) => i / 50) },
    [`lora_unet_${module}.alpha`]: { shape: [], values: [2] },
  });

  it('matches each module to the block diffusers names, in either naming', () => {
    const q = 'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q';
    const v = 'up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_v';
    const targets = new Map([['unet', [target(q, 8), target(v, 8)]]] as const);
    const weights = readLora(
      parseSafetensors(
        safetensorsOf({
          ...kohya('input_blocks_4_1_transformer_blocks_0_attn1_to_q', 8),
          ...kohya('up_blocks_1_attentions_2_transformer_blocks_0_attn2_to_v', 8),
          ...kohya('output_blocks_9_1_transformer_blocks_0_attn1_to_k', 8),
        }),
        'ldm',
      ),
      'ldm',
    );
    const matched = matchLora(weights, targets, 'ldm');
    expect([...matched.byTarget.get('unet')!.keys()].sort()).toEqual([q, v].sort());
    expect(matched.unmatched).toEqual(['lora_unet_output_blocks_9_1_transformer_blocks_0_attn1_to_k']);
  });
});

/**
 * LoRAs trained on Stable Diffusion's original code name the UNet's blocks as that code does
 * (kohya's `lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`); ONNX exports made from
 * diffusers keep diffusers' names in their node names (`down_blocks.1.attentions.0.…`). The two
 * differ only in the block prefix. Every UNet of the family (SD 1.x/2.x, SDXL) has three entries
 * per resolution level on each side: down level i, entry j (j = 0, 1 its resnet/attention pairs)
 * is input block 3i + j + 1; up level i, entry j (j = 0, 1, 2) is output block 3i + j; an
 * attention block is entry 1 of an input or output block, and `middle_block.1` is the middle
 * block's attention. Resnets (entry 0) are convolutions, which LoRA branches do not target.
 */

/**
 * The diffusers name (kohya's underscores) of an original-code UNet module, or undefined when
 * `module` does not start with an original-code attention block.
 */
export function diffusersModuleOf(module: string): string | undefined {
  const input = /^input_blocks_(\d+)_1_(.+)$/.exec(module);
  if (input !== null) {
    const n = Number(input[1]) - 1;
    // Input block 0 is conv_in; 3, 6, 9 are downsamplers (no attention).
    if (n < 0 || n % 3 === 2) return undefined;
    return `down_blocks_${Math.floor(n / 3)}_attentions_${n % 3}_${input[2]}`;
  }
  const output = /^output_blocks_(\d+)_1_(.+)$/.exec(module);
  if (output !== null) {
    const n = Number(output[1]);
    return `up_blocks_${Math.floor(n / 3)}_attentions_${n % 3}_${output[2]}`;
  }
  const middle = /^middle_block_1_(.+)$/.exec(module);
  if (middle !== null) return `mid_block_attentions_0_${middle[1]}`;
  return undefined;
}

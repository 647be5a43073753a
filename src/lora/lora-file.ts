/**
 * A LoRA file's tensors grouped by module, in either layout people have:
 * - diffusers / PEFT: `<component>.<module path>.lora_A.weight` [rank, in] and `.lora_B.weight`
 *   [out, rank] (also `.lora.down.weight` / `.lora.up.weight`, diffusers' older names), the
 *   component `unet`, `text_encoder` or `text_encoder_2` (PEFT's own `base_model.model.` is the
 *   UNet), scale 1 unless an `.alpha` is given;
 * - kohya: `lora_unet_<module path, dots as underscores>.lora_down.weight` / `.lora_up.weight`
 *   with `.alpha` (scale alpha / rank); `lora_te_` (or `lora_te1_`) and `lora_te2_` for the text
 *   encoders. The UNet's module path in diffusers' names or in Stable Diffusion's original
 *   code's (`input_blocks_4_1_…`, ldm-names.ts), as the kohya trainer writes for SD 1.5 and SDXL.
 * A 1x1 convolution's [rank, in, 1, 1] is read as [rank, in].
 */
import { LoraError } from '../errors.ts';
import type { Safetensors, SafetensorsTensor } from './safetensors.ts';

export type LoraComponent = 'unet' | 'text_encoder' | 'text_encoder_2';
export type LoraLayout = 'peft' | 'kohya';

export interface LoraModule {
  readonly component: LoraComponent;
  /** The module path with dots (PEFT), or kohya's with underscores: matched as `kohya` says. */
  readonly module: string;
  readonly kohya: boolean;
  /** The key prefix in the file, for messages. */
  readonly key: string;
  readonly rank: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** down [rank, in] and up [out, rank], row-major. */
  readonly down: Float32Array;
  readonly up: Float32Array;
  /** alpha / rank (kohya), or 1. */
  readonly scale: number;
}

export interface LoraWeights {
  readonly layout: LoraLayout;
  readonly modules: readonly LoraModule[];
  /** The largest rank of its modules: the columns it takes in a request's branch inputs. */
  readonly rank: number;
  /** Keys that belong to no module this reader knows (left out, and reported). */
  readonly ignoredKeys: readonly string[];
}

const PEFT_COMPONENTS: readonly [string, LoraComponent][] = [
  ['unet.', 'unet'],
  ['text_encoder_2.', 'text_encoder_2'],
  ['text_encoder.', 'text_encoder'],
  ['base_model.model.', 'unet'],
];
const KOHYA_COMPONENTS: readonly [string, LoraComponent][] = [
  ['lora_unet_', 'unet'],
  ['lora_te2_', 'text_encoder_2'],
  ['lora_te1_', 'text_encoder'],
  ['lora_te_', 'text_encoder'],
];
const SUFFIXES: readonly { readonly down: string; readonly up: string; readonly layout: LoraLayout }[] = [
  { down: '.lora_A.weight', up: '.lora_B.weight', layout: 'peft' },
  { down: '.lora.down.weight', up: '.lora.up.weight', layout: 'peft' },
  { down: '.lora_down.weight', up: '.lora_up.weight', layout: 'kohya' },
];

/**
 * The LoRA modules of a parsed safetensors file.
 * @throws LoraError ('unknown-keys') when no key is in a layout we know, ('bad-tensor') when a
 *   module's down and up do not make a low-rank pair
 */
export function readLora(file: Safetensors, source: string): LoraWeights {
  const modules: LoraModule[] = [];
  const used = new Set<string>();
  let layout: LoraLayout | undefined;
  for (const [name, tensor] of file.tensors) {
    const suffix = SUFFIXES.find((s) => name.endsWith(s.down));
    if (suffix === undefined) continue;
    const key = name.slice(0, -suffix.down.length);
    const up = file.tensors.get(key + suffix.up);
    const component = (suffix.layout === 'kohya' ? KOHYA_COMPONENTS : PEFT_COMPONENTS).find(([prefix]) => key.startsWith(prefix));
    if (up === undefined || component === undefined) continue;
    const alpha = file.tensors.get(key + '.alpha');
    modules.push(pair(source, key, component[1], key.slice(component[0].length), suffix.layout === 'kohya', tensor, up, alpha));
    used.add(name).add(key + suffix.up);
    if (alpha !== undefined) used.add(key + '.alpha');
    layout ??= suffix.layout;
  }
  const ignoredKeys = [...file.tensors.keys()].filter((name) => !used.has(name));
  if (modules.length === 0 || layout === undefined) {
    throw new LoraError(
      `${source}: no LoRA weights in a layout we read (diffusers/PEFT "unet.<module>.lora_A.weight" / "lora_B", or kohya "lora_unet_<module>.lora_down.weight" / "lora_up" / "alpha")`,
      { reason: 'unknown-keys', source, keys: ignoredKeys.slice(0, 20) },
    );
  }
  return { layout, modules, rank: Math.max(...modules.map((m) => m.rank)), ignoredKeys };
}

function pair(
  source: string,
  key: string,
  component: LoraComponent,
  module: string,
  kohya: boolean,
  down: SafetensorsTensor,
  up: SafetensorsTensor,
  alpha: SafetensorsTensor | undefined,
): LoraModule {
  const matrix = (t: SafetensorsTensor): [number, number] | undefined => {
    const [rows, cols, ...rest] = t.shape;
    return rows !== undefined && cols !== undefined && rest.every((d) => d === 1) ? [rows, cols] : undefined;
  };
  const d = matrix(down);
  const u = matrix(up);
  if (d === undefined || u === undefined || d[0] !== u[1]) {
    throw new LoraError(
      `${source}: "${key}" has down [${down.shape.join(', ')}] and up [${up.shape.join(', ')}]: not a low-rank pair [rank, in] and [out, rank]`,
      {
        reason: 'bad-tensor',
        source,
        keys: [key],
      },
    );
  }
  const rank = d[0];
  const alphaValue = alpha?.data[0];
  return {
    component,
    module,
    kohya,
    key,
    rank,
    inFeatures: d[1],
    outFeatures: u[0],
    down: down.data,
    up: up.data,
    scale: alphaValue !== undefined ? alphaValue / rank : 1,
  };
}

/**
 * LoRA weights matched to a rewritten graph's targets, and the branch inputs a request feeds:
 * for the LoRAs l with rank r_l and scale s_l, A = [down_1ᵀ | down_2ᵀ | …] ([in, Σ r_l]) and
 * B = [s_1 α_1 up_1ᵀ ; s_2 α_2 up_2ᵀ ; …] ([Σ r_l, out]), so x A B = Σ_l s_l α_l x down_lᵀ up_lᵀ:
 * two LoRAs add, as they do when merged into the weights. Zeros where a LoRA leaves a module
 * alone; no active LoRA is rank 1 of zeros, and x·0 + y is exactly y.
 */
import { LoraError } from '../errors.ts';
import { float32ToFloat16 } from '../util/float16.ts';
import { diffusersModuleOf } from './ldm-names.ts';
import type { LoraTarget } from './lora-graph.ts';
import type { LoraComponent, LoraModule, LoraWeights } from './lora-file.ts';

export type GraphTargets = ReadonlyMap<LoraComponent, readonly LoraTarget[]>;

export interface MatchedLora {
  readonly weights: LoraWeights;
  /** For each component, the module each target takes (targets it leaves alone are absent). */
  readonly byTarget: ReadonlyMap<LoraComponent, ReadonlyMap<string, LoraModule>>;
  /** Modules of the file that name nothing in the model (reported, not applied). */
  readonly unmatched: readonly string[];
}

/**
 * Which target each of the LoRA's modules applies to.
 * @throws LoraError ('no-match') when none of its modules names a target of the model;
 *   ('shape-mismatch') when a module's features differ from its target's (a LoRA for another
 *   base model), naming the keys
 */
export function matchLora(weights: LoraWeights, graphs: GraphTargets, source: string): MatchedLora {
  const byTarget = new Map<LoraComponent, Map<string, LoraModule>>();
  const unmatched: string[] = [];
  const mismatched: string[] = [];
  const indexes = new Map<LoraComponent, { dotted: Map<string, LoraTarget>; kohya: Map<string, LoraTarget> }>();
  for (const [component, targets] of graphs) {
    indexes.set(component, {
      dotted: new Map(targets.map((t) => [t.module, t])),
      kohya: new Map(targets.map((t) => [t.module.replaceAll('.', '_'), t])),
    });
  }
  for (const module of weights.modules) {
    const index = indexes.get(module.component);
    const target = module.kohya ? kohyaTarget(index?.kohya, module) : index?.dotted.get(module.module);
    if (target === undefined) {
      unmatched.push(module.key);
      continue;
    }
    if (target.inFeatures !== module.inFeatures || target.outFeatures !== module.outFeatures) {
      mismatched.push(
        `${module.key} (${module.inFeatures} → ${module.outFeatures}; the model's ${target.module} is ${target.inFeatures} → ${target.outFeatures})`,
      );
      continue;
    }
    let map = byTarget.get(module.component);
    if (map === undefined) byTarget.set(module.component, (map = new Map()));
    map.set(target.module, module);
  }
  if (mismatched.length > 0) {
    throw new LoraError(
      `${source} does not fit this model (a LoRA for another base model?): ${mismatched.slice(0, 5).join('; ')}${mismatched.length > 5 ? `; and ${mismatched.length - 5} more` : ''}`,
      {
        reason: 'shape-mismatch',
        source,
        keys: mismatched,
      },
    );
  }
  if (byTarget.size === 0) {
    const known = [...graphs]
      .map(
        ([component, targets]) =>
          `${component}: ${targets
            .slice(0, 3)
            .map((t) => t.module)
            .join(', ')}…`,
      )
      .join('; ');
    throw new LoraError(
      `${source}: none of its ${weights.modules.length} modules names a layer of this model (${unmatched.slice(0, 5).join(', ')}…); the model's layers are ${known}`,
      {
        reason: 'no-match',
        source,
        keys: unmatched,
      },
    );
  }
  return { weights, byTarget, unmatched };
}

/** A kohya module's target: by its name, or, for the UNet, by the diffusers name of an original-code block. */
function kohyaTarget(index: ReadonlyMap<string, LoraTarget> | undefined, module: LoraModule): LoraTarget | undefined {
  const direct = index?.get(module.module);
  if (direct !== undefined || module.component !== 'unet') return direct;
  const renamed = diffusersModuleOf(module.module);
  return renamed !== undefined ? index?.get(renamed) : undefined;
}

/** A branch input's values: float32, or half-precision bits for a float16 model. */
export interface FeedData {
  readonly dtype: 'float32' | 'float16';
  readonly data: Float32Array | Uint16Array;
  readonly dims: readonly [number, number];
}

/** The branch inputs of one component's graph for the LoRAs given, at their scales. */
export function branchFeeds(
  component: LoraComponent,
  targets: readonly LoraTarget[],
  loras: readonly { readonly lora: MatchedLora; readonly scale: number }[],
): Record<string, FeedData> {
  const active = loras.filter((l) => l.scale !== 0);
  const rank = Math.max(
    1,
    active.reduce((sum, l) => sum + l.lora.weights.rank, 0),
  );
  const feeds: Record<string, FeedData> = {};
  for (const target of targets) {
    const a = new Float32Array(target.inFeatures * rank);
    const b = new Float32Array(rank * target.outFeatures);
    let offset = 0;
    for (const { lora, scale } of active) {
      const module = lora.byTarget.get(component)?.get(target.module);
      if (module !== undefined) {
        const { rank: r, inFeatures, outFeatures, down, up } = module;
        const s = scale * module.scale;
        for (let i = 0; i < inFeatures; i++) for (let j = 0; j < r; j++) a[i * rank + offset + j] = down[j * inFeatures + i]!;
        for (let j = 0; j < r; j++) for (let o = 0; o < outFeatures; o++) b[(offset + j) * outFeatures + o] = up[o * r + j]! * s;
      }
      offset += lora.weights.rank;
    }
    const data = (values: Float32Array): Float32Array | Uint16Array => (target.dtype === 'float16' ? float32ToFloat16(values) : values);
    feeds[target.inputA] = { dtype: target.dtype, data: data(a), dims: [target.inFeatures, rank] };
    feeds[target.inputB] = { dtype: target.dtype, data: data(b), dims: [rank, target.outFeatures] };
  }
  return feeds;
}

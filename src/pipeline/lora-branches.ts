/**
 * A session's LoRA branch inputs, set from LoRAs at their scales: what loading a model (zeros:
 * the base model exactly) and every request with LoRAs (applyLoras in loras.ts) both need.
 */
import type { LoraComponent } from '../lora/lora-file.ts';
import { branchFeeds, type MatchedLora } from '../lora/lora-feeds.ts';
import type { LoraTarget } from '../lora/lora-graph.ts';
import { cpuTensor, type OrtSession, type Tensor } from '../ort/ort.ts';

/** A LoRA given to a request, matched to the model, at its scale. */
export interface ScaledLora {
  readonly lora: MatchedLora;
  readonly scale: number;
}

export function setBranchFeeds(session: OrtSession, component: LoraComponent, targets: readonly LoraTarget[], loras: readonly ScaledLora[]): void {
  const tensors: Record<string, Tensor> = {};
  for (const [name, feed] of Object.entries(branchFeeds(component, targets, loras))) {
    tensors[name] =
      feed.dtype === 'float16' ? cpuTensor('float16', feed.data as Uint16Array, feed.dims) : cpuTensor('float32', feed.data as Float32Array, feed.dims);
  }
  session.setFixedFeeds(tensors);
}

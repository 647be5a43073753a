/**
 * LoRAs on a loaded model: matched to the targets of its rewritten graphs, and fed to its
 * sessions as the branch inputs every run of a request gets. Switching LoRAs or their scales is
 * only this: new input tensors, no session re-created, nothing downloaded.
 */
import type { LoraComponent } from '../lora/lora-file.ts';
import { branchFeeds, type MatchedLora } from '../lora/lora-feeds.ts';
import type { LoraTarget } from '../lora/lora-graph.ts';
import { cpuTensor, type OrtSession, type Tensor } from '../ort/ort.ts';
import type { DiffusionModel } from './model.ts';

/** A LoRA given to a request, matched to the model, at its scale. */
export interface ScaledLora {
  readonly lora: MatchedLora;
  readonly scale: number;
}

/** Feeds the model's sessions the branch inputs for `loras` (none: zeros, the base model exactly). */
export function applyLoras(model: DiffusionModel, loras: readonly ScaledLora[]): void {
  for (const [component, { session, targets }] of model.lora ?? []) setBranchFeeds(session, component, targets, loras);
}

export function setBranchFeeds(session: OrtSession, component: LoraComponent, targets: readonly LoraTarget[], loras: readonly ScaledLora[]): void {
  const tensors: Record<string, Tensor> = {};
  for (const [name, feed] of Object.entries(branchFeeds(component, targets, loras))) {
    tensors[name] = feed.dtype === 'float16' ? cpuTensor('float16', feed.data as Uint16Array, feed.dims) : cpuTensor('float32', feed.data as Float32Array, feed.dims);
  }
  session.setFixedFeeds(tensors);
}

/**
 * LoRAs on a loaded model: matched to the targets of its rewritten graphs, and fed to its
 * sessions as the branch inputs every run of a request gets. Switching LoRAs or their scales is
 * only this: new input tensors, no session re-created, nothing downloaded.
 */
import { setBranchFeeds, type ScaledLora } from './lora-branches.ts';
import type { DiffusionModel } from './model.ts';

export type { ScaledLora } from './lora-branches.ts';

/** Feeds the model's sessions the branch inputs for `loras` (none: zeros, the base model exactly). */
export function applyLoras(model: DiffusionModel, loras: readonly ScaledLora[]): void {
  for (const [component, { session, targets }] of model.lora ?? []) setBranchFeeds(session, component, targets, loras);
}

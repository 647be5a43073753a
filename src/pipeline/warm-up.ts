/**
 * The warm-up a load ends with. The first `run()` of a WebGPU session compiles its shaders and
 * pipelines (for tiny-shapes on SwiftShader +6-8 s and +240 MiB in the GPU process), and our
 * kernels compile on their first dispatch; without a warm-up the first picture pays for all of
 * it. One one-step picture at the model's defaults runs each network a text-to-image request
 * uses once — the text encoder, the UNet at the batch and latent size of a default request
 * (what compiles is what the first picture needs), the VAE decoder — and every kernel of the GPU loop but the preview's.
 */
import type { DiffusionModel } from './model.ts';
import { resolveRequest } from './request.ts';
import { txt2img } from './txt2img.ts';

/**
 * @throws CancelledError when `signal` aborts
 * @throws what a generation throws, when the model cannot run at all
 */
export async function warmUp(model: DiffusionModel, signal?: AbortSignal): Promise<void> {
  await txt2img(model, resolveRequest({ prompt: '', seed: 0, steps: 1 }, model.info), signal !== undefined ? { signal } : {});
}

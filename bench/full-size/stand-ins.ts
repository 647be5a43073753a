/**
 * Builds full-size UNet stand-ins for the load benchmark (bench/load.ts) into out-full/
 * (ignored, never committed): random weights, real architecture and I/O (bench/full-size/sd_unet.py).
 *   sd-turbo       SD-Turbo's UNet (SD 2.1-base, 866 M parameters): fp32 (3.46 GB of external
 *                  data in two shards), then through our quantizer as q8 and q4
 *   sd-turbo-deep  the same with two transformer layers at 1280 channels (1.06 B parameters):
 *                  fp32 only, 4.23 GB of external data, more than a wasm32 heap can hold
 * A variant already built is kept unless `force`. PYTHON names the interpreter (default
 * /usr/bin/python3, Debian's, which has torch and onnx).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';
import { quantizeModel } from '../../scripts/quantize/model-folder.ts';

export const FULL_SIZE_ROOT = join(REPO_ROOT, 'out-full');

/** The stand-ins and their variants, each a folder `out-full/<name>-<variant>/unet/`. */
export const STAND_INS = {
  'sd-turbo': { depth1280: 1, variants: ['fp32', 'q8', 'q4'] },
  'sd-turbo-deep': { depth1280: 2, variants: ['fp32'] },
} as const;

export type StandInName = keyof typeof STAND_INS;

export const unetFolder = (name: StandInName, variant: string): string => join(FULL_SIZE_ROOT, `${name}-${variant}`, 'unet');

export async function buildStandIn(name: StandInName, force: boolean): Promise<void> {
  const { depth1280, variants } = STAND_INS[name];
  const fp32 = unetFolder(name, 'fp32');
  for (const variant of variants) {
    const folder = unetFolder(name, variant);
    if (existsSync(join(folder, 'model.onnx')) && !force) {
      console.log(`${name} ${variant}: kept ${folder}`);
      continue;
    }
    rmSync(folder, { recursive: true, force: true });
    const started = performance.now();
    if (variant === 'fp32') {
      const python = process.env.PYTHON ?? '/usr/bin/python3';
      const result = spawnSync(python, [join(REPO_ROOT, 'bench/full-size/sd_unet.py'), folder, '--depth-1280', String(depth1280)], { stdio: 'inherit' });
      if (result.status !== 0) throw new Error(`${python} bench/full-size/sd_unet.py failed (${result.error?.message ?? `exit ${result.status}`})`);
    } else {
      await quantizeModel(join(fp32, 'model.onnx'), folder, { mode: variant as 'q8' | 'q4', force: true });
    }
    console.log(`${name} ${variant}: built ${folder} in ${Math.round((performance.now() - started) / 1000)} s`);
  }
}

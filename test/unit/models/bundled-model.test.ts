/**
 * The bundled models (tiny-shapes, its distilled tiny-shapes-turbo, its quantized tiny-shapes-q8 and -q4) as shipped: every file the manifest lists is there with the listed
 * size and SHA-256 (a stale manifest after retraining fails here, not as a black picture in a
 * browser), and every file the pipeline needs is listed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tokenizerFiles } from '../../../src/models/text-spec.ts';
import { parseManifest } from '../../../src/models/manifest.ts';

for (const name of ['tiny-shapes', 'tiny-shapes-turbo', 'tiny-shapes-q8', 'tiny-shapes-q4', 'tiny-shapes-flow', 'tiny-shapes-lm']) {
  const root = new URL(`../../../models/${name}/`, import.meta.url);
  const raw = JSON.parse(readFileSync(new URL('manifest.json', root), 'utf8'));
  const manifest = parseManifest(raw, root.href + 'manifest.json');

describe(`bundled ${name} model`, () => {
  it.each(manifest.files.map((file) => [file.path, file] as const))('%s matches its size and SHA-256', (path, file) => {
    const url = new URL(path, root);
    expect(statSync(url).size).toBe(file.size);
    expect(createHash('sha256').update(readFileSync(url)).digest('hex')).toBe(file.sha256);
  });

  it('lists every file the pipeline loads', () => {
    const listed = new Set(manifest.files.map((file) => file.path));
    const needed = [
      ...tokenizerFiles(manifest.tokenizer),
      manifest.scheduler.config,
      ...Object.values(manifest.models).flatMap((model) => [model.file, ...(model.externalData ?? [])]),
    ];
    for (const path of needed) expect(listed, path).toContain(path);
  });

  it('stays under 20 MB of ONNX', () => {
    const files = Object.values(manifest.models).flatMap((model) => [model.file, ...(model.externalData ?? [])]);
    const bytes = files.reduce((sum, file) => sum + statSync(new URL(file, root)).size, 0);
    expect(bytes).toBeLessThan(20e6);
  });

  it('records the VAE scaling factor where diffusers does, equal to the manifest', () => {
    const config = JSON.parse(readFileSync(new URL('vae_decoder/config.json', root), 'utf8'));
    expect(config.scaling_factor).toBe(manifest.latent.scalingFactor);
  });
});
}

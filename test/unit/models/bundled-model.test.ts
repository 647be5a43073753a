/**
 * The bundled models (tiny-shapes, its distilled tiny-shapes-turbo, its quantized tiny-shapes-q8
 * and -q4, tiny-shapes-flow) as shipped: every file the descriptor lists is there with the listed
 * size and SHA-256 (a stale manifest.json after retraining fails here, not as a black picture in
 * a browser), and every file the pipeline needs is listed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getCatalogEntry, variantFiles } from '../../../src/models/catalog.ts';
import { layoutFromCatalog } from '../../../src/models/layout.ts';
import { parseDescriptor } from '../../../src/models/model-reference.ts';
import { tokenizerFiles } from '../../../src/models/text-spec.ts';

for (const name of ['tiny-shapes', 'tiny-shapes-turbo', 'tiny-shapes-q8', 'tiny-shapes-q4', 'tiny-shapes-flow', 'tiny-shapes-lm']) {
  const root = new URL(`../../../models/${name}/`, import.meta.url);
  const raw: unknown = JSON.parse(readFileSync(new URL('manifest.json', root), 'utf8'));
  const descriptor = parseDescriptor(raw, root.href + 'manifest.json');
  const [variant] = descriptor.variants;

  describe(`bundled ${name} model`, () => {
    it('is described in the current format, one variant, served beside its files', () => {
      expect((raw as { format: string }).format).toBe('webdiffusion-catalog/1');
      expect(descriptor.variants).toHaveLength(1);
      expect(descriptor.source).toEqual({ kind: 'url', baseUrl: root.href });
    });

    it.each(variant!.files.map((file) => [file.path, file] as const))('%s matches its size and SHA-256', (path, file) => {
      const url = new URL(path, root);
      expect(statSync(url).size).toBe(file.size);
      expect(createHash('sha256').update(readFileSync(url)).digest('hex')).toBe(file.sha256);
    });

    it('lists every file the pipeline loads, with its digest', () => {
      const files = variantFiles(descriptor, variant!);
      expect(files.filter((file) => file.sha256 === undefined || file.size === undefined).map((file) => file.path)).toEqual([]);
      const layout = layoutFromCatalog(descriptor, variant!);
      const listed = new Set(files.map((file) => file.path));
      const needed = [
        ...tokenizerFiles(layout.tokenizer),
        ...('file' in layout.scheduler ? [layout.scheduler.file] : []),
        ...Object.values(layout.components).flatMap((model) => [model.file, ...model.externalData]),
      ];
      for (const path of needed) expect(listed, path).toContain(path);
    });

    it('is the catalog entry of the same id, found at this folder', () => {
      const entry = getCatalogEntry(name);
      expect(entry.source).toEqual({ kind: 'bundled', manifest: `models/${name}/manifest.json`, baseUrl: `models/${name}/` });
      expect(entry.variants).toEqual(descriptor.variants);
    });

    it('stays under 20 MB of ONNX', () => {
      const files = Object.values(variant!.models).flatMap((model) => [model.file, ...(model.externalData ?? [])]);
      const bytes = files.reduce((sum, file) => sum + statSync(new URL(file, root)).size, 0);
      expect(bytes).toBeLessThan(20e6);
      expect(variant!.memory.weightsBytes).toBe(bytes);
    });

    it('records the VAE scaling factor where diffusers does, equal to the descriptor', () => {
      const config = JSON.parse(readFileSync(new URL('vae_decoder/config.json', root), 'utf8'));
      expect(config.scaling_factor).toBe(descriptor.latent.scalingFactor);
    });
  });
}

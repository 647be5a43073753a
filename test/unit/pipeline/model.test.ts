/**
 * Which files of a model are its external data, and the names ONNX Runtime is given for them
 * (the .onnx file names its external data relative to its own folder).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../../src/models/manifest.ts';
import { externalDataOf } from '../../../src/models/layout.ts';
import { relativeTo } from '../../../src/pipeline/model.ts';

const bundled = parseManifest(JSON.parse(readFileSync(new URL('../../../models/tiny-shapes/manifest.json', import.meta.url), 'utf8')), 'tiny-shapes');

describe('externalDataOf', () => {
  it('is empty for a model whose weights are inside its .onnx', () => {
    expect(externalDataOf(bundled, bundled.models.unet!)).toEqual([]);
  });

  it('finds a listed "<file>_data" without being told', () => {
    const manifest: Manifest = { ...bundled, files: [...bundled.files, { path: 'unet/model.onnx_data', size: 3_000_000_000, sha256: 'a'.repeat(64) }] };
    expect(externalDataOf(manifest, manifest.models.unet!)).toEqual(['unet/model.onnx_data']);
    expect(externalDataOf(manifest, manifest.models.vae_decoder)).toEqual([]);
  });

  it('takes the files the manifest names over the convention', () => {
    const unet = { file: 'unet/model.onnx', externalData: ['weights/unet-1.bin', 'weights/unet-2.bin'] };
    expect(externalDataOf({ ...bundled, models: { ...bundled.models, unet } }, unet)).toEqual(['weights/unet-1.bin', 'weights/unet-2.bin']);
  });
});

describe('relativeTo', () => {
  it.each([
    ['unet/model.onnx', 'unet/model.onnx_data', 'model.onnx_data'],
    ['model.onnx', 'model.onnx_data', 'model.onnx_data'],
    ['unet/model.onnx', 'weights/unet.bin', '../weights/unet.bin'],
    ['a/b/model.onnx', 'a/c/w.bin', '../c/w.bin'],
    ['model.onnx', 'weights/w.bin', 'weights/w.bin'],
  ])("names %s's %s as %s", (modelFile, path, expected) => {
    expect(relativeTo(modelFile, path)).toBe(expected);
  });
});

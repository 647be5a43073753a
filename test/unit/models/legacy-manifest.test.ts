/**
 * The first manifest format, read for compatibility: a "webdiffusion-manifest/1" document (what
 * tiny-shapes shipped before descriptors) becomes the catalog entry that describes the same model.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/errors.ts';
import { layoutFromCatalog } from '../../../src/models/layout.ts';
import { migrateManifest } from '../../../src/models/manifest.ts';
import { parseDescriptor } from '../../../src/models/model-reference.ts';

const read = (path: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const legacy = read('./fixtures/tiny-shapes-manifest-v1.json');
const legacyFlow = read('./fixtures/tiny-shapes-flow-manifest-v1.json');
const URL_OF = 'https://example.test/models/tiny-shapes/manifest.json';

describe('migrateManifest', () => {
  it("describes the same model as today's descriptor: same files and digests, same layout", () => {
    const migrated = migrateManifest(legacy, URL_OF);
    const current = parseDescriptor(read('../../../models/tiny-shapes/manifest.json'), URL_OF);
    expect(migrated.source).toEqual({ kind: 'url', baseUrl: 'https://example.test/models/tiny-shapes/' });
    expect(migrated.variants).toHaveLength(1);
    const byPath = (files: readonly { path: string }[]) => [...files].sort((a, b) => a.path.localeCompare(b.path));
    expect(byPath(migrated.variants[0]!.files)).toEqual(byPath(current.variants[0]!.files));
    expect(layoutFromCatalog(migrated, migrated.variants[0]!)).toEqual(layoutFromCatalog(current, current.variants[0]!));
  });

  it("carries the networks' documented inputs and outputs over, unverified", () => {
    const unet = migrateManifest(legacy, URL_OF).variants[0]!.models.unet!;
    expect(unet.verified).toBe(false);
    expect(unet.inputs.map((tensor) => tensor.name)).toEqual(['sample', 'timestep', 'encoder_hidden_states']);
    expect(unet.inputs.every((tensor) => !tensor.verified)).toBe(true);
  });

  it("estimates device fitting's memory from the files: weights are the networks' bytes", () => {
    const migrated = migrateManifest(legacy, URL_OF);
    const files = (legacy.files as { path: string; size: number }[]).filter((file) => file.path.endsWith('.onnx'));
    expect(migrated.variants[0]!.memory.weightsBytes).toBe(files.reduce((sum, file) => sum + file.size, 0));
    expect(migrated.variants[0]!.memory.largestBindingBytes).toBe(Math.max(...files.map((file) => file.size)));
  });

  it('takes the precision a quantized manifest declares as its variant', () => {
    const variant = migrateManifest({ ...legacy, precision: 'q4' }, URL_OF).variants[0]!;
    expect([variant.id, variant.precision]).toEqual(['q4', 'q4']);
    expect(() => migrateManifest({ ...legacy, precision: 'int3' }, URL_OF)).toThrow(/"precision" must be one of fp32, fp16, q8, q4, q4f16, got "int3"/);
  });

  it("keeps a transformer denoiser's description and network", () => {
    const flow = migrateManifest(legacyFlow, URL_OF);
    expect(flow.denoiser).toMatchObject({ kind: 'transformer', prediction: 'flow', packing: 'patches' });
    expect(flow.variants[0]!.models.transformer?.file).toBe('transformer/model.onnx');
    expect(flow.variants[0]!.models.unet).toBeUndefined();
  });

  it('finds a listed "<file>_data" as external data without being told, and takes the files a network names over that', () => {
    const files = [...(legacy.files as object[]), { path: 'unet/model.onnx_data', size: 3_000_000_000, sha256: 'a'.repeat(64) }];
    const conventional = migrateManifest({ ...legacy, files }, URL_OF).variants[0]!.models;
    expect(conventional.unet!.externalData).toEqual(['unet/model.onnx_data']);
    expect(conventional.vae_decoder.externalData).toEqual([]);
    const unet = { file: 'unet/model.onnx', externalData: ['unet/model.onnx_data'] };
    const named = { ...legacy, files, models: { ...(legacy.models as object), unet } };
    expect(migrateManifest(named, URL_OF).variants[0]!.models.unet!.externalData).toEqual(['unet/model.onnx_data']);
  });

  it.each([
    ['resolution', { resolution: { width: 64 } }, /"resolution.height" must be a positive integer, got nothing/],
    ['scaling factor', { latent: { channels: 4, downsample: 8, scalingFactor: 0 } }, /"latent.scalingFactor" must be a positive number, got 0/],
    ['default scheduler', { defaults: { steps: 20, guidance: 4, scheduler: 'plms' } }, /"defaults.scheduler" must be a known scheduler name/],
    ['model file', { models: { ...(legacy.models as object), unet: {} } }, /"models.unet.file" must be a non-empty string/],
    ['digest', { files: [{ path: 'a', size: 1, sha256: 'XYZ' }] }, /"files\[0\].sha256" must be 64 lower-case hex digits/],
  ])('refuses a bad %s with ManifestError naming the field', (_, change, message) => {
    const attempt = () => migrateManifest({ ...legacy, ...change }, URL_OF);
    expect(attempt).toThrow(ManifestError);
    expect(attempt).toThrow(message);
  });
});

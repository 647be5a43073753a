/**
 * The model catalog: the shipped data passes its own validation, bad data names the entry and
 * field (bundled-model.test.ts checks the bundled models' own descriptors).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, UnknownModelError } from '../../../src/errors.ts';
import {
  computesInFloat32,
  CATALOG,
  getCatalogEntry,
  parseCatalog,
  parseCatalogEntry,
} from '../../../src/models/catalog.ts';

const rawCatalog = JSON.parse(readFileSync(new URL('../../../src/models/catalog.json', import.meta.url), 'utf8'));

/** A deep copy of the shipped entry `id` with `edit` applied, for breaking one field at a time. */
function brokenEntry(id: string, edit: (entry: Record<string, any>) => void): unknown {
  const entry = structuredClone(rawCatalog.models.find((m: { id: string }) => m.id === id));
  edit(entry);
  return entry;
}

describe('the shipped catalog', () => {
  it('has the models people run in browsers, and the bundled tiny-shapes models', () => {
    expect(CATALOG.map((e) => e.id)).toEqual([
      'sd-turbo-fp16',
      'sd-turbo-webnn',
      'sd-1.5-webnn',
      'sdxl-turbo-q4f16',
      'lcm-dreamshaper-v7',
      'z-image-turbo-q4f16',
      'flux2-klein-4b-q4',
      'tiny-shapes',
      'tiny-shapes-turbo',
      'tiny-shapes-flow',
      'tiny-shapes-q8',
      'tiny-shapes-q4',
      'tiny-shapes-lm',
    ]);
  });

  it.each(CATALOG.map((e) => [e.id, e] as const))('%s has every required field', (_id, entry) => {
    expect(entry.name).not.toBe('');
    expect(entry.resolutions.length).toBeGreaterThan(0);
    const tokenizer = entry.tokenizer;
    if (tokenizer.format === 'clip') {
      expect(tokenizer.vocab).toMatch(/vocab\.json$/);
      expect(tokenizer.merges).toMatch(/merges\.txt$/);
    } else {
      expect(tokenizer.file).toMatch(/tokenizer\.json$/);
    }
    expect(entry.defaults.steps).toBeGreaterThan(0);
    for (const variant of entry.variants) {
      for (const component of [variant.models.text_encoder, variant.models.unet ?? variant.models.transformer!, variant.models.vae_decoder]) {
        expect(component.inputs.length).toBeGreaterThan(0);
        expect(component.outputs.length).toBeGreaterThan(0);
        expect(component.evidence).not.toBe('');
      }
      // float16 activations need the feature; q8 and q4 compute in float32 like fp32.
      if (!computesInFloat32(variant.precision)) expect(variant.requiredFeatures).toContain('shader-f16');
      else expect(variant.requiredFeatures).not.toContain('shader-f16');
      expect(variant.memory.method).not.toBe('');
      // Where every weight file's size is known, the estimate is their sum (to the data's precision).
      const weights = variant.files.filter((f) => /\.onnx(_data(_\d+)?)?$/.test(f.path));
      const sizes = weights.map((f) => f.size ?? f.approxBytes);
      if (sizes.every((s) => s !== undefined)) {
        const sum = sizes.reduce((a: number, b) => a + (b as number), 0);
        expect(Math.abs(variant.memory.weightsBytes - sum) / sum).toBeLessThan(0.01);
      }
    }
    if (entry.source.kind === 'huggingface') {
      expect(entry.source.revision).toBe('main');
      expect(entry.source.baseUrl).toBe(`https://huggingface.co/${entry.source.repo}/resolve/main/`);
    }
  });

  it('gives SD-Turbo one step, no guidance, timestep 999', () => {
    for (const id of ['sd-turbo-fp16', 'sd-turbo-webnn']) {
      expect(getCatalogEntry(id).defaults).toMatchObject({ steps: 1, guidance: 0, timestep: 999 });
    }
  });

  it('marks LCM Dreamshaper weights as external data', () => {
    const unet = getCatalogEntry('lcm-dreamshaper-v7').variants[0]!.models.unet!;
    expect(unet.externalData).toEqual(['unet/model.onnx_data']);
  });

  it('carries "verified: false" down to each tensor of an unverified component', () => {
    const unet = getCatalogEntry('sdxl-turbo-q4f16').variants[0]!.models.unet!;
    expect(unet.verified).toBe(false);
    expect(unet.inputs.every((t) => !t.verified)).toBe(true);
  });
});

describe('catalog download sizes (what the model picker shows before a download)', () => {
  const fileBytes = (file: { size?: number; approxBytes?: number }): number | undefined => file.size ?? file.approxBytes;
  const variants = CATALOG.flatMap((entry) => entry.variants.map((variant) => ({ entry, variant })));

  it('gives every file of every variant a size, exact or as published', () => {
    const unsized = variants.flatMap(({ entry, variant }) =>
      variant.files.filter((file) => fileBytes(file) === undefined).map((file) => `${entry.id}@${variant.id}: ${file.path}`),
    );
    expect(unsized).toEqual([]);
  });

  it('makes every real model more than 10 MB, its files adding up to the published weights', () => {
    for (const { entry, variant } of variants.filter(({ entry }) => entry.source.kind !== 'bundled')) {
      const total = variant.files.reduce((sum, file) => sum + fileBytes(file)!, 0);
      expect(total, `${entry.id}@${variant.id}`).toBeGreaterThan(10e6);
      // Where only the set's size is published, the per-file split must not change the total.
      expect(Math.abs(total - variant.memory.weightsBytes) / variant.memory.weightsBytes, `${entry.id}@${variant.id}`).toBeLessThan(0.01);
    }
  });
});

describe('bad catalog data', () => {
  const cases: [string, (e: Record<string, any>) => void, string][] = [
    ['a missing name', (e) => delete e.name, 'name'],
    ['a resolution of 0', (e) => (e.resolutions[0].width = 0), 'resolutions[0].width'],
    ['an unknown dtype', (e) => (e.variants[0].models.unet.inputs[1].dtype = 'float64'), 'variants[0].models.unet.inputs[1].dtype'],
    ['a missing UNet', (e) => delete e.variants[0].models.unet, 'variants[0].models.unet'],
    ['a model file not in the file list', (e) => (e.variants[0].models.unet.file = 'unet/other.onnx'), 'variants[0].models.unet'],
    ['an unknown precision', (e) => (e.variants[0].precision = 'int8'), 'variants[0].precision'],
    ['a base URL that disagrees with the repo', (e) => (e.source.baseUrl = 'https://example.com/x/'), 'source.baseUrl'],
    ['both size and approxBytes', (e) => (e.variants[0].files[0].size = 1), 'variants[0].files[0]'],
    ['a negative guidance', (e) => (e.defaults.guidance = -1), 'defaults.guidance'],
    ['no memory estimate', (e) => delete e.variants[0].memory, 'variants[0].memory'],
  ];

  it.each(cases)('%s → ManifestError naming the entry and field', (_what, edit, field) => {
    const bad = brokenEntry('sd-turbo-fp16', edit);
    let error: unknown;
    try {
      parseCatalogEntry(bad, 'test');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).details).toMatchObject({ field, entry: '"sd-turbo-fp16"' });
    expect((error as ManifestError).message).toContain(`"${field}"`);
    expect((error as ManifestError).message).toContain('sd-turbo-fp16');
  });

  it('rejects a catalog with a duplicate id or the wrong format', () => {
    const turbo = rawCatalog.models.find((m: { id: string }) => m.id === 'sd-turbo-fp16');
    const twice = { ...rawCatalog, models: [turbo, turbo] };
    expect(() => parseCatalog(twice, 'test')).toThrow(/"sd-turbo-fp16" appears twice/);
    expect(() => parseCatalog({ ...rawCatalog, format: 'other/1' }, 'test')).toThrow(ManifestError);
  });
});

describe('getCatalogEntry', () => {
  it('finds an entry by id', () => {
    expect(getCatalogEntry('tiny-shapes').name).toBe('tiny-shapes');
  });

  it('throws UnknownModelError listing the known ids', () => {
    expect(() => getCatalogEntry('sd-42')).toThrow(UnknownModelError);
    expect(() => getCatalogEntry('sd-42')).toThrow(/tiny-shapes/);
    try {
      getCatalogEntry('sd-42');
    } catch (e) {
      expect((e as UnknownModelError).details?.known).toEqual(CATALOG.map((entry) => entry.id));
    }
  });
});

describe('a model described next to its files', () => {
  const mine = brokenEntry('sd-turbo-fp16', (e) => {
    e.id = 'my-turbo';
    delete e.source;
  });

  it('needs no source when its base is known: its files resolve against the folder it was fetched from', () => {
    const entry = parseCatalogEntry(mine, { where: 'https://example.com/models/mine/manifest.json', baseUrl: 'https://example.com/models/mine/manifest.json' });
    expect(entry.source).toEqual({ kind: 'url', baseUrl: 'https://example.com/models/mine/' });
  });

  it('must name a source otherwise', () => {
    expect(() => parseCatalogEntry(mine, 'test')).toThrow(/"source" must be an object/);
  });

  it('may carry each file\'s digest, which must be SHA-256 in hex', () => {
    const digest = 'ab'.repeat(32);
    const withDigest = brokenEntry('sd-turbo-fp16', (e) => (e.variants[0].files[0].sha256 = digest));
    expect(parseCatalogEntry(withDigest, 'test').variants[0]!.files[0]!.sha256).toBe(digest);
    const bad = brokenEntry('sd-turbo-fp16', (e) => (e.variants[0].files[0].sha256 = 'AB'));
    expect(() => parseCatalogEntry(bad, 'test')).toThrow(/"variants\[0\].files\[0\].sha256" must be 64 lower-case hex digits/);
  });
});

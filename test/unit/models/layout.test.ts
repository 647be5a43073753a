/**
 * What loading a catalog model fetches and how its files are laid out: the variant's files, the
 * tokenizer's, and the scheduler configuration from the catalog or from the model itself.
 */
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/errors.ts';
import { getCatalogEntry, SCHEDULER_CONFIG_FILE } from '../../../src/models/catalog.ts';
import { catalogFileList, layoutFromCatalog } from '../../../src/models/layout.ts';

describe('catalogFileList', () => {
  it("lists the variant's files and the tokenizer's, with sizes only where the catalog knows them exactly", () => {
    const entry = getCatalogEntry('sd-turbo-fp16');
    const list = catalogFileList(entry, entry.variants[0]!);
    expect(list.id).toBe('sd-turbo-fp16@fp16');
    expect(list.baseUrl).toBe('https://huggingface.co/schmuell/sd-turbo-ort-web/resolve/main/');
    expect(list.files.map((f) => f.path)).toEqual(['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt']);
    // Sizes the catalog gives only approximately come from the host; digests always do.
    expect(list.files.every((f) => f.size === undefined && f.sha256 === undefined)).toBe(true);
  });

  it("fetches the model's own scheduler configuration when the entry carries none", () => {
    const entry = getCatalogEntry('sd-turbo-fp16');
    const { scheduler: _, ...withoutScheduler } = entry;
    expect(catalogFileList(withoutScheduler, entry.variants[0]!).files.map((f) => f.path)).toContain(SCHEDULER_CONFIG_FILE);
    expect(layoutFromCatalog(withoutScheduler, entry.variants[0]!).scheduler).toEqual({ file: SCHEDULER_CONFIG_FILE });
    expect(layoutFromCatalog(entry, entry.variants[0]!).scheduler).toEqual({ config: (entry.scheduler as { config: unknown }).config });
  });

  it("keeps external data with its network, and SDXL's second text encoder", () => {
    const lcm = getCatalogEntry('lcm-dreamshaper-v7');
    const sdxl = getCatalogEntry('sdxl-turbo-q4f16');
    expect(layoutFromCatalog({ ...lcm, defaults: { ...lcm.defaults, scheduler: 'ddim' } }, lcm.variants[0]!).components.unet).toEqual({
      file: 'unet/model.onnx',
      externalData: ['unet/model.onnx_data'],
    });
    expect(layoutFromCatalog(sdxl, sdxl.variants[0]!).components.text_encoder_2).toEqual({ file: 'text_encoder_2/model.onnx', externalData: [] });
  });

  it('refuses an entry whose default scheduler the runtime does not have', () => {
    const entry = getCatalogEntry('sd-turbo-fp16');
    expect(() => layoutFromCatalog({ ...entry, defaults: { ...entry.defaults, scheduler: 'unipc' } }, entry.variants[0]!)).toThrow(ManifestError);
  });
});

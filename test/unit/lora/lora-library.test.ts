/**
 * Where LoRA references lead: a Hugging Face file, a registered name, a LoRA manifest (read once,
 * its digest passed to the store), a dropped file read as it is; the store is a stand-in that
 * records what it was asked for.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoraLibrary, loraNameOf } from '../../../src/lora/lora-library.ts';
import type { FileListSource, StoredModel, WeightStore } from '../../../src/storage/weight-store.ts';

const PINK = readFileSync('models/tiny-shapes-lora-pink/lora.safetensors');
const MANIFEST = JSON.parse(readFileSync('models/tiny-shapes-lora-pink/manifest.json', 'utf8')) as { sha256: string; size: number };

function fakeStore(): { store: WeightStore; asked: FileListSource[] } {
  const asked: FileListSource[] = [];
  const store = {
    async ensureModel(source: FileListSource): Promise<StoredModel> {
      asked.push(source);
      const file = source.files[0]!;
      return {
        id: source.id,
        key: source.id,
        descriptor: null,
        variant: null,
        files: [{ path: file.path, size: PINK.length, sha256: file.sha256 ?? 'f'.repeat(64) }],
        downloadedBytes: 0,
        offline: false,
      };
    },
    async bytes(): Promise<Uint8Array<ArrayBuffer>> {
      return new Uint8Array(PINK);
    },
  } as unknown as WeightStore;
  return { store, asked };
}

afterEach(() => vi.unstubAllGlobals());

describe('LoraLibrary', () => {
  it('resolves a Hugging Face file to its resolve/ URL, stored as lora:<url>', async () => {
    const { store, asked } = fakeStore();
    const lora = await new LoraLibrary(store).load('owner/repo@v2/loras/pink style.safetensors');
    expect(asked[0]).toMatchObject({
      id: 'lora:https://huggingface.co/owner/repo/resolve/v2/loras/pink%20style.safetensors',
      baseUrl: 'https://huggingface.co/owner/repo/resolve/v2/loras/',
      files: [{ path: 'pink style.safetensors' }],
    });
    expect(lora).toMatchObject({ name: 'pink style', weights: { layout: 'peft', rank: 8 } });
  });

  it('reads a LoRA manifest once and gives the store its digest; a registered name leads to it', async () => {
    const { store, asked } = fakeStore();
    const fetched = vi.fn(
      async () =>
        new Response(JSON.stringify({ format: 'webdiffusion-lora/1', file: 'lora.safetensors', size: MANIFEST.size, sha256: MANIFEST.sha256, name: 'pink' })),
    );
    vi.stubGlobal('fetch', fetched);
    const library = new LoraLibrary(store);
    library.register('my-pink', 'https://host/loras/pink/manifest.json');
    const first = await library.load('my-pink');
    await library.load('https://host/loras/pink/manifest.json');
    expect(fetched).toHaveBeenCalledTimes(1);
    expect(asked[1]).toMatchObject({
      id: 'lora:https://host/loras/pink/lora.safetensors',
      files: [{ path: 'lora.safetensors', sha256: MANIFEST.sha256, size: MANIFEST.size }],
    });
    // The user's name for it wins over the manifest's (it is what the PNG parameters will say).
    expect(first).toMatchObject({ name: 'my-pink', sha256: MANIFEST.sha256 });
  });

  it('reads a dropped file as it is, without the store', async () => {
    const { store, asked } = fakeStore();
    const lora = await new LoraLibrary(store).load({ url: 'pink.safetensors', data: new Blob([PINK]), name: 'pink.safetensors' });
    expect(asked).toHaveLength(0);
    expect(lora).toMatchObject({ name: 'pink', sha256: MANIFEST.sha256, key: `lora-file:${MANIFEST.sha256}` });
  });

  it('names a LoRA by its folder when the file has a generic name', () => {
    expect(loraNameOf('/models/tiny-shapes-lora-pink/lora.safetensors')).toBe('tiny-shapes-lora-pink');
    expect(loraNameOf('/x/detail-tweaker.safetensors')).toBe('detail-tweaker');
  });
});

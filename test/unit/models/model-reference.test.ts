/**
 * Model references and descriptors, read in one place: what `loadModel`, the element's `model`
 * attribute and the CLI take, and what each resolves to.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, UnknownModelError } from '../../../src/errors.ts';
import { CATALOG } from '../../../src/models/catalog.ts';
import { parseDescriptor, resolveReference } from '../../../src/models/model-reference.ts';
import { absoluteReference, huggingFaceBaseUrl, parseReference } from '../../../src/models/reference-text.ts';

const APP = 'https://app.example/studio/';

describe('parseReference', () => {
  it('reads a word as a catalog id, "owner/name" as a Hugging Face repo, the rest as a URL', () => {
    expect(parseReference('sd-1.5-webnn')).toEqual({ kind: 'id', id: 'sd-1.5-webnn' });
    expect(parseReference(' tiny-shapes ')).toEqual({ kind: 'id', id: 'tiny-shapes' });
    expect(parseReference('me/my-model@v2')).toEqual({ kind: 'hub', repo: 'me/my-model', revision: 'v2' });
    expect(parseReference('./models/mine/', APP)).toEqual({ kind: 'url', url: 'https://app.example/studio/models/mine/' });
    expect(parseReference('manifest.json', APP)).toEqual({ kind: 'url', url: 'https://app.example/studio/manifest.json' });
  });

  it('refuses an empty reference and a URL that is not http(s), with UnknownModelError', () => {
    expect(() => parseReference('  ')).toThrow(UnknownModelError);
    expect(() => parseReference('file:///etc/models/')).toThrow(/http or https/);
    expect(() => parseReference('/models/x/')).toThrow(UnknownModelError);
  });

  it('keeps ids and repo ids as they are and makes URLs absolute (what the client sends its worker)', () => {
    expect(absoluteReference('tiny-shapes', APP)).toBe('tiny-shapes');
    expect(absoluteReference('me/my-model', APP)).toBe('me/my-model');
    expect(absoluteReference('/models/tiny-shapes/manifest.json', APP)).toBe('https://app.example/models/tiny-shapes/manifest.json');
  });
});

describe('resolveReference', () => {
  it('gives a real catalog model its entry, to fit before anything is fetched', () => {
    const resolved = resolveReference('sd-turbo-fp16', APP);
    expect(resolved.kind).toBe('entry');
    expect(resolved.kind === 'entry' && resolved.entry).toBe(CATALOG.find((entry) => entry.id === 'sd-turbo-fp16'));
  });

  it("sends a bundled model to its manifest.json under the app's base", () => {
    expect(resolveReference('tiny-shapes', APP)).toEqual({ kind: 'descriptor', url: 'https://app.example/studio/models/tiny-shapes/manifest.json' });
  });

  it('sends a repo id, a folder URL (with or without its slash) or a manifest URL to the manifest.json', () => {
    const url = 'https://example.com/models/mine/manifest.json';
    expect(resolveReference('me/my-model')).toEqual({ kind: 'descriptor', url: `${huggingFaceBaseUrl('me/my-model')}manifest.json` });
    expect(resolveReference('https://example.com/models/mine/')).toEqual({ kind: 'descriptor', url });
    expect(resolveReference('https://example.com/models/mine')).toEqual({ kind: 'descriptor', url });
    expect(resolveReference(url)).toEqual({ kind: 'descriptor', url });
  });

  it('refuses an unknown id with UnknownModelError listing the catalog', () => {
    let error: unknown;
    try {
      resolveReference('sd-42', APP);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownModelError);
    expect((error as UnknownModelError).details?.known).toEqual(CATALOG.map((entry) => entry.id));
    expect((error as Error).message).toMatch(/Unknown model "sd-42"; the catalog has sd-turbo-fp16, .*tiny-shapes/);
  });
});

describe('parseDescriptor', () => {
  const url = 'https://example.com/models/tiny-shapes/manifest.json';
  const current = JSON.parse(readFileSync(new URL('../../../models/tiny-shapes/manifest.json', import.meta.url), 'utf8'));
  const legacy = JSON.parse(readFileSync(new URL('./fixtures/tiny-shapes-manifest-v1.json', import.meta.url), 'utf8'));

  it('reads the current format and the old one to the same model', () => {
    const a = parseDescriptor(current, url);
    const b = parseDescriptor(legacy, url);
    expect(b.id).toBe(a.id);
    expect(new Set(b.variants[0]!.files.map((file) => file.sha256))).toEqual(new Set(a.variants[0]!.files.map((file) => file.sha256)));
  });

  it('takes a catalog entry without a format field (what user models served before)', () => {
    const { format: _, ...entry } = current;
    expect(parseDescriptor(entry, url).id).toBe('tiny-shapes');
  });

  it('refuses another format with a ManifestError on "format"', () => {
    for (const format of ['webdiffusion-manifest/2', 'webdiffusion-catalog/9', undefined]) {
      let error: unknown;
      try {
        parseDescriptor(format === undefined ? { id: 'x' } : { ...current, format }, url);
      } catch (e) {
        error = e;
      }
      expect(error, String(format)).toBeInstanceOf(ManifestError);
      expect((error as ManifestError).details?.field, String(format)).toBe('format');
    }
  });
});

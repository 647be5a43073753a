/**
 * Parameters text as the desktop UIs write and read it: ours must round-trip, and theirs must
 * restore what we share with them.
 */
import { describe, expect, it } from 'vitest';
import type { RequestAsRun } from '../../../src/api.ts';
import { InvalidRequestError } from '../../../src/errors.ts';
import { formatParameters, parseParameters, samplerLabel, schedulerForLabel } from '../../../src/image/generation-parameters.ts';

const REQUEST: RequestAsRun = {
  prompt: 'a red circle on a blue background',
  negativePrompt: 'green',
  seed: 1,
  steps: 20,
  guidance: 2,
  scheduler: 'ddim',
  width: 64,
  height: 64,
};

describe('generation parameters text', () => {
  it('writes the three-part form the desktop UIs write', () => {
    expect(formatParameters(REQUEST, 'tiny-shapes')).toBe(
      'a red circle on a blue background\nNegative prompt: green\nSteps: 20, Sampler: DDIM, CFG scale: 2, Seed: 1, Size: 64x64, Model: tiny-shapes',
    );
    // No negative prompt, no "Negative prompt:" line.
    expect(formatParameters({ ...REQUEST, negativePrompt: '' }, 'tiny-shapes').split('\n')).toHaveLength(2);
  });

  it.each([
    ['plain', REQUEST, 'tiny-shapes'],
    ['euler, fractional guidance, large seed', { ...REQUEST, scheduler: 'euler', guidance: 7.5, seed: 4294967295 }, 'tiny-shapes'],
    ['no negative prompt', { ...REQUEST, negativePrompt: '' }, 'tiny-shapes'],
    [
      'commas, colons and line breaks everywhere',
      { ...REQUEST, prompt: 'a red circle, big\nSteps: 3, on blue: yes', negativePrompt: 'green, tiny\nsecond line' },
      'org/model: v2, "beta"',
    ],
  ] as const)('round-trips a request (%s)', (_, request, modelId) => {
    const parsed = parseParameters(formatParameters(request, modelId));
    const { negativePrompt, ...rest } = request;
    expect(parsed.request).toEqual({ ...rest, ...(negativePrompt !== '' ? { negativePrompt } : {}) });
    expect(parsed.modelId).toBe(modelId);
    expect(parsed.extra).toEqual({});
  });

  it('reads a text written by a desktop UI, keeping the keys it does not know aside', () => {
    const text = [
      'masterpiece, a lighthouse on a cliff at dusk,',
      'dramatic sky',
      'Negative prompt: blurry, lowres,',
      'watermark',
      'Steps: 28, Sampler: Euler, Schedule type: Automatic, CFG scale: 6.5, Seed: 3052717436, Size: 512x768, ' +
        'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "detail: 7c6bad76eb54, light: 1f0d2a", Version: v1.10.1',
    ].join('\n');
    const parsed = parseParameters(text);
    expect(parsed.request).toEqual({
      prompt: 'masterpiece, a lighthouse on a cliff at dusk,\ndramatic sky',
      negativePrompt: 'blurry, lowres,\nwatermark',
      steps: 28,
      scheduler: 'euler',
      guidance: 6.5,
      seed: 3052717436,
      width: 512,
      height: 768,
    });
    expect(parsed.modelId).toBe('v1-5-pruned-emaonly');
    expect(parsed.extra).toEqual({
      'Schedule type': 'Automatic',
      'Model hash': '6ce0161689',
      'Lora hashes': 'detail: 7c6bad76eb54, light: 1f0d2a',
      Version: 'v1.10.1',
    });
  });

  it('writes LoRAs as the desktop UIs do, <lora:name:scale> and Lora hashes, and reads them back out of the prompt', () => {
    const sha = 'a007610646348180628687c97a16abf6115349d70b59ce8326f2705ac0eb5389';
    const request = {
      prompt: 'a pink circle on a blue background',
      negativePrompt: '',
      seed: 1,
      steps: 20,
      guidance: 2,
      scheduler: 'ddim',
      width: 64,
      height: 64,
    } as const;
    const text = formatParameters(
      {
        ...request,
        loras: [
          { model: '/pink.json', name: 'pink', scale: 0.8, sha256: sha },
          { model: 'cyan', name: 'cyan', scale: 1, sha256: sha },
        ],
      },
      'tiny-shapes',
    );
    expect(text.split('\n')[0]).toBe('a pink circle on a blue background <lora:pink:0.8> <lora:cyan:1>');
    expect(text).toContain('Lora hashes: "pink: a00761064634, cyan: a00761064634"');
    const parsed = parseParameters(text);
    expect(parsed.request.prompt).toBe('a pink circle on a blue background');
    expect(parsed.loras).toEqual([
      { name: 'pink', scale: 0.8, hash: 'a00761064634' },
      { name: 'cyan', scale: 1, hash: 'a00761064634' },
    ]);
  });

  it('leaves a sampler we do not have out of the request, and keeps it in extra', () => {
    const parsed = parseParameters('a cat\nSteps: 30, Sampler: Heun, CFG scale: 7, Seed: 5, Size: 512x512');
    expect(parsed.request.scheduler).toBeUndefined();
    expect(parsed.extra).toEqual({ Sampler: 'Heun' });
    expect(parsed.request.steps).toBe(30);
  });

  it('takes a text without a parameters line as all prompt', () => {
    expect(parseParameters('a red circle\non: blue')).toEqual({ request: { prompt: 'a red circle\non: blue' }, extra: {} });
  });

  it('refuses a number that is not one, naming the key', () => {
    expect(() => parseParameters('x\nSteps: many, Sampler: DDIM, CFG scale: 2, Seed: 1')).toThrow(InvalidRequestError);
    expect(() => parseParameters('x\nSteps: 20, Sampler: DDIM, CFG scale: 2, Seed: 1, Size: big')).toThrow(/Size/);
  });

  it('maps every scheduler name to the desktop UIs’ sampler label and back', () => {
    const labels = {
      ddim: 'DDIM',
      euler: 'Euler',
      euler_a: 'Euler a',
      dpmpp_2m: 'DPM++ 2M',
      dpmpp_2m_karras: 'DPM++ 2M Karras',
      lcm: 'LCM',
      turbo: 'Turbo',
    };
    for (const [name, label] of Object.entries(labels)) {
      expect(samplerLabel(name)).toBe(label);
      expect(schedulerForLabel(label)).toBe(name);
    }
    // Newer desktop UIs write the Karras schedule as its own key.
    expect(schedulerForLabel('DPM++ 2M', 'Karras')).toBe('dpmpp_2m_karras');
    expect(schedulerForLabel('DPM++ SDE')).toBeUndefined();
  });
});

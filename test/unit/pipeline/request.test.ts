import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../../src/api.ts';
import { InvalidRequestError, UnknownSchedulerError } from '../../../src/errors.ts';
import { resolveRequest } from '../../../src/pipeline/request.ts';

const model: ModelInfo = {
  id: 'tiny-shapes',
  name: 'tiny-shapes',
  precision: 'fp32',
  warnings: [],
  width: 64,
  height: 64,
  defaults: { steps: 20, guidance: 4, scheduler: 'ddim' },
  backend: 'webgpu',
  runtime: 'jspi',
};

describe('resolveRequest', () => {
  it('fills in the model defaults and a random 32-bit seed', () => {
    const resolved = resolveRequest({ prompt: 'a red circle' }, model);
    expect(resolved).toMatchObject({ prompt: 'a red circle', negativePrompt: '', steps: 20, guidance: 4, scheduler: 'ddim', width: 64, height: 64 });
    expect(Number.isInteger(resolved.seed) && resolved.seed >= 0 && resolved.seed <= 0xffffffff).toBe(true);
  });

  it('keeps what the request sets', () => {
    const request = { prompt: 'p', negativePrompt: 'n', seed: 0xffffffff, steps: 1000, guidance: 0, scheduler: 'euler', width: 64, height: 64, n: 8 } as const;
    expect(resolveRequest(request, model)).toEqual(request);
  });

  it('asks for 1 picture by default, and at most 8', () => {
    expect(resolveRequest({ prompt: 'p' }, model).n).toBe(1);
    expect(() => resolveRequest({ prompt: 'p', n: 9 }, model)).toThrow(/n must be an integer from 1 to 8; got 9/);
    expect(() => resolveRequest({ prompt: 'p', n: 0 }, model)).toThrow(InvalidRequestError);
  });

  it('takes a picture to start from, with a strength, and a mask only with a picture', () => {
    const image = { width: 1, height: 1, pixels: new Uint8ClampedArray(4) };
    expect(resolveRequest({ prompt: 'p', image }, model)).toMatchObject({ strength: 0.8, source: 'image', image });
    expect(resolveRequest({ prompt: 'p', image, mask: image }, model)).toMatchObject({ strength: 1, source: 'inpainting' });
    expect(() => resolveRequest({ prompt: 'p', mask: image }, model)).toThrow(/mask must be given with an image/);
    expect(() => resolveRequest({ prompt: 'p', image, strength: 0 }, model)).toThrow(/strength must be a number in \(0, 1\]/);
    expect(() => resolveRequest({ prompt: 'p', strength: 0.5 }, model)).toThrow(/strength must be given with an image/);
    expect(() => resolveRequest({ prompt: 'p', image: 'picture.png' as never }, model)).toThrow(/image must be a Blob, ImageBitmap/);
  });

  it.each([
    ['prompt', { prompt: 3 }, /prompt must be a string/],
    ['negativePrompt', { negativePrompt: null }, /negativePrompt must be a string/],
    ['width', { width: 60 }, /width must be a positive multiple of 8; got 60/],
    ['height', { height: 128 }, /height must be 64 \(the resolution model tiny-shapes generates/],
    ['steps', { steps: 0 }, /steps must be an integer from 1 to 1000; got 0/],
    ['steps', { steps: 2.5 }, /steps must be an integer from 1 to 1000; got 2.5/],
    ['steps', { steps: 1001 }, /steps must be an integer from 1 to 1000/],
    ['guidance', { guidance: -1 }, /guidance must be a finite number from 0 to 30/],
    ['guidance', { guidance: Number.NaN }, /guidance must be a finite number from 0 to 30 .*; got NaN$/],
    ['guidance', { guidance: 1e308 }, /guidance must be a finite number from 0 to 30 .*; got 1e\+308$/],
    ['guidance', { guidance: 31 }, /guidance must be a finite number from 0 to 30/],
    ['steps', { steps: Infinity }, /steps must be an integer from 1 to 1000; got Infinity$/],
    ['seed', { seed: -1 }, /seed must be an integer from 0 to 4294967295; got -1/],
    ['seed', { seed: 2 ** 32 }, /seed must be an integer from 0 to 4294967295/],
    ['seed', { seed: 1.5 }, /seed must be an integer/],
    ['an unknown field', { guidanceScale: 7 }, /"guidanceScale" must be left out: the fields are prompt, negativePrompt/],
  ])('refuses a bad %s with InvalidRequestError saying what is allowed', (_, fields, message) => {
    const attempt = () => resolveRequest({ prompt: 'a red circle', ...fields } as never, model);
    expect(attempt).toThrow(InvalidRequestError);
    expect(attempt).toThrow(message);
  });

  it('refuses an unknown scheduler with UnknownSchedulerError listing the known ones', () => {
    const attempt = () => resolveRequest({ prompt: 'a', scheduler: 'plms' as never }, model);
    expect(attempt).toThrow(UnknownSchedulerError);
    expect(attempt).toThrow(/Unknown scheduler "plms"; use one of ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm, turbo/);
  });
});

describe('guidance on a model distilled without it', () => {
  const turbo: ModelInfo = { ...model, name: 'Z-Image-Turbo', defaults: { steps: 8, guidance: 0, scheduler: 'flow_euler' }, guidanceMode: 'none' };

  it('refuses a scale above 1, naming the field and why, rather than ignoring it', () => {
    const attempt = () => resolveRequest({ prompt: 'p', guidance: 4 }, turbo);
    expect(attempt).toThrow(InvalidRequestError);
    expect(attempt).toThrow(/guidance must be at most 1 for Z-Image-Turbo: it was distilled to run without guidance/);
    try {
      attempt();
    } catch (error) {
      expect((error as InvalidRequestError).details).toMatchObject({ field: 'guidance', got: 4 });
    }
  });

  it('takes 0 and 1 (guidance off), and any scale on a model that uses it', () => {
    expect(resolveRequest({ prompt: 'p', guidance: 1 }, turbo).guidance).toBe(1);
    expect(resolveRequest({ prompt: 'p' }, turbo).guidance).toBe(0);
    expect(resolveRequest({ prompt: 'p', guidance: 4 }, { ...turbo, guidanceMode: 'cfg' }).guidance).toBe(4);
  });
});

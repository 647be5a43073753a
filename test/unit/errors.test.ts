import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  CapabilityError,
  GpuDeviceLostError,
  GpuUnavailableError,
  IntegrityError,
  InvalidRequestError,
  ManifestError,
  ModelLoadError,
  NetworkError,
  QuotaError,
  TokenizerError,
  UnknownModelError,
  UnknownSchedulerError,
  WebDiffusionError,
  deserializeError,
  serializeError,
} from '../../src/errors.ts';

const CASES = [
  [InvalidRequestError, 'InvalidRequestError', 'invalid-request'],
  [UnknownModelError, 'UnknownModelError', 'unknown-model'],
  [UnknownSchedulerError, 'UnknownSchedulerError', 'unknown-scheduler'],
  [ModelLoadError, 'ModelLoadError', 'model-load'],
  [ManifestError, 'ManifestError', 'bad-manifest'],
  [GpuUnavailableError, 'GpuUnavailableError', 'gpu-unavailable'],
  [CapabilityError, 'CapabilityError', 'capability'],
  [GpuDeviceLostError, 'GpuDeviceLostError', 'gpu-device-lost'],
  [CancelledError, 'CancelledError', 'cancelled'],
  [TokenizerError, 'TokenizerError', 'tokenizer'],
  [IntegrityError, 'IntegrityError', 'integrity'],
  [QuotaError, 'QuotaError', 'quota'],
  [NetworkError, 'NetworkError', 'network'],
] as const;

describe('typed errors', () => {
  it.each(CASES)('%o has its name, code and message', (ErrorClass, name, code) => {
    const e = new ErrorClass('what went wrong', { allowed: [1, 2] } as never);
    expect(e).toBeInstanceOf(ErrorClass);
    expect(e).toBeInstanceOf(WebDiffusionError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe(name);
    expect(e.code).toBe(code);
    expect(e.message).toBe('what went wrong');
    expect(e.details).toEqual({ allowed: [1, 2] });
    expect(String(e)).toBe(`${name}: what went wrong`);
  });

  it('keeps the cause', () => {
    const cause = new TypeError('fetch failed');
    expect(new ModelLoadError('could not download', { url: 'x' }, { cause }).cause).toBe(cause);
  });
});

describe('serializeError / deserializeError', () => {
  it.each(CASES)('%o survives a structured clone with its class', (ErrorClass, name, code) => {
    const original = new ErrorClass('boom', { steps: 0, allowed: '1..50' } as never);
    const data = structuredClone(serializeError(original));
    const rebuilt = deserializeError(data);
    expect(rebuilt).toBeInstanceOf(ErrorClass);
    expect(rebuilt.name).toBe(name);
    expect(rebuilt.code).toBe(code);
    expect(rebuilt.message).toBe('boom');
    expect(rebuilt.details).toEqual({ steps: 0, allowed: '1..50' });
    expect(rebuilt.stack).toBe(original.stack);
  });

  it('keeps the code of a base WebDiffusionError', () => {
    const rebuilt = deserializeError(serializeError(new WebDiffusionError('worker-lost', 'odd')));
    expect(rebuilt.constructor).toBe(WebDiffusionError);
    expect(rebuilt.code).toBe('worker-lost');
  });

  it('turns foreign errors into internal WebDiffusionErrors that keep their original name', () => {
    const data = serializeError(new TypeError('x is undefined'));
    expect(data).toMatchObject({ name: 'TypeError', code: 'internal', message: 'x is undefined' });
    const rebuilt = deserializeError(data);
    expect(rebuilt.constructor).toBe(WebDiffusionError);
    expect(rebuilt.code).toBe('internal');
    expect(rebuilt.message).toBe('x is undefined');
    expect(rebuilt.details).toEqual({ originalName: 'TypeError' });
  });

  it('keeps the message of a thrown non-Error value', () => {
    expect(serializeError('plain string')).toEqual({ name: 'Error', code: 'internal', message: 'plain string' });
  });
});

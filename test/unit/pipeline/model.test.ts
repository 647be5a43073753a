/**
 * The names ONNX Runtime is given for a network's external data (the .onnx file names its
 * external data relative to its own folder).
 */
import { describe, expect, it } from 'vitest';
import { relativeTo } from '../../../src/pipeline/model.ts';

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

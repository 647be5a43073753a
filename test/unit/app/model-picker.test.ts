/**
 * The models panel's download label: what a user reads while gigabytes arrive.
 */
import { describe, expect, it } from 'vitest';
import type { DownloadStatus } from '../../../src/api.ts';
import { downloadText } from '../../../src/app/model-picker.ts';

const status = (modelLoaded: number, modelTotal: number, etaSeconds: number | null): DownloadStatus => ({
  file: 'unet/model.onnx',
  loaded: modelLoaded,
  total: modelTotal,
  modelLoaded,
  modelTotal,
  bytesPerSecond: etaSeconds === null ? 0 : (modelTotal - modelLoaded) / etaSeconds,
  etaSeconds,
});

describe('downloadText', () => {
  it('says megabytes done of the whole model, and the time left at the current rate', () => {
    expect(downloadText(status(12.34e6, 1.61e9, 100))).toBe('Downloading 12.3 of 1,610 MB · 2 min left');
    expect(downloadText(status(1_234.5e6, 2.2e9, 42))).toBe('Downloading 1,234.5 of 2,200 MB · 42 s left');
    expect(downloadText(status(0, 3.5e9, 2 * 3600 + 5 * 60))).toBe('Downloading 0.0 of 3,500 MB · 2 h 5 min left');
  });

  it('keeps a decimal for small models, and no time while the rate is unknown', () => {
    expect(downloadText(status(3.2e6, 13.0152e6, null))).toBe('Downloading 3.2 of 13.0 MB');
  });
});

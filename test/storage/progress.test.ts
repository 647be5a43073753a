/**
 * Transfer rate, time left and event throttling of the store's download progress, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { ProgressReporter, RateMeter, type DownloadProgress } from '../../src/storage/progress.ts';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('RateMeter', () => {
  it('reports 0 until a quarter of a second is measured, then bytes per second', () => {
    const clock = fakeClock();
    const meter = new RateMeter(5_000, clock.now);
    clock.advance(100);
    meter.add(1_000_000);
    expect(meter.bytesPerSecond()).toBe(0);
    clock.advance(400);
    meter.add(4_000_000);
    expect(meter.bytesPerSecond()).toBe(10_000_000);
  });

  it('follows a connection that slows down, over its window only', () => {
    const clock = fakeClock();
    const meter = new RateMeter(2_000, clock.now);
    for (let i = 0; i < 10; i++) {
      clock.advance(1_000);
      meter.add(10_000_000); // 10 MB/s for 10 s
    }
    for (let i = 0; i < 3; i++) {
      clock.advance(1_000);
      meter.add(1_000_000); // then 1 MB/s
    }
    expect(meter.bytesPerSecond()).toBe(1_000_000);
  });
});

describe('ProgressReporter', () => {
  const files = [
    { path: 'text_encoder/model.onnx', size: 2_000_000, stored: 2_000_000 },
    { path: 'unet/model.onnx', size: 4_000_000, stored: 0 },
    { path: 'vae/model.onnx', size: 4_000_000, stored: 0 },
  ];

  it('reports at most every interval, plus each file first and verified, with the rate and time left', () => {
    const clock = fakeClock();
    const events: DownloadProgress[] = [];
    const reporter = new ProgressReporter((event) => events.push(event), files, new RateMeter(5_000, clock.now), 100, clock.now);
    for (let loaded = 1_000_000; loaded <= 4_000_000; loaded += 1_000_000) {
      clock.advance(60);
      reporter.stored('unet/model.onnx', loaded);
    }
    reporter.verified('unet/model.onnx');
    clock.advance(60);
    reporter.stored('vae/model.onnx', 1_000_000);
    expect(events.map((event) => [event.file, event.loaded, event.filesDone])).toEqual([
      ['unet/model.onnx', 1_000_000, 1],
      ['unet/model.onnx', 3_000_000, 1],
      ['unet/model.onnx', 4_000_000, 2],
      ['vae/model.onnx', 1_000_000, 2],
    ]);
    // 5 MB in 300 ms since the reporter started: 16.7 MB/s, 3 MB left.
    expect(events.at(-1)).toMatchObject({
      phase: 'downloading',
      file: 'vae/model.onnx',
      loaded: 1_000_000,
      total: 4_000_000,
      modelLoaded: 7_000_000,
      modelTotal: 10_000_000,
      fileCount: 3,
    });
    expect(events.at(-1)!.bytesPerSecond).toBeCloseTo(5_000_000 / 0.3, 3);
    expect(events.at(-1)!.etaSeconds).toBeCloseTo(0.18, 9);
    expect(events[0]).toMatchObject({ bytesPerSecond: 0, etaSeconds: null });
  });

  it('interleaves files downloading in parallel, and takes back the bytes of a file that starts over', () => {
    const clock = fakeClock();
    const events: DownloadProgress[] = [];
    const reporter = new ProgressReporter((event) => events.push(event), files, new RateMeter(5_000, clock.now), 100, clock.now);
    reporter.stored('unet/model.onnx', 1_000_000);
    reporter.stored('vae/model.onnx', 1_000_000);
    clock.advance(200);
    reporter.stored('unet/model.onnx', 3_000_000);
    expect(events.map((event) => [event.file, event.modelLoaded])).toEqual([
      ['unet/model.onnx', 3_000_000],
      ['vae/model.onnx', 4_000_000],
      ['unet/model.onnx', 6_000_000],
    ]);
    clock.advance(200);
    reporter.stored('unet/model.onnx', 0);
    expect(events.at(-1)).toMatchObject({ file: 'unet/model.onnx', loaded: 0, modelLoaded: 3_000_000 });
  });
});

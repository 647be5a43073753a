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
  it('reports at most every interval, plus each file first and last, with the rate and time left', () => {
    const clock = fakeClock();
    const events: DownloadProgress[] = [];
    const reporter = new ProgressReporter((event) => events.push(event), 10_000_000, 2_000_000, new RateMeter(5_000, clock.now), 100, clock.now);
    for (let loaded = 1_000_000; loaded <= 4_000_000; loaded += 1_000_000) {
      clock.advance(60);
      reporter.stored('unet/model.onnx', loaded, 4_000_000, 1_000_000);
    }
    clock.advance(60);
    reporter.stored('vae/model.onnx', 1_000_000, 4_000_000, 1_000_000);
    expect(events.map((event) => [event.file, event.loaded])).toEqual([
      ['unet/model.onnx', 1_000_000],
      ['unet/model.onnx', 3_000_000],
      ['unet/model.onnx', 4_000_000],
      ['vae/model.onnx', 1_000_000],
    ]);
    // 5 MB in 300 ms since the reporter started: 16.7 MB/s, 3 MB left.
    expect(events.at(-1)).toMatchObject({
      phase: 'downloading',
      file: 'vae/model.onnx',
      loaded: 1_000_000,
      total: 4_000_000,
      modelLoaded: 7_000_000,
      modelTotal: 10_000_000,
    });
    expect(events.at(-1)!.bytesPerSecond).toBeCloseTo(5_000_000 / 0.3, 3);
    expect(events.at(-1)!.etaSeconds).toBeCloseTo(0.18, 9);
    expect(events[0]).toMatchObject({ bytesPerSecond: 0, etaSeconds: null });
  });
});

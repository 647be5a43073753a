import { describe, expect, it } from 'vitest';
import { PALETTE_COLORS, SHAPE_KINDS, judgeImage, parsePrompt, scoreJudgement, type PaletteColor } from '../../support/judge.ts';
import { createRandom, gaussianNoise } from '../../../src/pipeline/prng.ts';
import { drawScene, type Scene } from './draw.ts';

const SIZE = 64;

/** Every ordered pair of different palette colours, as the training data draws them. */
const COLOR_PAIRS: [PaletteColor, PaletteColor][] = PALETTE_COLORS.flatMap((color) =>
  PALETTE_COLORS.filter((background) => background !== color).map((background): [PaletteColor, PaletteColor] => [color, background]),
);

describe('judgeImage on clean pictures', () => {
  it.each(SHAPE_KINDS)('recognises a %s in every colour on every other background', (shape) => {
    const random = createRandom(SHAPE_KINDS.indexOf(shape));
    for (const [color, background] of COLOR_PAIRS) {
      const scene: Scene = {
        color,
        shape,
        background,
        sizeFraction: 0.4 + 0.3 * random.nextUniform(),
        fx: random.nextUniform(),
        fy: random.nextUniform(),
      };
      const judged = judgeImage(drawScene(scene), SIZE, SIZE);
      expect({ color: judged.color, shape: judged.shape, background: judged.background }, JSON.stringify(scene)).toEqual({ color, shape, background });
    }
  });

  // Fills from models/tiny-shapes/training/judge.py on the same scenes rendered by data.py:
  // the two judges must agree, or the training script and the tests would grade differently.
  it.each([
    [{ color: 'red', shape: 'circle', background: 'blue', sizeFraction: 0.5, fx: 0.3, fy: 0.6 }, 0.8428720083246618],
    [{ color: 'yellow', shape: 'square', background: 'black', sizeFraction: 0.45, fx: 0.9, fy: 0.1 }, 0.9966666666666667],
    [{ color: 'white', shape: 'triangle', background: 'purple', sizeFraction: 0.6, fx: 0.5, fy: 0.5 }, 0.6218487394957983],
    [{ color: 'green', shape: 'triangle', background: 'orange', sizeFraction: 0.4, fx: 0, fy: 1 }, 0.6442687747035574],
    [{ color: 'purple', shape: 'circle', background: 'white', sizeFraction: 0.7, fx: 1, fy: 0 }, 0.8447809626825311],
    [{ color: 'black', shape: 'square', background: 'yellow', sizeFraction: 0.62, fx: 0.2, fy: 0.8 }, 0.9982153480071386],
  ] as const)('measures the same fill as the Python judge: %o', (scene, pythonFill) => {
    expect(judgeImage(drawScene(scene), SIZE, SIZE).fill).toBeCloseTo(pythonFill, 12);
  });
});

describe('judgeImage on imperfect pictures', () => {
  it('still judges right under strong pixel noise (sigma 15 per channel)', () => {
    const scenes: Scene[] = [
      { color: 'orange', shape: 'circle', background: 'green', sizeFraction: 0.5, fx: 0.5, fy: 0.5 },
      { color: 'blue', shape: 'square', background: 'white', sizeFraction: 0.45, fx: 0.1, fy: 0.7 },
      { color: 'red', shape: 'triangle', background: 'black', sizeFraction: 0.65, fx: 0.8, fy: 0.3 },
    ];
    scenes.forEach((scene, k) => {
      const pixels = drawScene(scene);
      const noise = gaussianNoise(k, pixels.length);
      for (let i = 0; i < pixels.length; i++) if (i % 4 !== 3) pixels[i] = pixels[i]! + 15 * noise[i]!;
      const judged = judgeImage(pixels, SIZE, SIZE);
      expect([judged.color, judged.shape, judged.background]).toEqual([scene.color, scene.shape, scene.background]);
    });
  });

  it('is not fooled by a few stray pixels far from the shape', () => {
    const scene: Scene = { color: 'white', shape: 'circle', background: 'blue', sizeFraction: 0.4, fx: 0.2, fy: 0.2 };
    const pixels = drawScene(scene);
    for (const [x, y] of [
      [60, 60],
      [58, 5],
      [5, 58],
      [61, 30],
    ] as const)
      pixels.set([240, 240, 240], 4 * (y * SIZE + x));
    const judged = judgeImage(pixels, SIZE, SIZE);
    expect(judged.shape).toBe('circle');
  });

  it('reports no shape on a plain picture', () => {
    const pixels = drawScene({ color: 'red', shape: 'square', background: 'yellow', sizeFraction: 0, fx: 0, fy: 0 });
    expect(judgeImage(pixels, SIZE, SIZE)).toEqual({
      background: 'yellow',
      color: null,
      shape: null,
      fill: 0,
      shapePixels: 0,
    });
  });

  it('rejects pixel data of the wrong size', () => {
    expect(() => judgeImage(new Uint8ClampedArray(64 * 64 * 3), 64, 64)).toThrow(RangeError);
    expect(() => judgeImage(new Uint8ClampedArray(4 * 4 * 4), 4, 4)).toThrow(RangeError);
  });
});

describe('parsePrompt', () => {
  // Every caption form of models/tiny-shapes/training/data.py.
  it.each([
    'a red circle on a blue background',
    'red circle on blue background',
    'a red circle on blue',
    'circle, red, on blue',
    'red circle on a blue background',
    'the red circle on the blue background',
    'a red circle, blue background',
    'blue background, red circle',
    '  A RED Circle on a Blue background ',
  ])('reads "%s"', (prompt) => {
    expect(parsePrompt(prompt)).toEqual({ color: 'red', shape: 'circle', background: 'blue' });
  });

  it('leaves unnamed parts open', () => {
    expect(parsePrompt('a green triangle')).toEqual({ color: 'green', shape: 'triangle', background: null });
    expect(parsePrompt('')).toEqual({ color: null, shape: null, background: null });
  });
});

describe('scoreJudgement', () => {
  it('fails a picture that shows the wrong shape', () => {
    const circle = drawScene({ color: 'red', shape: 'circle', background: 'blue', sizeFraction: 0.6, fx: 0.5, fy: 0.5 });
    const score = scoreJudgement(parsePrompt('a red square on a blue background'), judgeImage(circle, SIZE, SIZE));
    expect(score).toEqual({ color: true, shape: false, background: true, all: false });
  });

  it('fails swapped colours on both counts', () => {
    const judged = { color: 'blue', shape: 'circle', background: 'red' } as const;
    expect(scoreJudgement(parsePrompt('a red circle on a blue background'), judged)).toEqual({
      color: false,
      shape: true,
      background: false,
      all: false,
    });
  });

  it('passes a correct picture, and anything where the prompt left a part open', () => {
    const square = drawScene({ color: 'yellow', shape: 'square', background: 'purple', sizeFraction: 0.5, fx: 0.4, fy: 0.6 });
    const judged = judgeImage(square, SIZE, SIZE);
    expect(scoreJudgement(parsePrompt('a yellow square on a purple background'), judged).all).toBe(true);
    expect(scoreJudgement(parsePrompt('a yellow square'), judged).all).toBe(true);
  });
});

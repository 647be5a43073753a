/**
 * What the judged model tests share: the 24 prompts a tiny-shapes model is judged on at its
 * defaults, the count of pictures the judge finds fully right, and how far two backends'
 * pictures are apart.
 */
import { judgeImage, parsePrompt, scoreJudgement } from './judge.ts';

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'white', 'black'];
const SHAPES = ['circle', 'square', 'triangle'];

/** 24 prompts: every colour as shape and as background, every shape eight times. */
export const JUDGED_PROMPTS: readonly string[] = Array.from(
  { length: 24 },
  (_, k) => `a ${COLOURS[k % 8]} ${SHAPES[k % 3]} on a ${COLOURS[(k + 1 + (k >> 3)) % 8]} background`,
);

export interface JudgedPicture {
  readonly pixels: ArrayLike<number>;
  readonly width: number;
  readonly height: number;
}

/** Whether the judge finds the picture's background, shape colour and shape kind all as the prompt says. */
export function fullyCorrect(prompt: string, image: JudgedPicture): boolean {
  return scoreJudgement(parsePrompt(prompt), judgeImage(Uint8ClampedArray.from(image.pixels), image.width, image.height)).all;
}

/**
 * Generates every judged prompt (seeds 100, 101, …) and returns the fraction fully right,
 * printing the count and what the judge saw in each wrong picture.
 */
export async function judgedFraction(label: string, generate: (prompt: string, seed: number) => Promise<JudgedPicture>): Promise<number> {
  let right = 0;
  const wrong: string[] = [];
  for (const [i, prompt] of JUDGED_PROMPTS.entries()) {
    const image = await generate(prompt, 100 + i);
    if (fullyCorrect(prompt, image)) right++;
    else wrong.push(`  wrong: "${prompt}" → ${JSON.stringify(judgeImage(Uint8ClampedArray.from(image.pixels), image.width, image.height))}`);
  }
  console.info(`${label}: ${right}/${JUDGED_PROMPTS.length} fully correct\n${wrong.join('\n')}`);
  return right / JUDGED_PROMPTS.length;
}

/** The largest difference between two pictures' bytes. */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let k = 0; k < a.length; k++) max = Math.max(max, Math.abs(a[k]! - b[k]!));
  return max;
}

/**
 * What helps a person write a prompt: the bundled models' one line on what they know, with
 * prompts to try, and the token counters that say how much of a text the encoder will read.
 */
import type { Engine, ModelInfo } from '../index.ts';

/** What the bundled models know. */
const BUNDLED_KNOWLEDGE = {
  colours: ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'white', 'black'],
  shapes: ['circle', 'square', 'triangle'],
  examples: ['a red circle on a blue background', 'a yellow square on a purple background', 'a white triangle on a green background'],
};

/** Fills `line` for a bundled model (hides it for others); an example clicked goes into `prompt`. */
export function showWhatTheModelKnows(line: HTMLElement, info: ModelInfo, prompt: HTMLTextAreaElement): void {
  line.replaceChildren();
  line.hidden = !info.id.startsWith('tiny-shapes');
  if (line.hidden) return;
  const { colours, shapes, examples } = BUNDLED_KNOWLEDGE;
  line.append(`This small model knows ${colours.length} colours (${colours.join(', ')}) and ${shapes.length} shapes (${shapes.join(', ')}). Try: `);
  for (const [index, example] of examples.entries()) {
    const button = Object.assign(document.createElement('button'), { type: 'button', className: 'example', textContent: example });
    button.addEventListener('click', () => {
      prompt.value = example;
      prompt.dispatchEvent(new Event('input'));
      prompt.focus();
    });
    line.append(button, index < examples.length - 1 ? ' ' : '');
  }
}

/**
 * Counts each text's tokens against the text encoder's limit as it is typed.
 * @returns a function that counts both again (after a model load: another tokenizer)
 */
export function installTokenCounters(
  prompt: HTMLTextAreaElement,
  promptCounter: HTMLElement,
  negativePrompt: HTMLInputElement,
  negativeCounter: HTMLElement,
  engine: () => Engine | undefined,
): () => void {
  const counts: (() => void)[] = [];
  for (const [input, counter] of [
    [prompt, promptCounter],
    [negativePrompt, negativeCounter],
  ] as const) {
    let asked = 0;
    const count = (): void => {
      const current = engine();
      if (current === undefined) return;
      const mine = ++asked;
      current.countTokens(input.value).then(
        ({ tokens, limit }) => {
          if (mine !== asked) return; // a newer count is on its way
          counter.textContent = tokens > limit ? `${tokens} / ${limit} tokens: the last ${tokens - limit} are left out` : `${tokens} / ${limit} tokens`;
          counter.dataset.over = String(tokens > limit);
        },
        // No model loaded (between loads): no count to show.
        () => (counter.textContent = ''),
      );
    };
    input.addEventListener('input', count);
    counts.push(count);
  }
  return () => {
    for (const count of counts) count();
  };
}

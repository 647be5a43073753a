/** The element's example page (examples/element.html): the prompt box drives the element. */
import { defineWebDiffusionElement } from '../library.ts';
import type { WebDiffusionElement, WebDiffusionEventMap } from '../library.ts';

defineWebDiffusionElement();
const generator = document.getElementById('generator') as WebDiffusionElement;
const prompt = document.getElementById('prompt') as HTMLInputElement;
const said = document.getElementById('said')!;
prompt.addEventListener('input', () => {
  generator.prompt = prompt.value;
});
generator.addEventListener('done', (event: Event) => {
  const { detail } = event as WebDiffusionEventMap['done'];
  said.textContent = `Done: seed ${detail.image.request.seed}.`;
  document.body.dataset.state = 'done';
});
generator.addEventListener('error', (event: Event) => {
  const { error } = (event as WebDiffusionEventMap['error']).detail;
  said.textContent = error instanceof Error ? error.message : String(error);
});

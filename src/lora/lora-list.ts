/**
 * LoRAs written as one line of text, for the element's `lora` attribute:
 * "url:0.8, url2:0.5" — each a reference (`LoraReference` as a string) with an optional
 * `:scale` at its end (default 1). A URL's own colons (https://…) stay its own: only a final
 * `:number` is a scale. Commas separate entries, so a URL with a comma must be %2C-escaped.
 */
import type { LoraRequest } from '../api.ts';

export function parseLoraList(text: string): LoraRequest[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(.*\S)\s*:\s*([-+]?(?:\d+\.?\d*|\.\d+))$/.exec(entry);
      return match !== null ? { model: match[1]!, scale: Number(match[2]) } : { model: entry, scale: 1 };
    });
}

export function formatLoraList(loras: readonly LoraRequest[]): string {
  return loras.map((l) => `${typeof l.model === 'string' ? l.model : l.model.url}:${l.scale ?? 1}`).join(', ');
}

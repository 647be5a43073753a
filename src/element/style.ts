/**
 * The look of `<web-diffusion>`, inside its shadow root. Pages restyle it through the
 * `--webdiffusion-*` custom properties (inherited into the shadow root) and `::part()`. The
 * defaults follow the colour scheme the element inherits from the page (`light-dark()` reads
 * `color-scheme`): dark on a page that allows dark when the user prefers it, light otherwise.
 */
const STYLE = `
:host {
  --_fg: var(--webdiffusion-foreground, light-dark(#1b1d21, #e8eaed));
  --_bg: var(--webdiffusion-background, light-dark(#ffffff, #1e2024));
  --_accent: var(--webdiffusion-accent, light-dark(#2f5bd3, #8ab4f8));
  --_on-accent: var(--webdiffusion-on-accent, light-dark(#ffffff, #10151f));
  --_muted: var(--webdiffusion-muted, light-dark(#5f6368, #9aa0a6));
  --_error: var(--webdiffusion-error, light-dark(#b3261e, #f2b8b5));
  --_radius: var(--webdiffusion-radius, 8px);
  --_size: var(--webdiffusion-size, 256px);
  display: inline-block;
  box-sizing: border-box;
  inline-size: calc(var(--_size) + 1.5rem);
  padding: 0.75rem;
  border-radius: var(--_radius);
  background: var(--_bg);
  color: var(--_fg);
  font: var(--webdiffusion-font, 14px/1.4 system-ui, sans-serif);
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: inherit; }
[part~='picture'] {
  display: block;
  inline-size: var(--_size);
  block-size: var(--_size);
  border-radius: calc(var(--_radius) / 2);
  background: color-mix(in srgb, var(--_fg) 8%, transparent);
  image-rendering: pixelated;
}
[part~='progress'] {
  display: block;
  inline-size: 100%;
  margin-block: 0.5rem 0.25rem;
  accent-color: var(--_accent);
}
[part~='status'] { margin: 0; min-block-size: 1.4em; color: var(--_muted); overflow-wrap: anywhere; }
[part~='status'][data-error] { color: var(--_error); }
[part~='controls'] { display: flex; gap: 0.5rem; margin-block-start: 0.5rem; }
button {
  font: inherit;
  padding: 0.35rem 0.9rem;
  border-radius: calc(var(--_radius) / 2);
  border: 1px solid var(--_accent);
  background: var(--_accent);
  color: var(--_on-accent);
  cursor: pointer;
}
button[part~='cancel'] { background: transparent; color: var(--_accent); }
button:disabled { opacity: 0.5; cursor: default; }
button:focus-visible { outline: 2px solid var(--webdiffusion-focus, var(--_accent)); outline-offset: 2px; }
`;

let sheet: CSSStyleSheet | undefined;

/** One sheet adopted by every element's shadow root (constructed once, shared). */
export function elementStyleSheet(): CSSStyleSheet {
  if (sheet === undefined) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
  }
  return sheet;
}

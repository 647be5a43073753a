/**
 * Dropping a PNG on the demo page restores the settings in its `parameters` text chunk: ours, or
 * one saved by a desktop UI that writes the same form.
 */
import { InvalidRequestError, readPngParameters } from '../index.ts';
import type { ParsedParameters } from '../index.ts';

export interface PngDropOptions {
  /** Called with what the dropped PNG carries, and the file's name. */
  readonly restore: (parsed: ParsedParameters, fileName: string) => void;
  /** Called with a typed error when the file is no PNG or carries no parameters. */
  readonly report: (error: unknown) => void;
}

export function installPngDrop(target: HTMLElement, options: PngDropOptions): void {
  const hasFiles = (event: DragEvent): boolean => event.dataTransfer?.types.includes('Files') === true;
  target.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    // Without this the browser opens the file in place of the page.
    event.preventDefault();
    target.classList.add('dropping');
  });
  target.addEventListener('dragleave', (event) => {
    if (event.relatedTarget === null) target.classList.remove('dropping');
  });
  target.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    target.classList.remove('dropping');
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) void restoreFrom(file, options);
  });
}

async function restoreFrom(file: File, { restore, report }: PngDropOptions): Promise<void> {
  try {
    const parsed = await readPngParameters(new Uint8Array(await file.arrayBuffer()));
    if (parsed === undefined) {
      throw new InvalidRequestError(`${file.name} carries no generation parameters (no "parameters" text chunk)`, { file: file.name });
    }
    restore(parsed, file.name);
  } catch (error) {
    report(error);
  }
}

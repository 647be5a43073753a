/**
 * The demo's LoRA list, built in one container: add a LoRA by URL (a .safetensors file, a LoRA
 * manifest, a Hugging Face file) or by dropping a .safetensors file on the panel; each has an
 * on/off switch, a scale slider and a Remove button. Adding one stores and reads it at once
 * (`engine.loadLora`), so a bad file says so here, not at the next request.
 * `requestFields()` gives what a request merges in: `{ loras }` when any is on.
 */
import type { Engine, LoraInfo, LoraRequest } from '../index.ts';
import './lora-panel.css';

export interface LoraPanel {
  /** The LoRAs switched on, at their scales; {} when none is. */
  requestFields(): { loras?: LoraRequest[] };
}

interface Entry {
  readonly model: LoraRequest['model'];
  readonly info: LoraInfo;
  enabled: boolean;
  scale: number;
}

let instances = 0;

/**
 * @param engine the engine, or a function that returns it once there is one (the demo makes its
 *   engine after the page is built)
 */
export function createLoraPanel(
  container: HTMLElement,
  engine: Pick<Engine, 'loadLora'> | (() => Pick<Engine, 'loadLora'> | undefined),
  /** Called once a LoRA is stored and read (the models panel lists the stored ones). */
  onStored?: () => void,
): LoraPanel {
  const currentEngine = typeof engine === 'function' ? engine : () => engine;
  const id = `lora-panel-${++instances}`;
  const entries: Entry[] = [];
  const details = document.createElement('details');
  details.className = 'lora-panel';
  const summary = document.createElement('summary');
  summary.textContent = 'LoRAs';
  const form = document.createElement('form');
  form.className = 'lp-add';
  const url = document.createElement('input');
  url.type = 'url';
  url.id = `${id}-url`;
  url.placeholder = 'LoRA URL (.safetensors), or drop a file here';
  url.setAttribute('aria-label', 'LoRA URL');
  const add = document.createElement('button');
  add.type = 'submit';
  add.textContent = 'Add';
  form.append(url, add);
  const list = document.createElement('ul');
  list.setAttribute('aria-label', 'LoRAs');
  const status = document.createElement('p');
  status.className = 'lp-status';
  status.setAttribute('role', 'status');
  details.append(summary, form, list, status);
  container.append(details);

  const say = (text: string, isError = false): void => {
    status.textContent = text;
    status.toggleAttribute('data-error', isError);
  };

  const render = (): void => {
    summary.textContent = entries.some((e) => e.enabled) ? `LoRAs (${entries.filter((e) => e.enabled).length} on)` : 'LoRAs';
    list.replaceChildren(
      ...entries.map((entry, i) => {
        const item = document.createElement('li');
        const on = document.createElement('input');
        on.type = 'checkbox';
        on.checked = entry.enabled;
        on.id = `${id}-on-${i}`;
        const label = document.createElement('label');
        label.htmlFor = on.id;
        label.textContent = `${entry.info.name} (rank ${entry.info.rank})`;
        const value = document.createElement('output');
        value.textContent = entry.scale.toFixed(2);
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = 'Remove';
        remove.setAttribute('aria-label', `Remove ${entry.info.name}`);
        const slider = document.createElement('input');
        slider.type = 'range';
        slider.min = '0';
        slider.max = '2';
        slider.step = '0.05';
        slider.value = String(entry.scale);
        slider.setAttribute('aria-label', `${entry.info.name} scale`);
        on.addEventListener('change', () => {
          entry.enabled = on.checked;
          render();
        });
        slider.addEventListener('input', () => {
          entry.scale = Number(slider.value);
          value.textContent = entry.scale.toFixed(2);
        });
        remove.addEventListener('click', () => {
          entries.splice(entries.indexOf(entry), 1);
          render();
        });
        item.append(on, label, value, remove, slider);
        return item;
      }),
    );
  };

  const adopt = async (model: LoraRequest['model'], what: string): Promise<void> => {
    const e = currentEngine();
    if (e === undefined) {
      say('The engine is still starting: try again in a moment.', true);
      return;
    }
    say(`Loading ${what}…`);
    add.disabled = true;
    try {
      const info = await e.loadLora(model);
      entries.push({ model, info, enabled: true, scale: 1 });
      const skipped = info.unmatched.length > 0 ? `; ${info.unmatched.length} of its layers are not in this model` : '';
      say(`${info.name}: ${info.layout === 'kohya' ? 'kohya' : 'diffusers/PEFT'} LoRA, rank ${info.rank}${skipped}.`);
      render();
      onStored?.();
    } catch (error) {
      say(`${what}: ${(error as Error).message}`, true);
    } finally {
      add.disabled = false;
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = url.value.trim();
    if (text === '') return;
    void adopt(text, text).then(() => {
      if (!status.hasAttribute('data-error')) url.value = '';
    });
  });
  details.addEventListener('dragover', (event) => {
    event.preventDefault();
    details.classList.add('lp-dropping');
  });
  details.addEventListener('dragleave', () => details.classList.remove('lp-dropping'));
  details.addEventListener('drop', (event) => {
    event.preventDefault();
    details.classList.remove('lp-dropping');
    for (const file of event.dataTransfer?.files ?? []) {
      details.open = true;
      void adopt({ url: file.name, data: file, name: file.name }, file.name);
    }
  });

  return {
    requestFields() {
      const loras = entries.filter((e) => e.enabled).map((e) => ({ model: e.model, scale: e.scale }));
      return loras.length > 0 ? { loras } : {};
    },
  };
}

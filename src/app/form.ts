/**
 * The demo's form: reads a request from its fields, fills them back in (a gallery's "reuse", a
 * dropped PNG), checks what it can before anything is queued, and says what is wrong next to the
 * field it concerns, in words.
 */
import type { GenerateRequest, ModelInfo, SchedulerName } from '../index.ts';

const MAX_SEED = 2 ** 32 - 1;
const MAX_BATCH = 8;

/** The fields a message can be shown next to; the engine's `details.field` names the same. */
export type FieldName = 'prompt' | 'negativePrompt' | 'seed' | 'steps' | 'guidance' | 'batch';

export interface FieldProblem {
  readonly field: FieldName;
  readonly message: string;
}

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html lacks #${id} (${type.name})`);
  return found;
}

export const fields = {
  form: element('controls', HTMLFormElement),
  prompt: element('prompt', HTMLTextAreaElement),
  negativePrompt: element('negative-prompt', HTMLInputElement),
  seed: element('seed', HTMLInputElement),
  randomSeed: element('random-seed', HTMLInputElement),
  steps: element('steps', HTMLInputElement),
  guidance: element('guidance', HTMLInputElement),
  scheduler: element('scheduler', HTMLSelectElement),
  batch: element('batch', HTMLInputElement),
};

const inputs: Record<FieldName, HTMLInputElement | HTMLTextAreaElement> = {
  prompt: fields.prompt,
  negativePrompt: fields.negativePrompt,
  seed: fields.seed,
  steps: fields.steps,
  guidance: fields.guidance,
  batch: fields.batch,
};

const errorIds: Record<FieldName, string> = {
  prompt: 'prompt-error',
  negativePrompt: 'negative-prompt-error',
  seed: 'seed-error',
  steps: 'steps-error',
  guidance: 'guidance-error',
  batch: 'batch-error',
};

export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** Sets the seed field; a seed typed or restored by hand turns the random seed off. */
export function setSeed(seed: number, { random }: { random: boolean }): void {
  fields.seed.value = String(seed);
  fields.randomSeed.checked = random;
}

/** The request the form describes. With "Random" on, a fresh seed each call (and shown in the field). */
export function readRequest(): GenerateRequest {
  const number = (input: HTMLInputElement) => (input.value.trim() === '' ? undefined : Number(input.value));
  if (fields.randomSeed.checked) fields.seed.value = String(randomSeed());
  const seed = number(fields.seed);
  const steps = number(fields.steps);
  const guidance = number(fields.guidance);
  const n = number(fields.batch) ?? 1;
  return {
    prompt: fields.prompt.value,
    scheduler: fields.scheduler.value as SchedulerName,
    ...(fields.negativePrompt.value.trim() !== '' ? { negativePrompt: fields.negativePrompt.value } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
    ...(n !== 1 ? { n } : {}),
  };
}

/** What the form can tell is wrong before the request is queued (the engine checks the rest). */
export function checkRequest(request: GenerateRequest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const integer = (value: number | undefined, min: number, max: number) => value === undefined || (Number.isInteger(value) && value >= min && value <= max);
  if (!integer(request.seed, 0, MAX_SEED)) problems.push({ field: 'seed', message: `The seed is a whole number from 0 to ${MAX_SEED}.` });
  if (!integer(request.steps, 1, 1000)) problems.push({ field: 'steps', message: 'Steps is a whole number from 1 to 1000.' });
  if (request.guidance !== undefined && !(Number.isFinite(request.guidance) && request.guidance >= 0 && request.guidance <= 30)) {
    problems.push({ field: 'guidance', message: 'Guidance is a number from 0 to 30 (1 or less turns it off).' });
  }
  if (!integer(request.n, 1, MAX_BATCH)) problems.push({ field: 'batch', message: `Make 1 to ${MAX_BATCH} pictures at a time.` });
  return problems;
}

/** Shows each problem under its field (and marks the field invalid); clears the others. */
export function showProblems(problems: readonly FieldProblem[]): void {
  for (const field of Object.keys(inputs) as FieldName[]) {
    const problem = problems.find((p) => p.field === field);
    const note = document.getElementById(errorIds[field])!;
    note.textContent = problem?.message ?? '';
    note.hidden = problem === undefined;
    if (problem === undefined) inputs[field].removeAttribute('aria-invalid');
    else inputs[field].setAttribute('aria-invalid', 'true');
  }
  const first = problems[0];
  if (first !== undefined) inputs[first.field].focus();
}

/** Maps an engine's `details.field` ('steps', 'n', …) to a form field, where the form has one. */
export function fieldOf(engineField: unknown): FieldName | undefined {
  if (engineField === 'n') return 'batch';
  return typeof engineField === 'string' && engineField in inputs ? (engineField as FieldName) : undefined;
}

/** The inverse of `readRequest`: fills the form from restored settings. A restored seed is kept, not randomised. */
export function restoreRequest(request: Partial<GenerateRequest>): void {
  if (request.prompt !== undefined) fields.prompt.value = request.prompt;
  fields.negativePrompt.value = request.negativePrompt ?? '';
  if (request.seed !== undefined) setSeed(request.seed, { random: false });
  for (const [input, value] of [
    [fields.steps, request.steps],
    [fields.guidance, request.guidance],
  ] as const) {
    if (value !== undefined) input.value = String(value);
  }
  if (request.scheduler !== undefined && [...fields.scheduler.options].some((option) => option.value === request.scheduler)) {
    fields.scheduler.value = request.scheduler;
  }
  for (const input of Object.values(inputs)) input.dispatchEvent(new Event('input'));
}

export function applyDefaults(info: ModelInfo): void {
  fields.steps.value = String(info.defaults.steps);
  fields.guidance.value = String(info.defaults.guidance);
  // Only the model's kind of scheduler can run it (flow matching, or noise prediction).
  for (const option of fields.scheduler.options) option.disabled = info.schedulers !== undefined && !info.schedulers.includes(option.value as SchedulerName);
  fields.scheduler.value = info.defaults.scheduler;
}

/** Typing a seed means "this seed": the random seed goes off. */
export function installSeedControls(): void {
  fields.seed.max = String(MAX_SEED);
  fields.seed.value = String(randomSeed());
  fields.seed.addEventListener('input', (event) => {
    // Only the user's typing: `restoreRequest` dispatches synthetic events to refresh counters.
    if (event.isTrusted) fields.randomSeed.checked = false;
  });
}

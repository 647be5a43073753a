/**
 * Generation parameters as text, in the form the popular desktop UIs (AUTOMATIC1111's web UI and
 * those descended from it) write into a PNG's `parameters` text chunk and paste from it:
 *
 *   a red circle on a blue background
 *   Negative prompt: green
 *   Steps: 20, Sampler: DDIM, CFG scale: 2, Seed: 1, Size: 64x64, Model: tiny-shapes
 *
 * The prompt takes every line up to one that starts with "Negative prompt:", the negative prompt
 * the lines from there to the last, and the last line holds `Key: value` pairs separated by
 * commas, a value with a comma, colon or line break written as a JSON string. Pictures made
 * there restore here as far as we share the settings; keys we do not know are kept aside.
 * LoRAs go as those UIs write them: `<lora:name:0.8>` after the prompt, and a
 * `Lora hashes: "name: 0123456789ab"` pair (the first 12 hex digits of the file's SHA-256).
 */
import type { GeneratedImage, GenerateRequest, RequestAsRun } from '../api.ts';
import { InvalidRequestError } from '../errors.ts';
import { encodePngBlob } from './png.ts';
import { readPngText } from './png-text.ts';
import { isSchedulerName } from '../schedulers/index.ts';
import type { SchedulerName } from '../schedulers/scheduler.ts';

/** Our scheduler names and the sampler labels the desktop UIs use for the same algorithms. */
const SAMPLER_LABELS: Readonly<Record<string, string>> = {
  ddim: 'DDIM',
  euler: 'Euler',
  euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  turbo: 'Turbo',
  // No desktop UI has a name of its own for these: they show the flow model's sampler as "Euler".
  flow_euler: 'Euler (flow)',
  flow_turbo: 'Turbo (flow)',
};

const NEGATIVE_PREFIX = 'Negative prompt:';

/** The sampler label the desktop UIs show for one of our scheduler names (the name itself if they have none). */
export function samplerLabel(scheduler: string): string {
  return SAMPLER_LABELS[scheduler] ?? scheduler;
}

/**
 * Our scheduler name for a desktop UI's sampler label, or undefined when we have no such
 * algorithm. Newer versions of those UIs write the Karras schedule apart ("Sampler: DPM++ 2M,
 * Schedule type: Karras"): pass it as `scheduleType`.
 */
export function schedulerForLabel(label: string, scheduleType?: string): string | undefined {
  const full = scheduleType?.toLowerCase() === 'karras' && !label.endsWith('Karras') ? `${label} Karras` : label;
  return Object.keys(SAMPLER_LABELS).find((name) => SAMPLER_LABELS[name]!.toLowerCase() === full.toLowerCase());
}

/**
 * The text for a picture's `parameters` chunk.
 * @param request the request as run (`GeneratedImage.request`), every field set
 * @param modelId the model that made it
 */
export function formatParameters(request: RequestAsRun, modelId: string): string {
  const pairs: [string, string | number][] = [
    ['Steps', request.steps],
    ['Sampler', samplerLabel(request.scheduler)],
    ['CFG scale', request.guidance],
    ['Seed', request.seed],
    ['Size', `${request.width}x${request.height}`],
    ['Model', modelId],
  ];
  const loras = request.loras ?? [];
  if (loras.length > 0) pairs.push(['Lora hashes', loras.map((l) => `${l.name}: ${l.sha256.slice(0, 12)}`).join(', ')]);
  const lines = [[request.prompt, ...loras.map((l) => `<lora:${l.name}:${l.scale}>`)].join(' ')];
  if (request.negativePrompt !== '') lines.push(`${NEGATIVE_PREFIX} ${request.negativePrompt}`);
  lines.push(pairs.map(([key, value]) => `${key}: ${quote(String(value))}`).join(', '));
  return lines.join('\n');
}

export interface ParsedParameters {
  /** What we share with the text: prompt always; the rest where the text has them. */
  readonly request: GenerateRequest;
  /** The "Model" value, when there is one. */
  readonly modelId?: string;
  /**
   * The prompt's `<lora:name:scale>` tags (taken out of the prompt), with the digest prefix
   * "Lora hashes" gives each where it does: for the app to find the LoRAs it knows by name.
   * Absent when the prompt has none.
   */
  readonly loras?: readonly { readonly name: string; readonly scale: number; readonly hash?: string }[];
  /**
   * Pairs we do not use (Model hash, Clip skip, …), and a sampler we do not have (then no
   * `scheduler` is set, and the model's default applies).
   */
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * Reads parameters text as the desktop UIs write it (and `formatParameters` writes it). A text with
 * no parameters line is all prompt.
 * @throws InvalidRequestError when Steps, CFG scale, Seed or Size has a value that is not a number
 *   (or not WIDTHxHEIGHT), naming the key and the value
 */
export function parseParameters(text: string): ParsedParameters {
  const lines = text.replace(/\r\n?/g, '\n').trim().split('\n');
  let pairs = parsePairs(lines.at(-1)!);
  // As the desktop UIs decide: fewer than three pairs means the last line is still prompt.
  if (pairs.length >= 3) lines.pop();
  else pairs = [];

  const prompt: string[] = [];
  const negative: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (negative.length === 0 && line.startsWith(NEGATIVE_PREFIX)) negative.push(line.slice(NEGATIVE_PREFIX.length).trim());
    else (negative.length > 0 ? negative : prompt).push(line);
  }

  const loras: { name: string; scale: number; hash?: string }[] = [];
  const promptText = prompt
    .join('\n')
    .replace(/\s*<lora:([^:>]+):(-?[\d.]+)>/g, (_tag, name: string, scale: string) => {
      loras.push({ name, scale: Number(scale) });
      return '';
    })
    .trim();
  const hashes = new Map(parsePairs(new Map(pairs).get('Lora hashes') ?? ''));
  for (const lora of loras) {
    const hash = hashes.get(lora.name);
    if (hash !== undefined) lora.hash = hash;
  }
  const request: { -readonly [K in keyof GenerateRequest]: GenerateRequest[K] } = { prompt: promptText };
  if (negative.length > 0) request.negativePrompt = negative.join('\n');
  const values = new Map(pairs);
  const extra: Record<string, string> = {};
  let modelId: string | undefined;
  for (const [key, value] of pairs) {
    switch (key) {
      case 'Steps':
        request.steps = integer(key, value);
        break;
      case 'CFG scale':
        request.guidance = decimal(key, value);
        break;
      case 'Seed':
        request.seed = integer(key, value);
        break;
      case 'Size': {
        const size = /^(\d+)x(\d+)$/.exec(value);
        if (size === null) throw badValue(key, value, 'WIDTHxHEIGHT, e.g. 512x512');
        request.width = Number(size[1]);
        request.height = Number(size[2]);
        break;
      }
      case 'Sampler': {
        const name = schedulerForLabel(value, values.get('Schedule type'));
        if (name !== undefined && isSchedulerName(name)) request.scheduler = name as SchedulerName;
        else extra[key] = value;
        break;
      }
      case 'Model':
        modelId = value;
        break;
      default:
        extra[key] = value;
    }
  }
  return { request, ...(modelId !== undefined ? { modelId } : {}), extra, ...(loras.length > 0 ? { loras } : {}) };
}

/** As the desktop UIs quote: only values that would break the line apart. */
function quote(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * `Key: value, Key: "quoted, value", …` → pairs. A piece that is no `Key: value` ends the
 * parse: what came before it is kept (a prompt line with a colon in it yields one or two pairs
 * at most, which the three-pair rule then treats as prompt).
 */
function parsePairs(line: string): [string, string][] {
  const pairs: [string, string][] = [];
  let rest = line;
  while (rest.trim() !== '') {
    const key = /^\s*(\w[\w \-/]*):\s*/.exec(rest);
    if (key === null) break;
    rest = rest.slice(key[0].length);
    let value: string;
    const quoted = rest.startsWith('"') ? /^"(?:\\.|[^\\"])*"/.exec(rest) : null;
    if (quoted !== null) {
      try {
        value = JSON.parse(quoted[0]) as string;
      } catch {
        // Not valid JSON after all (a stray backslash): keep the text as written.
        value = quoted[0].slice(1, -1);
      }
      rest = rest.slice(quoted[0].length);
    } else {
      const comma = rest.indexOf(',');
      value = comma === -1 ? rest : rest.slice(0, comma);
      rest = comma === -1 ? '' : rest.slice(comma);
    }
    pairs.push([key[1]!.trim(), value.trim()]);
    rest = rest.replace(/^\s*,/, '');
  }
  return pairs;
}

function integer(key: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw badValue(key, value, 'a whole number');
  return Number(value);
}

function decimal(key: string, value: string): number {
  const number = Number(value);
  if (value === '' || !Number.isFinite(number)) throw badValue(key, value, 'a number');
  return number;
}

function badValue(key: string, value: string, allowed: string): InvalidRequestError {
  return new InvalidRequestError(`The parameters' "${key}" must be ${allowed}; got ${JSON.stringify(value)}`, { field: key, allowed, got: value });
}

/**
 * A generated picture as PNG with its parameters in a `parameters` text chunk, as the desktop UIs
 * save theirs: a download that carries how to make it again.
 */
export function encodePngWithParameters(image: GeneratedImage, modelId: string): Promise<Blob> {
  return encodePngBlob(image.pixels, image.width, image.height, { text: { parameters: formatParameters(image.request, modelId) } });
}

/**
 * The generation parameters a PNG carries (ours, or a desktop UI's); undefined when it has none.
 * @throws InvalidRequestError when the bytes are not a PNG, or its parameters hold a malformed number
 */
export async function readPngParameters(png: Uint8Array): Promise<ParsedParameters | undefined> {
  const text = (await readPngText(png)).parameters;
  return text === undefined ? undefined : parseParameters(text);
}

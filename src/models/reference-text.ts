/**
 * Model references as text: what `loadModel`, the `<web-diffusion model>` attribute and the CLI
 * take — a catalog id ("sd-turbo-fp16"), a Hugging Face repo id ("owner/name",
 * "owner/name@revision"), or a URL (of a model's folder or of its manifest.json). Sorted here
 * without the catalog, so that the page's side (client, element) does not carry it: the worker
 * resolves them (model-reference.ts).
 */
import { UnknownModelError } from '../errors.ts';

/** A reference, sorted: its kind decides how it resolves. */
export type ParsedReference =
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'hub'; readonly repo: string; readonly revision: string }
  | { readonly kind: 'url'; readonly url: string };

/**
 * What kind of reference `text` is. A word with no "/" or ":" is an id; "owner/name" a Hugging
 * Face repo; anything else a URL, relative ones resolved against `base` (the page).
 * @throws UnknownModelError when the text is empty, or a URL that cannot be one
 */
export function parseReference(text: string, base?: string): ParsedReference {
  const trimmed = text.trim();
  if (trimmed === '') throw new UnknownModelError('No model given: name a catalog id, a Hugging Face repo id or a URL', { id: text });
  if (!/[/:\\]/.test(trimmed) && !trimmed.endsWith('.json')) return { kind: 'id', id: trimmed };
  const hub = huggingFaceRepoOf(trimmed);
  if (hub !== undefined) return { kind: 'hub', ...hub };
  let url: URL;
  try {
    url = new URL(trimmed, base);
  } catch (cause) {
    throw new UnknownModelError(`"${text}" is neither a catalog id, a Hugging Face repo id ("owner/name") nor a URL`, { id: text }, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UnknownModelError(`"${text}": a model URL must use http or https, not ${url.protocol}`, { id: text });
  }
  return { kind: 'url', url: url.href };
}

/**
 * A reference in the form that keeps its meaning anywhere: ids and repo ids as they are, URLs
 * made absolute against `base`. The client sends this to its worker, whose own address would
 * resolve a relative URL elsewhere; the element keys its shared loads by it.
 */
export function absoluteReference(text: string, base?: string): string {
  const parsed = parseReference(text, base);
  return parsed.kind === 'url' ? parsed.url : text.trim();
}

/** `https://huggingface.co/<repo>/resolve/<revision>/`, where a repo's files are served from. */
export function huggingFaceBaseUrl(repo: string, revision = 'main'): string {
  return `https://huggingface.co/${repo}/resolve/${encodeURIComponent(revision)}/`;
}

const HF_REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/**
 * The Hugging Face repo (and revision, default "main") that `text` names — "owner/name" or
 * "owner/name@revision" — or undefined when it is something else: a URL, a path with more or
 * fewer parts, or a relative path to a JSON file ("models/manifest.json").
 */
export function huggingFaceRepoOf(text: string): { readonly repo: string; readonly revision: string } | undefined {
  const [repo, revision = 'main', extra] = text.trim().split('@');
  if (repo === undefined || extra !== undefined || text.includes('://') || repo.endsWith('.json') || !HF_REPO_ID.test(repo)) return undefined;
  return { repo, revision };
}

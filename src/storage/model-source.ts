/**
 * What `ensureModel` is given — a model descriptor's URL (its manifest.json), or a file list with
 * a base URL — turned into one shape: an id, and the files with the URLs to fetch them from.
 */
import { ManifestError, NetworkError, UnknownModelError } from '../errors.ts';
import { variantFiles, type CatalogEntry, type CatalogVariant } from '../models/catalog.ts';
import { migrateManifest } from '../models/manifest.ts';
import { parseDescriptor } from '../models/model-reference.ts';

/** A file as the store keeps it: its path in the model, and what its bytes must be. */
export interface StoredFile {
  readonly path: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}

/** A set of files to store under `id`, fetched from `baseUrl` + each file's path. */
export interface FileListSource {
  readonly id: string;
  readonly baseUrl: string | URL;
  readonly files: readonly ListedFile[];
}

/**
 * A file of a file list. Without `sha256`, the digest the host reports for the file is used
 * (see `hostFacts`), and pinned: later calls check against it, not against what the host says
 * then. Without `size`, likewise the size the host reports (a catalog knows real files' sizes
 * only roughly).
 */
export interface ListedFile {
  readonly path: string;
  readonly size?: number;
  readonly sha256?: string;
}

/** A descriptor's URL (absolute, or relative to the page or worker), or a file list. */
export type ModelSource = string | URL | FileListSource;

/** A source resolved: everything the store keeps about a model (models/<id>.json). */
export interface ModelRecord {
  /** The id the descriptor (or file list) gives the model: a name, not what the store keys it by. */
  readonly id: string;
  /**
   * What the store keys the model by: the descriptor's URL without query or fragment (origin and
   * path, and "#<variant>" when it has several), or a file list's id (a catalog variant's
   * "<entry>@<variant>"). A descriptor decides its `id`, but not where it is served from.
   */
  readonly key: string;
  /** The descriptor's URL; null for a file list. */
  readonly manifestUrl: string | null;
  /** Files' paths are relative to this URL. */
  readonly baseUrl: string;
  /** The descriptor as fetched, so that an offline visit can still read it; null for a file list. */
  readonly descriptor: CatalogEntry | null;
  /** The id of the descriptor's variant whose files these are; null for a file list. */
  readonly variant: string | null;
  readonly files: readonly StoredFile[];
}

/**
 * A stored record's descriptor: the one it keeps, or, for a record kept before descriptors
 * (which kept the old-format manifest as `manifest`), that manifest migrated.
 */
export function recordDescriptor(record: ModelRecord): CatalogEntry | null {
  if (record.descriptor !== undefined) return record.descriptor;
  const legacy = (record as { manifest?: unknown }).manifest;
  if (legacy === undefined || legacy === null || record.manifestUrl === null) return null;
  try {
    return migrateManifest(legacy, record.manifestUrl);
  } catch {
    return null;
  }
}

/** Where a file of the model is fetched from. */
export function fileUrl(record: ModelRecord, file: StoredFile): string {
  return new URL(file.path, record.baseUrl).href;
}

/**
 * The store's key for a model stored from the descriptor at `url`: its origin and path, and the
 * variant's id when the descriptor has several.
 */
export function manifestKey(url: string | URL, descriptor?: CatalogEntry, variant?: CatalogVariant): string {
  const { origin, pathname } = new URL(url);
  const several = descriptor !== undefined && variant !== undefined && descriptor.variants.length > 1;
  return `${origin}${pathname}${several ? `#${variant.id}` : ''}`;
}

/** A record's key; records stored before keys existed have none and get the one they would have. */
export function recordKey(record: ModelRecord): string {
  return (record as Partial<ModelRecord>).key ?? (record.manifestUrl !== null ? manifestKey(record.manifestUrl) : record.id);
}

/** `source` made absolute against the page's (or worker's) address. */
export function absoluteUrl(source: string | URL): URL {
  return new URL(source, globalThis.location?.href);
}

/**
 * Fetches and checks the descriptor (manifest.json) at `url`. Like a file's transfer, a response
 * that delivers nothing for `stallTimeoutMs` (no headers, or a body that stops) is cut: a server
 * that never answers must not hold a load forever.
 * @throws UnknownModelError when the server says there is none (HTTP 404 or 410)
 * @throws NetworkError when it cannot be fetched (offline, unreachable, stalled, another HTTP error)
 * @throws ManifestError when it is not a valid descriptor (see `parseDescriptor`)
 */
export async function fetchDescriptor(url: URL, signal: AbortSignal | undefined, stallTimeoutMs: number): Promise<CatalogEntry> {
  const controller = new AbortController();
  const abort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', abort);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new NetworkError(`The manifest ${url.href} sent nothing for ${stallTimeoutMs} ms`, { url: url.href })),
      stallTimeoutMs,
    );
  };
  let response: Response;
  let text: string;
  try {
    watch();
    // Revalidate: a changed manifest (new file digests) must be seen, not a cached copy.
    response = await fetch(url, { cache: 'no-cache', signal: controller.signal });
    if (response.status === 404 || response.status === 410) {
      throw new UnknownModelError(`No model manifest at ${url.href} (HTTP ${response.status})`, { url: url.href, status: response.status });
    }
    if (!response.ok) {
      throw new NetworkError(`Fetching the manifest ${url.href} failed: HTTP ${response.status} ${response.statusText}`, {
        url: url.href,
        status: response.status,
      });
    }
    text = await readText(response, watch);
  } catch (error) {
    if (signal?.aborted === true) throw error;
    if (error instanceof UnknownModelError || error instanceof NetworkError) throw error;
    const reason: unknown = controller.signal.reason;
    if (reason instanceof NetworkError) throw new NetworkError(reason.message, reason.details, { cause: error });
    throw new NetworkError(`Could not fetch the manifest ${url.href}: ${(error as Error).message}`, { url: url.href }, { cause: error });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${url.href} is not JSON: ${(error as Error).message}`, { source: url.href }, { cause: error });
  }
  return parseDescriptor(json, url.href);
}

/** A response's body as text, calling `arrived` at each piece (the stall watch restarts). */
async function readText(response: Response, arrived: () => void): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const decoder = new TextDecoder();
  let text = '';
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    arrived();
    text += decoder.decode(read.value, { stream: true });
  }
  return text + decoder.decode();
}

/**
 * Checks a file list given directly, and completes the digests it leaves out: the one pinned
 * when the file was first stored, else the one the host reports.
 * @param pinned the file stored for this model at this path (and size, when the list gives one), if any
 * @throws ManifestError naming the first bad entry, or a file with no digest or size given, pinned or reported
 * @throws NetworkError when the host cannot be asked for a digest or size
 */
export async function fileListRecord(source: FileListSource, pinned: (file: ListedFile) => StoredFile | undefined, signal?: AbortSignal): Promise<ModelRecord> {
  const base = absoluteUrl(source.baseUrl).href;
  // Paths resolve against the base as against a directory, with or without its trailing slash.
  const baseUrl = base.endsWith('/') ? base : `${base}/`;
  if (typeof source.id !== 'string' || source.id === '') {
    throw new ManifestError(`A file list needs a non-empty id, got ${JSON.stringify(source.id)}`, { source: baseUrl, field: 'id' });
  }
  const files = await Promise.all(
    source.files.map(async (file): Promise<StoredFile> => {
      const known = pinned(file);
      let size = file.size ?? known?.size;
      let sha256 = file.sha256 ?? known?.sha256;
      if (size === undefined || sha256 === undefined) {
        const host = await hostFacts(new URL(file.path, baseUrl), signal);
        size ??= host.size ?? noFact(file, baseUrl, 'size');
        sha256 ??= host.sha256 ?? noFact(file, baseUrl, 'sha256');
      }
      return { path: file.path, size, sha256 };
    }),
  );
  checkFiles(files, baseUrl);
  return { id: source.id, key: source.id, manifestUrl: null, baseUrl, descriptor: null, variant: null, files };
}

/**
 * The record of a descriptor's variant, fetched from `url`: its files (sizes and digests as the
 * descriptor gives them, else pinned or reported, as for a file list) under the descriptor's base.
 * @throws as `fileListRecord`
 */
export async function descriptorRecord(
  url: URL,
  descriptor: CatalogEntry,
  variant: CatalogVariant,
  pinned: (file: ListedFile) => StoredFile | undefined,
  signal?: AbortSignal,
): Promise<ModelRecord> {
  const listed = await fileListRecord({ id: descriptor.id, baseUrl: descriptor.source.baseUrl, files: variantFiles(descriptor, variant) }, pinned, signal);
  return { ...listed, key: manifestKey(url, descriptor, variant), manifestUrl: url.href, descriptor, variant: variant.id };
}

/** What a host says of a file without sending it. */
export interface HostFacts {
  readonly sha256?: string;
  readonly size?: number;
}

/**
 * The SHA-256 and size the host reports for the file at `url` (one HEAD request). The digest,
 * lower-case hex, from `Repr-Digest` or `Digest` (RFC 9530 / 3230, base64), `X-Linked-ETag`
 * (Hugging Face's large files), or an ETag that is 64 hex digits; the size from `X-Linked-Size`
 * (Hugging Face, before its redirect to the CDN) or `Content-Length`. Cross-origin, the host
 * must expose the headers.
 * @throws NetworkError when the request fails
 */
export async function hostFacts(url: URL, signal?: AbortSignal): Promise<HostFacts> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'HEAD', cache: 'no-store', ...(signal !== undefined ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted === true) throw error;
    throw new NetworkError(`Could not ask ${url.href} for its digest: ${(error as Error).message}`, { url: url.href }, { cause: error });
  }
  if (!response.ok) throw new NetworkError(`Asking ${url.href} for its digest failed: HTTP ${response.status}`, { url: url.href, status: response.status });
  const sizeText = response.headers.get('X-Linked-Size') ?? response.headers.get('Content-Length');
  const size = sizeText !== null && /^\d+$/.test(sizeText.trim()) ? Number(sizeText) : undefined;
  const withSize = size !== undefined ? { size } : {};
  const base64 = /sha-256=:?([A-Za-z0-9+/=]+):?/.exec(response.headers.get('Repr-Digest') ?? response.headers.get('Digest') ?? '')?.[1];
  if (base64 !== undefined) {
    return { sha256: Array.from(atob(base64), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(''), ...withSize };
  }
  for (const header of ['X-Linked-ETag', 'ETag']) {
    // Strong ETags only: a weak one may stand for another encoding of the bytes.
    const hex = /^"?([0-9a-fA-F]{64})"?$/.exec(response.headers.get(header) ?? '')?.[1];
    if (hex !== undefined) return { sha256: hex.toLowerCase(), ...withSize };
  }
  return withSize;
}

function noFact(file: ListedFile, baseUrl: string, field: 'sha256' | 'size'): never {
  const headers = field === 'sha256' ? 'Repr-Digest, Digest, X-Linked-ETag or a SHA-256 ETag' : 'X-Linked-Size or Content-Length';
  throw new ManifestError(`${file.path}: the file list gives no ${field} and the host reports none (${headers}, exposed to this origin): list its ${field}`, {
    source: baseUrl,
    path: file.path,
  });
}

/**
 * What the store relies on beyond the manifest's own schema: sizes are byte counts, digests are
 * SHA-256 in lower-case hex, each path appears once, and each is relative and stays inside the
 * folder of `source` (a manifest's URL, or a file list's base ending in "/"). A manifest may not
 * send the store to another host, or to files of another model beside it (`../other/…`); a
 * catalog entry names its host in its base URL, so the same rule holds for its files.
 */
function checkFiles(files: readonly StoredFile[], source: string): void {
  const seen = new Set<string>();
  const folder = new URL('./', source).href;
  files.forEach((file, index) => {
    const fail = (field: string, expected: string, got: unknown): never => {
      throw new ManifestError(`${source}: "files[${index}].${field}" must be ${expected}, got ${JSON.stringify(got)}`, {
        source,
        field: `files[${index}].${field}`,
      });
    };
    if (typeof file.path !== 'string' || file.path === '') fail('path', 'a non-empty relative path', file.path);
    if (!isInside(file.path, folder)) fail('path', `a relative path inside ${folder} (no "..", no absolute URL)`, file.path);
    if (seen.has(file.path)) fail('path', 'listed once', file.path);
    seen.add(file.path);
    if (!Number.isSafeInteger(file.size) || file.size < 0) fail('size', 'a byte count', file.size);
    if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256)) fail('sha256', '64 lower-case hex digits', file.sha256);
  });
}

/** Whether `path` is relative and, resolved, stays in `folder` (an absolute URL ending in "/"). */
function isInside(path: string, folder: string): boolean {
  // Backslashes count as slashes in URLs; a scheme or a leading slash makes the path absolute.
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || /^[\\/]/.test(path)) return false;
  const url = new URL(path, folder);
  return url.href.startsWith(folder) && !/(^|[\\/])(\.|%2e){2}([\\/]|$)/i.test(path);
}

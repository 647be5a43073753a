/**
 * Headless Chromium with WebGPU, and the project served by Vite on loopback: what the CLI and
 * the end-to-end tests both need to drive the engine in a real browser.
 *
 * There is no GPU here: Chromium's WebGPU runs on SwiftShader, which it exposes only with
 * `--enable-unsafe-webgpu` (without it `requestAdapter()` returns null).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { createServer } from 'vite';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Debian's chromium ships SwiftShader's Vulkan driver; CHROMIUM_PATH points elsewhere. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
}

export const CHROMIUM_ARGS: readonly string[] = [
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Chromium refuses to start its sandbox as root (containers, CI).
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

/**
 * Launches headless Chromium with WebGPU, or with WebGPU switched off (`webgpu: false`: no
 * adapter is offered, as in a browser without WebGPU) for the CPU fallback's tests.
 */
export function launchChromium(options: { readonly webgpu?: boolean } = {}): Promise<Browser> {
  const args =
    options.webgpu === false ? [...CHROMIUM_ARGS.filter((arg) => arg !== '--enable-unsafe-webgpu'), '--disable-features=WebGPU'] : [...CHROMIUM_ARGS];
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}

export interface ServedProject {
  /** Origin with no trailing slash, e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * Serves the repository with its own vite.config.ts on a free loopback port.
 * @param allow extra directories the page may read through /@fs/ (a model outside the repo)
 */
export async function serveProject(allow: readonly string[] = []): Promise<ServedProject> {
  // A checkout whose node_modules is a link to another (a git worktree sharing one install)
  // serves ONNX Runtime's wasm from the link's target, outside the root Vite allows by default.
  const modules = realpathSync(path.join(REPO_ROOT, 'node_modules'));
  const allowed = [REPO_ROOT, ...(modules.startsWith(REPO_ROOT) ? [] : [modules]), ...allow];
  const server = await createServer({
    root: REPO_ROOT,
    configFile: fileURLToPath(new URL('../../vite.config.ts', import.meta.url)),
    logLevel: 'warn',
    // A missing file must be a 404 for the engine to report, not index.html (the SPA fallback).
    appType: 'mpa',
    clearScreen: false,
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      ...(allowed.length > 1 ? { fs: { allow: allowed } } : {}),
    },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (address === null || address === undefined || typeof address === 'string') {
    await server.close();
    throw new Error(`Vite did not report a TCP address (got ${String(address)})`);
  }
  return { origin: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}

/**
 * Builds of the project into temporary folders, for tests that serve what a user would deploy:
 * the demo/PWA (`vite.config.ts`) and the library (`vite.lib.config.ts`). Each test file builds
 * once and removes its folder afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type InlineConfig } from 'vite';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';

export interface Built {
  readonly dir: string;
  remove(): Promise<void>;
}

/**
 * @param config 'app' (the demo and PWA) or 'lib' (the library)
 * @param overrides merged into the config (e.g. `define` for a changed version)
 */
export async function buildInto(config: 'app' | 'lib', overrides: InlineConfig = {}): Promise<Built> {
  const dir = await mkdtemp(join(tmpdir(), `webdiffusion-${config}-`));
  // Vitest sets NODE_ENV=test, and Vite then builds a non-production bundle (import.meta.env.PROD
  // false, so no service worker; Workbox in its debug build): test what `npm run build` makes.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      ...overrides,
      configFile: join(REPO_ROOT, config === 'app' ? 'vite.config.ts' : 'vite.lib.config.ts'),
      logLevel: 'warn',
      build: { ...overrides.build, outDir: dir, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

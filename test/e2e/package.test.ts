/**
 * The npm package as a web developer gets it: `npm pack` (which runs `npm run build:lib`), the
 * tarball installed into a scratch app outside the repository, then
 * (a) a Vite app importing `createEngine` from 'webdiffusion' and 'webdiffusion/element', built
 *     with Vite and served with the isolation headers, and
 * (b) a plain page whose `<script type="module">` imports the package's self-contained folder
 *     (dist/lib, as a CDN serves it), no build step;
 * each generating a judged picture through `createEngine` and through `<web-diffusion>`. On the
 * CPU backend (the bundled model: well under a second a picture); the builds are what cost.
 *
 * The install is offline: the package's dependencies (onnxruntime-web and what it needs, comlink,
 * …) are first copied into the scratch app from the repository's node_modules, as an app that
 * already has them; npm then keeps them and adds the tarball, with no registry and no cache.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { judgeImage, parsePrompt, scoreJudgement } from '../support/judge.ts';
import { launchChromium, REPO_ROOT } from '../../scripts/lib/browser.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const PROMPT_ENGINE = 'a yellow triangle on a purple background';
const PROMPT_ELEMENT = 'a red circle on a blue background';

/** What the pages hand back: one picture from `createEngine`, one from `<web-diffusion>`. */
interface Pictures {
  readonly engine: { pixels: number[]; width: number; height: number; backend: string };
  readonly element: { pixels: number[]; width: number; height: number };
}

declare global {
  interface Window {
    pictures: () => Promise<Pictures>;
  }
}

/**
 * The page script both apps run: the engine loads `engineModel` (a catalog id or a manifest
 * URL), the element `elementModel` (a manifest URL). Wrapped in a function the page
 * calls, so that a failure rejects `page.evaluate` with the page's error.
 */
const pageScript = (engineModel: string, elementModel: string): string => `
window.pictures = async () => {
  const engine = await createEngine();
  const info = await engine.loadModel(${JSON.stringify(engineModel)}, { backend: 'wasm' });
  const image = await engine.generate({ prompt: ${JSON.stringify(PROMPT_ENGINE)}, seed: 1 });
  await engine.dispose();

  const element = document.createElement('web-diffusion');
  element.setAttribute('model', ${JSON.stringify(elementModel)});
  element.setAttribute('prompt', ${JSON.stringify(PROMPT_ELEMENT)});
  element.setAttribute('seed', '1');
  const ready = new Promise((resolve, reject) => {
    element.addEventListener('error', (event) => reject(event.detail.error));
    const poll = () => (element.state === 'ready' ? resolve() : setTimeout(poll, 20));
    poll();
  });
  document.body.append(element);
  await ready;
  const picture = await element.generate();
  return {
    engine: { pixels: Array.from(image.pixels), width: image.width, height: image.height, backend: info.backend },
    element: { pixels: Array.from(picture.image.pixels), width: picture.image.width, height: picture.image.height },
  };
};
`;

function expectJudged(prompt: string, picture: { pixels: number[]; width: number; height: number }): void {
  const judged = judgeImage(Uint8ClampedArray.from(picture.pixels), picture.width, picture.height);
  expect(scoreJudgement(parsePrompt(prompt), judged).all, `${prompt}: ${JSON.stringify(judged)}`).toBe(true);
}

/** Runs `command` with NODE_ENV=production (Vitest's 'test' would make `npm pack`'s build a dev build). */
function runProduction(command: string, args: string[], cwd: string): Promise<{ stdout: string }> {
  return run(command, args, { cwd, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 64 * 1024 * 1024 });
}

/** `names` and everything they depend on, as installed (hoisted) in the repository's node_modules. */
async function dependencyClosure(names: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (found.has(name)) return;
    found.add(name);
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'));
    for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) await visit(dependency);
  };
  for (const name of names) await visit(name);
  return found;
}

interface PackedFile {
  readonly path: string;
  readonly size: number;
}

let scratch: string;
let packed: { filename: string; size: number; unpackedSize: number; files: PackedFile[] };
let app: string;
let server: StaticServer;
let browser: Browser;
let log: string[] = [];
const timings: Record<string, number> = {};

async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    timings[name] = Math.round(performance.now() - start);
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'webdiffusion-package-'));
  const { stdout } = await timed('npm pack (build:lib included)', () => runProduction(npm, ['pack', '--json', '--pack-destination', scratch], REPO_ROOT));
  // npm prints the prepack script's output before the JSON.
  [packed] = JSON.parse(stdout.slice(stdout.indexOf('[\n')));

  app = join(scratch, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  const ours = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
  await timed('dependencies copied', async () => {
    for (const name of await dependencyClosure(Object.keys({ ...ours.dependencies, ...ours.peerDependencies }))) {
      await cp(join(REPO_ROOT, 'node_modules', name), join(app, 'node_modules', name), { recursive: true, dereference: true });
    }
  });
  await timed('npm install', () =>
    runProduction(
      npm,
      ['install', '--offline', '--cache', join(scratch, 'npm-cache'), '--no-audit', '--no-fund', '--ignore-scripts', join(scratch, packed.filename)],
      app,
    ),
  );

  // (a) The Vite app: the model copied into public/, as the README says; the catalog id
  // 'tiny-shapes' finds it there (under the app's BASE_URL, which the app's Vite fills in).
  await cp(join(app, 'node_modules/webdiffusion/dist/lib/models/tiny-shapes'), join(app, 'public/models/tiny-shapes'), { recursive: true });
  await writeFile(join(app, 'index.html'), '<!doctype html>\n<title>app</title>\n<script type="module" src="./main.js"></script>\n');
  await writeFile(
    join(app, 'main.js'),
    `import { createEngine } from 'webdiffusion';\nimport 'webdiffusion/element';\n${pageScript('tiny-shapes', 'tiny-shapes')}`,
  );
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await timed('vite build of the app', () =>
      build({ root: app, configFile: false, logLevel: 'warn', worker: { format: 'es' }, build: { outDir: join(app, 'dist') } }),
    );
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }

  // (b) The plain page, beside the package's folder mounted at /webdiffusion/.
  const plain = join(scratch, 'plain');
  await mkdir(plain);
  await writeFile(
    join(plain, 'index.html'),
    `<!doctype html>\n<title>plain</title>\n<script type="module">\nimport { createEngine } from './webdiffusion/webdiffusion.js';\n${pageScript(
      './webdiffusion/models/tiny-shapes/manifest.json',
      './webdiffusion/models/tiny-shapes/manifest.json',
    )}</script>\n`,
  );

  server = await startStaticServer({ '/': join(app, 'dist'), '/plain/': plain, '/plain/webdiffusion/': join(app, 'node_modules/webdiffusion/dist/lib') });
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  console.log(
    `package test: tarball ${(packed?.size / 1e6).toFixed(1)} MB (${(packed?.unpackedSize / 1e6).toFixed(1)} MB unpacked); ${JSON.stringify(timings)}`,
  );
  await browser?.close();
  await server?.close();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

beforeEach((context) => {
  log = [];
  context.onTestFailed(() => console.error(['--- browser console ---', ...log, '--- end ---'].join('\n')));
});

async function picturesFrom(url: string): Promise<Pictures> {
  const page: Page = await (await browser.newContext()).newPage();
  page.on('console', (message) => log.push(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => log.push(`[pageerror] ${error.stack ?? error.message}`));
  await page.goto(url);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  return page.evaluate(() => window.pictures());
}

describe('the npm package', () => {
  it('holds the library and the bundled model, and no tests, training code or benchmarks', () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => /^(test|bench|scripts|src|models)\/|\/training\/|\.test\.|\.py$/.test(path))).toEqual([]);
    for (const path of [
      'package.json',
      'README.md',
      'dist/npm/index.js',
      'dist/npm/element.js',
      'dist/npm/queue.js',
      'dist/npm/history.js',
      'dist/npm/png.js',
      'dist/npm/worker.js',
      'dist/types/index.d.ts',
      'dist/types/entries/element.d.ts',
      'dist/lib/webdiffusion.js',
      'dist/lib/models/tiny-shapes/manifest.json',
    ]) {
      expect(paths).toContain(path);
    }
    // One model: the bundled one, not its quantized or distilled siblings.
    expect(paths.filter((path) => path.startsWith('dist/lib/models/') && !path.startsWith('dist/lib/models/tiny-shapes/'))).toEqual([]);
  });

  it('in a Vite app: createEngine and <web-diffusion> each make the judged picture', async () => {
    const pictures = await timed('vite app pictures', () => picturesFrom(`${server.origin}/`));
    expect(pictures.engine.backend).toBe('wasm');
    expectJudged(PROMPT_ENGINE, pictures.engine);
    expectJudged(PROMPT_ELEMENT, pictures.element);
  });

  it('from a folder, in a plain <script type="module">: createEngine and <web-diffusion> each make the judged picture', async () => {
    const pictures = await timed('plain page pictures', () => picturesFrom(`${server.origin}/plain/`));
    expectJudged(PROMPT_ENGINE, pictures.engine);
    expectJudged(PROMPT_ELEMENT, pictures.element);
  });
});

/**
 * A headless Chromium page on the project served by Vite, for tests that need real WebGPU
 * (test/gpu, test/e2e). Serving and launching are shared with the CLI (scripts/lib/browser.ts).
 *
 * Exports:
 *
 * - `openBrowserPage(pathname, options?)` → `BrowserPage`: serves the repository on a free
 *   loopback port, launches /usr/bin/chromium (CHROMIUM_PATH overrides) with WebGPU on,
 *   opens `pathname` and records the page's console and uncaught errors. `close()` ends all.
 * - `useBrowserPage(pathname, options?)` → `BrowserPage`-like handle for one test file: opens the
 *   page in `beforeAll`, closes it in `afterAll`, and prints the page's console and errors into
 *   the test output when a test (or the opening itself) fails. Read `handle.page` inside tests.
 *
 * `page.evaluate` has no timeout of its own: the test's timeout governs long GPU work.
 *
 * There is no GPU here: Chromium's WebGPU runs on SwiftShader (tens of seconds for a tiny
 * model's first run, shaders compiling), so tests use tiny models and generous timeouts.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { launchChromium, serveProject, type ServedProject } from '../../scripts/lib/browser.ts';

export interface BrowserPage {
  readonly page: Page;
  /** Origin the project is served from, no trailing slash. */
  readonly origin: string;
  /** Console messages of the page and its workers, `[type] text`, oldest first. */
  readonly consoleLines: string[];
  /** Uncaught errors of the page; a test that expects none asserts this is empty. */
  readonly pageErrors: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Resolves once the page is ready, e.g. `(page) => page.waitForFunction(() => window.ready)`. */
  readonly ready?: (page: Page) => Promise<unknown>;
  /** Milliseconds `ready` may take; default 120 000. */
  readonly readyTimeoutMs?: number;
  /** False: Chromium with WebGPU switched off (no adapter is offered). Default true. */
  readonly webgpu?: boolean;
  /** Runs in the page before any of its scripts (Playwright's `addInitScript`). */
  readonly initScript?: () => void;
}

/**
 * Serves the project, launches Chromium and opens `pathname` (e.g. '/test/pages/kernels.html').
 * @throws whatever serving, launching or `ready` throws, after closing what was started
 */
export async function openBrowserPage(pathname: string, options: OpenOptions = {}): Promise<BrowserPage> {
  let served: ServedProject | undefined;
  let browser: Browser | undefined;
  const consoleLines: string[] = [];
  const pageErrors: string[] = [];
  try {
    served = await serveProject();
    browser = await launchChromium({ webgpu: options.webgpu ?? true });
    const page = await browser.newPage();
    page.setDefaultTimeout(options.readyTimeoutMs ?? 120_000);
    // Worker consoles arrive here too (Chromium forwards dedicated workers' messages).
    page.on('console', (message) => consoleLines.push(`[${message.type()}] ${message.text()}`));
    page.on('pageerror', (error) => pageErrors.push(error.stack ?? error.message));
    if (options.initScript !== undefined) await page.addInitScript(options.initScript);
    await page.goto(`${served.origin}${pathname}`);
    if (options.ready !== undefined) await options.ready(page);
    const [openBrowser, openServer] = [browser, served];
    return {
      page,
      origin: served.origin,
      consoleLines,
      pageErrors,
      close: async () => {
        await openBrowser.close();
        await openServer.close();
      },
    };
  } catch (error) {
    printPageLog(`opening ${pathname} failed`, consoleLines, pageErrors);
    await browser?.close();
    await served?.close();
    throw error;
  }
}

/**
 * Opens `pathname` once for the calling test file (`beforeAll`), closes it afterwards, and prints
 * the page's console when a test fails. The returned handle's `page` is valid inside tests.
 */
export function useBrowserPage(pathname: string, options: OpenOptions & { readonly openTimeoutMs?: number } = {}): BrowserPage {
  let opened: BrowserPage | undefined;
  let firstLineOfTest = 0;
  const current = (): BrowserPage => {
    if (opened === undefined) throw new Error(`${pathname} is not open: use the handle inside tests, after beforeAll`);
    return opened;
  };
  beforeAll(async () => {
    opened = await openBrowserPage(pathname, options);
  }, options.openTimeoutMs ?? 180_000);
  beforeEach((context) => {
    firstLineOfTest = opened?.consoleLines.length ?? 0;
    context.onTestFailed(() => {
      if (opened !== undefined) {
        printPageLog(context.task.name, opened.consoleLines.slice(firstLineOfTest), opened.pageErrors);
      }
    });
  });
  afterAll(async () => {
    await opened?.close();
  });
  return {
    get page() {
      return current().page;
    },
    get origin() {
      return current().origin;
    },
    get consoleLines() {
      return current().consoleLines;
    },
    get pageErrors() {
      return current().pageErrors;
    },
    close: () => current().close(),
  };
}

function printPageLog(what: string, consoleLines: readonly string[], pageErrors: readonly string[]): void {
  const lines = [`--- browser console (${what}) ---`, ...consoleLines, ...pageErrors.map((error) => `[pageerror] ${error}`), '--- end of browser console ---'];
  console.error(lines.join('\n'));
}

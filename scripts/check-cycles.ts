/**
 * Import cycles in src/, type-only imports included: ESLint's import-x/no-cycle skips `import
 * type`, but a cycle of types still ties two modules' designs together (neither can be read, or
 * moved, without the other). Prints each cycle once and exits 1 when there is any.
 * `npm run lint` runs it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from './lib/browser.ts';

async function sourceFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sourceFiles(path)));
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}

/** The project's own modules a file imports (statically: `import`, `import type`, `export … from`). */
async function importsOf(file: string, known: ReadonlySet<string>): Promise<string[]> {
  const { importedFiles } = ts.preProcessFile(await readFile(file, 'utf8'), true, false);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name.replace(/\?.*$/, '')))
    .filter((path) => known.has(path));
}

/** Every elementary cycle's smallest rotation, found by depth-first search from each module. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const seen = new Set<string>();
  const found: string[][] = [];
  const walk = (start: string, node: string, path: string[]): void => {
    for (const next of graph.get(node) ?? []) {
      if (next === start) {
        const smallest = path.reduce((best, candidate, i) => (candidate < path[best]! ? i : best), 0);
        const rotated = [...path.slice(smallest), ...path.slice(0, smallest)];
        const key = rotated.join(' → ');
        if (!seen.has(key)) {
          seen.add(key);
          found.push(rotated);
        }
      } else if (next > start && !path.includes(next)) {
        // Only cycles whose smallest module is `start`: each is found from one place.
        walk(start, next, [...path, next]);
      }
    }
  };
  for (const start of [...graph.keys()].sort()) walk(start, start, [start]);
  return found;
}

async function main(): Promise<void> {
  const files = await sourceFiles(join(REPO_ROOT, 'src'));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) graph.set(file, await importsOf(file, known));
  const found = cycles(graph);
  for (const cycle of found) console.error(`import cycle: ${[...cycle, cycle[0]!].map((file) => relative(REPO_ROOT, file)).join(' → ')}`);
  if (found.length > 0) {
    console.error(`${found.length} import cycle(s) in src/: move what both sides need into a module of its own`);
    process.exit(1);
  }
  console.log(`no import cycles among ${files.length} modules of src/`);
}

await main();

/**
 * Runs benchmarks by name: `npm run bench` runs them all, `npm run bench -- storage` (or `generate`, `load`) one.
 * Options after the names go to each benchmark (`npm run bench -- load --variants q4`).
 * Each prints its figures and writes them to bench/results/<name>.json.
 */
const BENCHMARKS: Record<string, () => Promise<{ run(argv: readonly string[]): Promise<void> }>> = {
  storage: () => import('./storage.ts'),
  generate: () => import('./generate.ts'),
  load: () => import('./load.ts'),
};

async function main(argv: readonly string[]): Promise<void> {
  const firstOption = argv.findIndex((arg) => arg.startsWith('--'));
  const requested = firstOption === -1 ? argv : argv.slice(0, firstOption);
  const options = firstOption === -1 ? [] : argv.slice(firstOption);
  const unknown = requested.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Known: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  for (const name of requested.length > 0 ? requested : Object.keys(BENCHMARKS)) {
    await (await BENCHMARKS[name]!()).run(options);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

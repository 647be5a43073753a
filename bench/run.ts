/**
 * Runs benchmarks by name: `npm run bench` runs them all, `npm run bench -- storage` (or `generate`) one.
 * Each prints its figures and writes them to bench/results/<name>.json.
 */
const BENCHMARKS: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  storage: () => import('./storage.ts'),
  generate: () => import('./generate.ts'),
};

async function main(requested: readonly string[]): Promise<void> {
  const unknown = requested.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Known: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  for (const name of requested.length > 0 ? requested : Object.keys(BENCHMARKS)) {
    await (await BENCHMARKS[name]!()).run();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

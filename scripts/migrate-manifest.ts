/**
 * `npm run migrate-manifest -- <model folder | manifest.json>…`: rewrites an old-format manifest
 * ("webdiffusion-manifest/1") as the model's descriptor in the current format (a catalog entry,
 * "webdiffusion-catalog/1"), in place. The runtime reads old manifests too; migrated ones carry
 * what device fitting and the model picker read (memory, contracts) without being guessed anew
 * on every load. A manifest already in the current format is left alone.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CATALOG_FORMAT } from '../src/models/catalog.ts';
import { isLegacyManifest, migrateManifest } from '../src/models/manifest.ts';

async function migrate(input: string): Promise<void> {
  const file = (await stat(input)).isDirectory() ? path.join(input, 'manifest.json') : input;
  const json: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!isLegacyManifest(json)) {
    console.log(`${file}: already in the current format`);
    return;
  }
  // Served beside its files: the source is where it is fetched from, not where it was migrated.
  const { source: _here, ...entry } = migrateManifest(json, pathToFileURL(path.resolve(file)).href);
  await writeFile(file, `${JSON.stringify({ format: CATALOG_FORMAT, ...entry }, null, 2)}\n`);
  console.log(`${file}: migrated to ${CATALOG_FORMAT}`);
}

const inputs = process.argv.slice(2);
if (inputs.length === 0) {
  console.error('usage: npm run migrate-manifest -- <model folder | manifest.json>…');
  process.exit(2);
}
for (const input of inputs) await migrate(input);

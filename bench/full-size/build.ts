/**
 * `npm run stand-in:full -- [sd-turbo] [sd-turbo-deep] [--force]`: builds the full-size stand-ins
 * (bench/full-size/stand-ins.ts) into out-full/; sd-turbo when none is named.
 */
import { parseArgs } from 'node:util';
import { STAND_INS, buildStandIn, type StandInName } from './stand-ins.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { force: { type: 'boolean' } } });
const names = positionals.length > 0 ? positionals : ['sd-turbo'];
const unknown = names.filter((name) => !(name in STAND_INS));
if (unknown.length > 0) {
  console.error(`Unknown stand-in(s): ${unknown.join(', ')}. Known: ${Object.keys(STAND_INS).join(', ')}`);
  process.exit(2);
}
for (const name of names) await buildStandIn(name as StandInName, values.force ?? false);

// Makes sure a Chromium with SwiftShader's WebGPU is installed before the CLI or the tests run.
// Debian's package is the one we rely on (playwright's own browser download needs the internet).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(path)) {
  const command = 'apt-get update && apt-get install -y chromium';
  if (process.env.CHROMIUM_PATH !== undefined) {
    console.error(`CHROMIUM_PATH=${path} does not exist; unset it to use Debian's chromium, or fix the path.`);
    process.exit(1);
  }
  if (process.getuid?.() !== 0) {
    console.error(`Chromium is missing at ${path}. Install it with:\n  sudo sh -c '${command}'`);
    process.exit(1);
  }
  console.error(`Chromium is missing at ${path}; running: ${command}`);
  const result = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0 || !existsSync(path)) {
    console.error(`Installing chromium failed (exit ${result.status ?? result.signal}); run as root: ${command}`);
    process.exit(1);
  }
}

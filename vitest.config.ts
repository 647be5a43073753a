import { defineConfig } from 'vitest/config';

// One config for every test folder (unit/, gpu/, e2e/); each folder's files set up what they need.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Browser tests (gpu/, e2e/) each start Chromium on SwiftShader: one file at a time, with
    // timeouts for a software GPU. Unit tests finish far inside them.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});

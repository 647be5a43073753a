import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit` (test/unit): Node only, files in parallel, normal timeouts. `browser`
 * (every other folder: gpu/, e2e/, storage/, history/, faults/, app/): each file starts Chromium
 * on SwiftShader, so one file at a time, with timeouts for a software GPU. `npm test` runs both
 * (unit first); `npm run test:unit` and `npm run test:browser` one each.
 */
export default defineConfig({
  test: {
    // The browser project's files must not overlap: run the projects one after another.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          fileParallelism: true,
          testTimeout: 30_000,
          hookTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

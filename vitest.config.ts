import { defineConfig } from 'vitest/config';

// One config for every test folder (unit/, gpu/, e2e/); each folder's files set up what they need.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
  },
});

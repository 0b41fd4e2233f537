import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One process per test file: the native thread pool is process-wide and
    // some tests change its size.
    pool: 'forks',
    testTimeout: 60_000,
  },
});

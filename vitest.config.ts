import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Starts (or reuses) Postgres, Redis and Kafka; see test/setup/global-setup.ts.
    globalSetup: ['test/setup/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 240_000,
    pool: 'forks',
  },
});

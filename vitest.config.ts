import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs on the in-memory queue and embedded PGlite (no services needed);
// `integration` runs against the real Redis and PostgreSQL on 127.0.0.1, each test file
// with its own database and Redis key prefix, and spawns real processes from dist/.
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

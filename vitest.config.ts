import { defineConfig } from 'vitest/config';

// Four projects: `unit` runs on the in-memory queue and embedded PGlite (no services needed);
// `integration` runs against the real Redis and PostgreSQL on 127.0.0.1, each test file
// with its own database and Redis key prefix, and spawns real processes from dist/; `e2e`
// drives the web console in Chromium against such processes; `infra`
// checks infra/ (the same services, plus Prometheus' and Alertmanager's tools).
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
      {
        // The web console in a real browser (Debian's Chromium through playwright-core) against
        // serve and worker processes on Redis and PostgreSQL (README, "Web console").
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
      {
        // infra/: the image, compose and monitoring files, checked with the tools CI has
        // (promtool, amtool, docker-compose) and against real processes.
        extends: true,
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

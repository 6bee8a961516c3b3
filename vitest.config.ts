import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // one test file per core (vitest's default leaves one core idle: on CI's two, half the machine);
    // the wasm backend is single-threaded, and the CLI tests mostly wait on their child processes
    maxWorkers: availableParallelism(),
    reporters: ['default', './test/summary-reporter.ts'],
  },
});

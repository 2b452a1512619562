import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Docker stack's end-to-end suite runs against a running stack: vitest.e2e.config.ts; the
    // docker runtime's suite needs an engine and the image: vitest.docker.config.ts.
    exclude: ['test/e2e/**', 'test/docker/**', 'node_modules/**'],
    // Real kernels on a 2-core machine: one file at a time keeps them from starving each other.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    restoreMocks: true,
    mockReset: true,
    unstubEnvs: true,
  },
})

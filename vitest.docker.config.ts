import { defineConfig } from 'vitest/config'

// The docker runtime's suite (SANDBOX_RUNTIME=docker): a real Docker engine and the sandbox image
// (scripts/test-docker.sh builds it). Skips loudly without them; DOCKER_REQUIRED=1 makes that a
// failure. Run: npx vitest run -c vitest.docker.config.ts
export default defineConfig({
  test: {
    include: ['test/docker/**/*.test.ts'],
    // Containers on a small machine: one file at a time keeps them from starving each other.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    restoreMocks: true,
    mockReset: true,
    unstubEnvs: true,
  },
})

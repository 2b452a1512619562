import { defineConfig } from 'vitest/config'

// The Docker stack's end-to-end suite: runs against a stack that is already up (see
// scripts/test-docker.sh, which brings it up, runs this and takes it down).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    // One stack, shared: files must not restart its containers under each other.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    restoreMocks: true,
    unstubEnvs: true,
  },
})

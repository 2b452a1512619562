import { defineConfig } from 'vitest/config'

/**
 * One configuration, five projects; pick with --project (a bare `vitest run` runs all five):
 * - unit: the fast layer, `*.unit.test.ts` next to the tests of the same area; no Jupyter, no
 *   Docker, no network (`createApp` over stand-ins, `app.request`). Under 10 s.
 * - kernels: real Jupyter kernels (process runtime), real MCP clients, the eval CLI.
 * - docker: the docker runtime (SANDBOX_RUNTIME=docker) on a real engine and the sandbox image
 *   (scripts/test-docker.sh builds it). Skips loudly without them; DOCKER_REQUIRED=1 fails instead.
 * - e2e: the Docker stack, already up (scripts/test-docker.sh brings it up and down).
 * - swarm: the swarm runtime on a real Swarm, its sandbox service already running there
 *   (SWARM_SANDBOX_URL, SWARM_DOCKER_HOST; see test/swarm/helpers.ts). Skips loudly without them;
 *   SWARM_REQUIRED=1 fails instead. scripts/test-swarm.sh builds a Swarm of Docker-in-Docker
 *   nodes, deploys deploy/stack.yml there and runs this project against it.
 */
export default defineConfig({
  test: {
    restoreMocks: true,
    mockReset: true,
    unstubEnvs: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.unit.test.ts'],
          testTimeout: 5_000,
          // Nothing here holds state between tests (each builds its own app and stand-ins), so the
          // files share one module graph in worker threads: 4 s instead of 15 s under load here.
          pool: 'threads',
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'kernels',
          include: ['test/**/*.test.ts'],
          exclude: [
            'test/**/*.unit.test.ts',
            'test/e2e/**',
            'test/docker/**',
            'test/swarm/**',
            'node_modules/**',
          ],
          // Real kernels on a 2-core machine: one file at a time keeps them from starving each other.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          // Containers on a small machine: one file at a time keeps them from starving each other.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          // One stack, shared: files must not restart its containers under each other.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'swarm',
          include: ['test/swarm/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          // One cluster, shared; the node-death file kills a worker: files run one at a time.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
})

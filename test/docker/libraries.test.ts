/**
 * The kernels' libraries on the docker runtime, in both image profiles: the full image
 * (SANDBOX_DOCKER_IMAGE, the stack's default build) runs the shared suite
 * (test/shared/libraries.suite.ts); the slim image (SANDBOX_DOCKER_SLIM_IMAGE, default
 * sandbox-code-interpreter/sandbox:slim, which scripts/test-docker.sh builds) runs the core stack
 * and answers a full-only import with a plain ModuleNotFoundError.
 *
 * A missing slim image skips its tests loudly, and fails them under DOCKER_REQUIRED=1 (CI).
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeLibraries, displayedPng, FULL_ONLY_MODULES } from '../shared/libraries.suite.js'
import {
  createContext,
  DOCKER,
  type DockerSandbox,
  dockerRuntime,
  exec,
  removeScope,
  skipDocker,
  startDockerSandbox,
} from './helpers.js'

const SLIM_IMAGE = process.env.SANDBOX_DOCKER_SLIM_IMAGE ?? 'sandbox-code-interpreter/sandbox:slim'

/** Why the slim image cannot be tested here, or undefined when it can. */
function slimUnavailable(): string | undefined {
  if (skipDocker) return 'no usable Docker engine'
  try {
    execFileSync(DOCKER, ['image', 'inspect', SLIM_IMAGE], { stdio: 'ignore', timeout: 15_000 })
    return undefined
  } catch {
    return `image ${SLIM_IMAGE} is missing (scripts/test-docker.sh builds it; or docker build -f Dockerfile.sandbox --build-arg SANDBOX_PROFILE=slim -t ${SLIM_IMAGE} .)`
  }
}

const slimReason = slimUnavailable()
if (slimReason && process.env.DOCKER_REQUIRED === '1') {
  throw new Error(`DOCKER_REQUIRED=1 but the slim profile cannot be tested: ${slimReason}`)
}
if (slimReason) {
  console.warn(
    `\n${'#'.repeat(72)}\n# SKIPPED: slim profile tests NOT run: ${slimReason}\n# (DOCKER_REQUIRED=1 makes this a failure)\n${'#'.repeat(72)}\n`,
  )
}

describeLibraries(dockerRuntime)

describe.skipIf(slimReason !== undefined)('docker runtime: the slim profile', () => {
  let s: DockerSandbox
  let ctx: string
  beforeAll(async () => {
    s = await startDockerSandbox({ SANDBOX_DOCKER_IMAGE: SLIM_IMAGE })
    ctx = await createContext(s)
  })
  afterAll(async () => {
    try {
      await s?.close()
    } finally {
      if (s) await removeScope(s.scope)
    }
  })

  it('runs the core stack: numpy, pandas and a matplotlib figure as image/png', async () => {
    const result = await exec(
      s,
      ctx,
      [
        'import numpy as np, pandas as pd, matplotlib.pyplot as plt',
        'df = pd.DataFrame({"x": np.arange(5), "y": np.arange(5) ** 2})',
        'print(int(df.y.sum()))',
        'df.plot(x="x", y="y")',
        'plt.show()',
      ].join('\n'),
      // Seconds: the first import of the stack in a fresh container, on a loaded machine.
      120,
    )
    expect(result.output.stdout).toBe('30\n')
    displayedPng(result)
  }, 180_000)

  it('answers a full-only import with ModuleNotFoundError naming the module', async () => {
    for (const module of FULL_ONLY_MODULES) {
      const result = await exec(s, ctx, `import ${module}`)
      expect(result.success).toBe(false)
      expect(result.error).toMatchObject({
        name: 'ModuleNotFoundError',
        value: `No module named '${module}'`,
      })
    }
  })
})

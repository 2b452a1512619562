import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { vi } from 'vitest'
import { createSandboxClient } from '../../client/index.js'
import { freePort } from '../../sandbox/jupyter/server.js'
import { rawRequester } from './sandbox.js'

/**
 * Starts the real service as its own process (`node --import tsx sandbox/main.ts`) on a random
 * port, so tests can measure it from outside (pid, RSS, fds) and kill it. Its `client` is the typed
 * sandbox client (with SANDBOX_API_KEY when given); `rawRequest` is for tests of the wire itself.
 * @param env - SANDBOX_* settings on top of the test process environment
 */
export async function spawnService(env: Record<string, string> = {}) {
  const workspaceRoot = await mkdtemp(path.join(os.tmpdir(), 'sci-service-'))
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox/main.ts'], {
    env: {
      ...process.env,
      SANDBOX_PORT: String(port),
      // Tests spawn services side by side: the E2B SDK's fixed ports stay off unless asked for.
      SANDBOX_E2B_PORT: '0',
      SANDBOX_ENVD_PORT: '0',
      SANDBOX_WORKSPACE_ROOT: workspaceRoot,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  // Keep reading its log so a full pipe never blocks it.
  child.stderr.resume()
  // Its workspace root goes with it: nothing reuses it, and every file left in the shared temp
  // dirs costs each later kernel uid cleanup on this machine a look.
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      void rm(workspaceRoot, { recursive: true, force: true }).finally(() => resolve(code))
    }),
  )
  const gone = () => child.exitCode !== null || child.signalCode !== null
  await vi
    .waitFor(
      async () => {
        if (gone()) return // reported below, without waiting out the deadline
        const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        )
        if (!healthy) throw new Error('service not healthy within 60 s')
      },
      { timeout: 60_000, interval: 100 },
    )
    .catch((error: unknown) => {
      child.kill('SIGKILL')
      throw error
    })
  if (gone())
    throw new Error(
      `service exited with ${child.exitCode ?? child.signalCode} before it was healthy`,
    )
  const baseUrl = `http://127.0.0.1:${port}`
  const client = createSandboxClient({ baseUrl, apiKey: env.SANDBOX_API_KEY })
  return { child, exited, baseUrl, client, rawRequest: rawRequester(baseUrl), workspaceRoot }
}

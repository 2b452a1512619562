import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/**
 * Starts the real service as its own process (`node --import tsx sandbox/main.ts`) on a random
 * port, so tests can measure it from outside (pid, RSS, fds) and kill it.
 * @param env - SANDBOX_* settings on top of the test process environment
 */
export async function spawnService(env: Record<string, string> = {}) {
  const workspaceRoot = await mkdtemp(path.join(os.tmpdir(), 'sci-service-'))
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox/main.ts'], {
    env: {
      ...process.env,
      SANDBOX_PORT: '0',
      SANDBOX_WORKSPACE_ROOT: workspaceRoot,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const match = /"port":(\d+),"msg":"sandbox listening"/.exec(chunk)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', () => reject(new Error('service exited before listening')))
  })
  const baseUrl = `http://127.0.0.1:${port}`
  // biome-ignore lint/suspicious/noExplicitAny: tests read loosely-typed JSON bodies
  const api = async (
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: any }> => {
    const response = await fetch(baseUrl + route, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    try {
      return { status: response.status, body: JSON.parse(text) }
    } catch {
      return { status: response.status, body: text }
    }
  }
  return { child, exited, baseUrl, api, workspaceRoot }
}

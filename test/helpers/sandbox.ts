import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { type Config, loadConfig } from '../../sandbox/config.js'
import { createLogger } from '../../sandbox/logger.js'
import { createSandbox, type Sandbox } from '../../sandbox/sandbox.js'

export type RunningSandbox = AsyncDisposable & {
  baseUrl: string
  sandbox: Sandbox
  /** Sends a JSON request and returns the status and parsed body. */
  api: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any }>
  close: () => Promise<void>
}

/**
 * Starts the real sandbox (Jupyter Server, kernels, warm pool) behind a real HTTP listener on a
 * random loopback port.
 */
export async function startSandbox(overrides: Partial<Config> = {}): Promise<RunningSandbox> {
  const config = loadConfig(
    { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', SANDBOX_POOL_PYTHON: '1' },
    overrides,
  )
  const log = createLogger(config.logLevel)
  const sandbox = await createSandbox(config, log)
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const api: RunningSandbox['api'] = async (method, path, body, headers = {}) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {}
    return { status: response.status, body: parsed }
  }
  const close = async () => {
    server.close()
    await sandbox.close()
  }
  return { baseUrl, sandbox, api, close, [Symbol.asyncDispose]: close }
}

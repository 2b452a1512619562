import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createSandboxClient, type SandboxClient } from '../../client/index.js'
import { ErrorBody } from '../../sandbox/api.js'
import { type Config, loadConfig } from '../../sandbox/config.js'
import { createLogger } from '../../sandbox/logger.js'
import { createSandbox, type Sandbox } from '../../sandbox/sandbox.js'

/**
 * A sandbox URL nothing listens on, refused at once: a privileged port (no test binds one) that is
 * not on fetch's list of bad ports. Not a freed ephemeral port: under load a kernel's ZMQ socket
 * can take that port, accept the connection and never answer.
 */
export const UNREACHABLE_SANDBOX_URL = 'http://127.0.0.1:2'

/** An HTTP answer as it came over the wire: its status, headers and body (parsed when JSON). */
export type RawResponse = { status: number; headers: Headers; body: unknown }

/**
 * One HTTP request as is, for tests of the wire itself (malformed JSON, content types, raw status
 * codes, headers); everything else goes through the typed client. A string body is sent verbatim,
 * anything else as JSON.
 */
export type RawRequest = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<RawResponse>

export type RunningSandbox = AsyncDisposable & {
  baseUrl: string
  sandbox: Sandbox
  /** The typed sandbox client against the real HTTP listener, with the sandbox's API key. */
  client: SandboxClient
  /** Raw HTTP against the listener, without the API key unless given in `headers`. */
  rawRequest: RawRequest
  close: () => Promise<void>
}

/** Builds a raw requester on an origin. */
export function rawRequester(baseUrl: string): RawRequest {
  return async (method, path, body, headers = {}) => {
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
    return { status: response.status, headers: response.headers, body: parsed }
  }
}

/** The `error` of a raw answer's body when it is the sandbox's error envelope, else undefined. */
export function errorOf(body: unknown): ErrorBody['error'] | undefined {
  const envelope = ErrorBody.safeParse(body)
  return envelope.success ? envelope.data.error : undefined
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
  const client = createSandboxClient({ baseUrl, apiKey: config.apiKey })
  const close = async () => {
    server.close()
    await sandbox.close()
  }
  return {
    baseUrl,
    sandbox,
    client,
    rawRequest: rawRequester(baseUrl),
    close,
    [Symbol.asyncDispose]: close,
  }
}

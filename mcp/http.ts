import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import type { McpConfig } from './config.js'
import { hostAndOriginCheck, jsonRpcError } from './http-guards.js'
import { createServer, type ServerDeps } from './server.js'

/** Deadline of the sandbox's health check behind GET /health. */
const HEALTH_TIMEOUT_MS = 5000 // 5 s

type Session = {
  transport: WebStandardStreamableHTTPServerTransport
  cleanup: () => Promise<void>
  lastSeen: number
}

/**
 * The Streamable HTTP endpoint at /mcp, with stateful sessions: each session has its own McpServer
 * (and so its own request ids and notifications), while all share `deps`. Sessions unused for
 * MCP_SESSION_IDLE_TIMEOUT are closed, since many clients never DELETE theirs.
 * @returns the Hono app, and close() to end every session
 */
export function createHttpApp(config: McpConfig, deps: ServerDeps) {
  const sessions = new Map<string, Session>()
  const { log } = deps

  function closeSession(id: string | undefined): void {
    const session = id === undefined ? undefined : sessions.get(id)
    if (!session || id === undefined) return
    sessions.delete(id)
    session.cleanup().catch((error) => log.warn({ err: error, sessionId: id }, 'session close'))
  }

  async function startSession(request: Request): Promise<Response> {
    const { server, cleanup } = createServer(deps)
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, cleanup, lastSeen: Date.now() })
        log.debug({ sessionId: id }, 'session started')
      },
    })
    // Set before connect(), which chains its own handler after this one.
    transport.onclose = () => closeSession(transport.sessionId)
    await server.connect(transport)
    const response = await transport.handleRequest(request)
    // Anything but initialize was refused by the transport: there is no session to keep.
    if (transport.sessionId === undefined) await cleanup()
    return response
  }

  const app = new Hono()
  // Healthy when the sandbox behind it is: a server whose every tool call would fail is down.
  app.get('/health', async (c) => {
    try {
      await deps.sandbox.health({ signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
      return c.text('OK')
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      return c.text(`UNAVAILABLE: ${reason}`, 503)
    }
  })
  app.use('/mcp', hostAndOriginCheck(config))
  if (config.apiKey) app.use('/mcp', bearerAuth({ token: config.apiKey }))
  app.all('/mcp', async (c) => {
    const sessionId = c.req.header('mcp-session-id')
    if (sessionId === undefined) return startSession(c.req.raw)
    const session = sessions.get(sessionId)
    if (!session) {
      return jsonRpcError(c, 404, -32001, 'Session not found: send initialize to start a new one')
    }
    session.lastSeen = Date.now()
    return session.transport.handleRequest(c.req.raw)
  })

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - config.sessionIdleTimeoutMs
      for (const [id, session] of sessions) if (session.lastSeen < cutoff) closeSession(id)
    },
    Math.min(config.sessionIdleTimeoutMs / 2, 60_000),
  ).unref()

  async function close(): Promise<void> {
    clearInterval(sweep)
    const open = [...sessions.values()]
    sessions.clear()
    await Promise.allSettled(open.map((session) => session.cleanup()))
  }

  return { app, close }
}

/**
 * Serves createHttpApp on MCP_HOST:MCP_PORT.
 * @returns the endpoint's URL, and close() to stop listening and end every session
 */
export async function serveHttp(
  config: McpConfig,
  deps: ServerDeps,
): Promise<{ url: string; close: () => Promise<void> }> {
  const { app, close } = createHttpApp(config, deps)
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/mcp`
  deps.log.info({ url }, 'MCP server listening (Streamable HTTP)')
  return {
    url,
    close: async () => {
      try {
        await close()
      } finally {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        // Ended sessions leave idle keep-alive sockets behind; close() alone would wait on them.
        if ('closeAllConnections' in server) server.closeAllConnections()
        await closed
      }
    },
  }
}

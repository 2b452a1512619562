import { OpenAPIHono } from '@hono/zod-openapi'
import { requestId } from 'hono/request-id'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { ContextService } from './contexts.js'
import { describeError, SandboxError } from './errors.js'
import type { SandboxMetrics } from './metrics.js'
import { apiKeyAuth } from './middleware/auth.js'
import { requestBodyLimit } from './middleware/body-limit.js'
import { hostCheck } from './middleware/host-check.js'
import { requestLog } from './middleware/request-log.js'
import { createContextsRoutes } from './routes/contexts.js'
import { createExecuteRoutes } from './routes/execute.js'
import { createFilesRoutes, isFileUpload, tooLarge } from './routes/files.js'
import type { KernelRuntime } from './runtimes/runtime.js'

export type AppDeps = {
  config: Config
  contexts: ContextService
  runtime: Pick<KernelRuntime, 'healthy'>
  metrics: SandboxMetrics
  log: Logger
}

/**
 * The HTTP surface: /health, /metrics, /openapi.json and /api/v1. Errors from anywhere below are rendered
 * here, once, as `{error: {code, message}}`.
 */
export function createApp({ config, contexts, runtime, metrics, log }: AppDeps) {
  const app = new OpenAPIHono()
  app.use(requestId())
  app.use(requestLog(log))
  // Before the Host check: Docker's HEALTHCHECK sends HTTP/1.0 without a Host header, and "OK"
  // is nothing a rebinding page could use.
  app.get('/health', (c) => (runtime.healthy ? c.text('OK') : c.text('UNAVAILABLE', 503)))
  app.use(hostCheck(config.allowedHosts))
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'sandbox-code-interpreter', version: '1' },
    security: config.apiKey ? [{ apiKey: [] }] : [],
  })
  app.use('/api/*', apiKeyAuth(config.apiKey))
  app.get('/metrics', apiKeyAuth(config.apiKey), async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  )
  const limitBody = requestBodyLimit(config.maxBodyBytes)
  // File uploads stream to disk under their own limit (SANDBOX_MAX_FILE_BYTES).
  app.use('/api/*', (c, next) =>
    isFileUpload(c.req.method, c.req.path) ? next() : limitBody(c, next),
  )
  app.route('/api/v1/contexts', createContextsRoutes(contexts))
  app.route('/api/v1/contexts', createFilesRoutes(contexts, config.maxFileBytes))
  app.route('/api/v1/execute', createExecuteRoutes(contexts))
  app.notFound((c) => {
    throw new SandboxError('NOT_FOUND', `No route ${c.req.method} ${c.req.path}; see /openapi.json`)
  })
  app.onError((error, c) => {
    const { status, body, retryAfterS, unexpected } = describeError(error)
    if (body.error.code === 'LIMIT_EXCEEDED') metrics.limitHit(body.error.reason ?? 'unknown')
    if (unexpected) log.error({ err: error, requestId: c.get('requestId') }, 'unhandled error')
    if (retryAfterS !== undefined) c.header('Retry-After', String(retryAfterS))
    // The rest of an oversized body was never read: close rather than let a client reuse the socket.
    if (status === 413) c.header('Connection', 'close')
    return c.json(body, status)
  })
  return app
}

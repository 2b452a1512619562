import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'

/** Logs each request once it is answered, with the request id hono's requestId() assigned. */
export function requestLog(log: Logger): MiddlewareHandler {
  return async function logRequest(c, next) {
    const started = performance.now()
    await next()
    // Health checks come every few seconds from Docker: keep them out of the info log.
    const level = c.req.path === '/health' ? 'debug' : 'info'
    log[level](
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Number((performance.now() - started).toFixed(2)),
      },
      'request',
    )
  }
}

import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { SandboxError } from '../errors.js'

/**
 * Refuses request bodies over `maxBytes` with LIMIT_EXCEEDED (413). Decides from Content-Length
 * when the request has one, as hono's bodyLimit would, without touching the body: hono's reads
 * `c.req.raw.body`, which makes @hono/node-server build a full web Request and stream for every
 * call (a third of the service's CPU per execute). Chunked bodies go through hono's, which counts.
 */
export function requestBodyLimit(maxBytes: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new SandboxError(
      'LIMIT_EXCEEDED',
      `Request body is larger than ${maxBytes} bytes (SANDBOX_MAX_BODY_BYTES)`,
      { reason: 'request_size' },
    )
  }
  const counted = bodyLimit({ maxSize: maxBytes, onError: tooLarge })
  return async function limitBody(c, next) {
    if (c.req.header('transfer-encoding') !== undefined) return counted(c, next)
    if (Number(c.req.header('content-length') ?? 0) > maxBytes) tooLarge()
    await next()
  }
}

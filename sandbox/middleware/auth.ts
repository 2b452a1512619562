import { timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { SandboxError } from '../errors.js'

/**
 * Requires the API key on every request it guards: `Authorization: Bearer <key>`, or Basic auth
 * with the key as the password (what curl -u and some SDKs send). Compared in constant time.
 * @param apiKey - the key; when undefined every request passes
 */
export function apiKeyAuth(apiKey: string | undefined): MiddlewareHandler {
  return async function requireApiKey(c, next) {
    if (apiKey !== undefined && !matches(c.req.header('authorization'), apiKey)) {
      throw new SandboxError(
        'UNAUTHORIZED',
        'Missing or wrong API key: send Authorization: Bearer <SANDBOX_API_KEY>',
      )
    }
    await next()
  }
}

function matches(header: string | undefined, apiKey: string): boolean {
  if (!header) return false
  const space = header.indexOf(' ')
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1)
  if (scheme === 'bearer') return safeEqual(value, apiKey)
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    return safeEqual(decoded.slice(decoded.indexOf(':') + 1), apiKey)
  }
  return false
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

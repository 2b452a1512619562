import type { MiddlewareHandler } from 'hono'
import { hostnameOf, LOOPBACK_HOSTS } from '../common.js'
import { SandboxError } from '../errors.js'

/**
 * DNS rebinding protection: a web page that rebinds its own name to 127.0.0.1 can reach a
 * loopback-bound API from the browser, but it still sends its own name as Host. Only loopback
 * names and SANDBOX_ALLOWED_HOSTS (`*` = any) are served.
 * @param allowedHosts - extra host names, e.g. the compose service name "sandbox"
 */
export function hostCheck(allowedHosts: readonly string[]): MiddlewareHandler {
  const hosts = new Set([...LOOPBACK_HOSTS, ...allowedHosts.map((host) => host.toLowerCase())])
  const any = allowedHosts.includes('*')
  return async function checkHost(c, next) {
    // In-process requests (app.fetch from the MCP server's embedded mode) carry no Host header.
    const host = hostnameOf(c.req.header('host') ?? new URL(c.req.url).host)
    if (!any && (host === undefined || !hosts.has(host))) {
      throw new SandboxError(
        'FORBIDDEN',
        `Host not allowed: ${host ?? '(none)'}; add it to SANDBOX_ALLOWED_HOSTS`,
      )
    }
    await next()
  }
}

import type { Context, MiddlewareHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { hostnameOf, LOOPBACK_HOSTS } from '../sandbox/common.js'
import type { McpConfig } from './config.js'

/**
 * DNS rebinding protection. The Host header must name this machine's loopback or a host listed
 * in MCP_ALLOWED_HOSTS (`*` allows any), whatever address the server binds: a web page that
 * rebinds its own name to 127.0.0.1 still sends that name. A browser's Origin, when sent, must
 * be a loopback origin or one listed in MCP_ALLOWED_ORIGINS.
 */
export function hostAndOriginCheck({
  allowedHosts,
  allowedOrigins,
}: Pick<McpConfig, 'allowedHosts' | 'allowedOrigins'>): MiddlewareHandler {
  const hosts = new Set([...LOOPBACK_HOSTS, ...allowedHosts.map((host) => host.toLowerCase())])
  const anyHost = allowedHosts.includes('*')
  const anyOrigin = allowedOrigins.includes('*')
  return async function checkHostAndOrigin(c, next) {
    const host = hostnameOf(c.req.header('host'))
    if (!anyHost && (host === undefined || !hosts.has(host))) {
      return jsonRpcError(
        c,
        403,
        -32000,
        `Host not allowed: ${host ?? '(none)'} (MCP_ALLOWED_HOSTS)`,
      )
    }
    const origin = c.req.header('origin')
    if (origin !== undefined && !anyOrigin && !allowedOrigins.includes(origin)) {
      const originHost = hostnameOf(origin.replace(/^https?:\/\//, ''))
      if (originHost === undefined || !LOOPBACK_HOSTS.includes(originHost)) {
        return jsonRpcError(c, 403, -32000, `Origin not allowed: ${origin} (MCP_ALLOWED_ORIGINS)`)
      }
    }
    await next()
  }
}

/** A JSON-RPC error response with no id, as the SDK's transports send for HTTP-level refusals. */
export function jsonRpcError(
  c: Context,
  status: ContentfulStatusCode,
  code: number,
  message: string,
): Response {
  return c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status)
}

// Auth of the E2B ports: the access token E2B's SDKs send, checked against SANDBOX_API_KEY.
import { timingSafeEqual } from 'node:crypto'
import { SandboxError } from '../errors.js'

/** Headers that may carry the key: the SDK's envd token, its traffic token, or a bearer token. */
const TOKEN_HEADERS = ['x-access-token', 'e2b-traffic-access-token'] as const

/**
 * Checks a request's access token. With no key configured every request passes.
 * @param apiKey - SANDBOX_API_KEY
 * @param header - reads one request header by lower-case name
 * @throws SandboxError UNAUTHORIZED naming the header to send
 */
export function checkAccessToken(
  apiKey: string | undefined,
  header: (name: string) => string | undefined,
): void {
  if (apiKey === undefined) return
  const bearer = header('authorization')?.match(/^bearer (.+)$/i)?.[1]
  const tokens = [...TOKEN_HEADERS.map((name) => header(name)), bearer]
  if (tokens.some((token) => token !== undefined && safeEqual(token, apiKey))) return
  throw new SandboxError(
    'UNAUTHORIZED',
    'Missing or wrong access token: send X-Access-Token: <SANDBOX_API_KEY>',
  )
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/**
 * The Host check of the Connect routes, as middleware/host-check.ts does for the HTTP ones
 * (DNS rebinding protection).
 * @throws SandboxError FORBIDDEN naming SANDBOX_ALLOWED_HOSTS
 */
export function checkHost(allowedHosts: readonly string[], host: string | undefined): void {
  if (allowedHosts.includes('*')) return
  let name: string | undefined
  try {
    name = host ? new URL(`http://${host}`).hostname.toLowerCase() : undefined
  } catch {}
  if (name && (LOOPBACK_HOSTS.has(name) || allowedHosts.some((h) => h.toLowerCase() === name))) {
    return
  }
  throw new SandboxError(
    'FORBIDDEN',
    `Host not allowed: ${name ?? '(none)'}; add it to SANDBOX_ALLOWED_HOSTS`,
  )
}

/**
 * Pure helpers that the sandbox service and the MCP server both use: configuration parsing and
 * Host header checks. Like api.ts it imports nothing but zod, so mcp/ may import it without
 * depending on the service's internals.
 */
import { z } from 'zod'

/** LOG_LEVEL of either server: pino's levels. */
export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
export type LogLevel = z.infer<typeof LogLevel>

/** A comma-separated variable, e.g. `a, b,,c` → `['a', 'b', 'c']`; unset is `[]`. */
export const commaList = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  )

/** Host names of this machine's loopback, always served besides configured ones. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]']

/**
 * The hostname of a Host header value (`name:port`, `[::1]:port`), lower-cased.
 * @returns undefined when absent or unreadable
 */
export function hostnameOf(value: string | undefined): string | undefined {
  if (!value) return undefined
  try {
    return new URL(`http://${value}`).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

/**
 * The line put where output was cut, as the sandbox and the MCP server both cut it.
 * @param chars - characters dropped
 * @param stream - what they were dropped from, e.g. `stdout`
 */
export function truncationMarker(chars: number, stream: string): string {
  return `\n[... ${chars} characters of ${stream} truncated ...]\n`
}

import { z } from 'zod'
import { commaList, LogLevel } from '../sandbox/common.js'

/** Environment variables the MCP server reads. Only this file reads process.env. */
const EnvSchema = z.object({
  MCP_TRANSPORT: z.enum(['stdio', 'http']).default('stdio'),
  MCP_HOST: z.string().min(1).default('127.0.0.1'),
  MCP_PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  MCP_API_KEY: z.string().min(1).optional(),
  /** Extra Host header names accepted besides the loopback ones, e.g. `mcp` inside compose; `*` accepts any. */
  MCP_ALLOWED_HOSTS: commaList,
  /** Browser origins allowed to call /mcp besides loopback ones, e.g. `https://app.example`. */
  MCP_ALLOWED_ORIGINS: commaList,
  /** Seconds an HTTP session may stay unused before the server forgets it. */
  MCP_SESSION_IDLE_TIMEOUT: z.coerce.number().positive().default(3600),
  /** Unset: the sandbox runs inside this process (embedded mode). */
  SANDBOX_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  SANDBOX_API_KEY: z.string().min(1).optional(),
  /** Seconds allowed for one sandbox call other than execute (context create, list, stop). */
  SANDBOX_REQUEST_TIMEOUT: z.coerce.number().positive().default(120),
  LOG_LEVEL: LogLevel.default('info'),
})

export type McpConfig = Readonly<{
  transport: 'stdio' | 'http'
  host: string
  port: number
  apiKey: string | undefined
  allowedHosts: readonly string[]
  allowedOrigins: readonly string[]
  sessionIdleTimeoutMs: number
  sandboxBaseUrl: string | undefined
  sandboxApiKey: string | undefined
  requestTimeoutMs: number
  logLevel: LogLevel
}>

/**
 * Parses the MCP server's configuration once. Invalid values throw with zod's message naming the
 * variable.
 * @param env - the environment to read; tests pass their own
 * @param overrides - explicit options, which win over the environment
 * @returns a frozen McpConfig
 */
export function loadMcpConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<McpConfig> = {},
): McpConfig {
  const e = EnvSchema.parse(env)
  return Object.freeze({
    transport: e.MCP_TRANSPORT,
    host: e.MCP_HOST,
    port: e.MCP_PORT,
    apiKey: e.MCP_API_KEY,
    allowedHosts: e.MCP_ALLOWED_HOSTS,
    allowedOrigins: e.MCP_ALLOWED_ORIGINS,
    sessionIdleTimeoutMs: e.MCP_SESSION_IDLE_TIMEOUT * 1000,
    sandboxBaseUrl: e.SANDBOX_BASE_URL?.replace(/\/+$/, ''),
    sandboxApiKey: e.SANDBOX_API_KEY,
    requestTimeoutMs: e.SANDBOX_REQUEST_TIMEOUT * 1000,
    logLevel: e.LOG_LEVEL,
    ...overrides,
  })
}

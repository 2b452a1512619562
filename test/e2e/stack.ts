/**
 * Helpers for the end-to-end suite of the Docker stack (docker-compose.yml), which runs against a
 * stack that is already up: scripts/test-docker.sh brings it up, runs `vitest run --project
 * e2e` and takes it down. Against a stack of your own: `docker compose up -d`,
 * then the same vitest command with the keys of your .env in the environment.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { createSandboxClient } from '../../client/index.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const env = process.env

/** Where the stack is and how to reach it; the defaults are docker-compose.yml's. */
export const stack = {
  sandboxUrl: env.SCI_E2E_SANDBOX_URL ?? 'http://127.0.0.1:8080',
  sandboxApiKey: env.SANDBOX_API_KEY || undefined,
  mcpApiKey: env.MCP_API_KEY || undefined,
  sandboxContainer: env.SCI_SANDBOX_CONTAINER || 'sandbox-code-interpreter',
  mcpContainer: env.SCI_MCP_CONTAINER || 'sci-mcp',
  /** The sandbox container's memory limit in bytes (SANDBOX_MEMORY, 4g by default). */
  sandboxMemoryBytes: parseBytes(env.SANDBOX_MEMORY || '4g'),
  docker: env.DOCKER || 'docker',
}

function parseBytes(value: string): number {
  const match = /^(\d+)([kmg]?)b?$/i.exec(value.trim())
  if (!match) throw new Error(`Cannot read the size ${value}`)
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]?.toLowerCase() ?? '']
  return Number(match[1]) * (unit ?? 1)
}

// biome-ignore lint/suspicious/noExplicitAny: assertions read the service's JSON, whatever its shape
type Json = any

/** The typed client of the stack's REST API, with the stack's key. */
export const client = createSandboxClient({
  baseUrl: stack.sandboxUrl,
  apiKey: stack.sandboxApiKey,
  requestTimeoutMs: 90_000,
})

/**
 * One raw request to the sandbox REST API, for what the typed client does not send: no key, plain
 * text answers. Sends the API key unless `auth` is false.
 */
export async function rawRequest(
  method: string,
  route: string,
  body?: unknown,
  { auth = true }: { auth?: boolean } = {},
): Promise<{ status: number; body: Json; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (auth && stack.sandboxApiKey) headers.authorization = `Bearer ${stack.sandboxApiKey}`
  const response = await fetch(stack.sandboxUrl + route, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(90_000),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // Plain text, such as /health's OK.
  }
  return { status: response.status, body: parsed, text }
}

/** Runs the docker CLI and returns its stdout. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(stack.docker, args, { timeout: 120_000 })
  return stdout.trim()
}

/** Waits until `docker inspect` reports the container healthy. */
export async function waitHealthy(container: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let status = ''
  while (Date.now() < deadline) {
    status = await docker('inspect', '-f', '{{.State.Health.Status}}', container).catch(
      (error: Error) => error.message,
    )
    if (status === 'healthy') return
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error(`${container} is not healthy after ${timeoutMs} ms: ${status}`)
}

/** Waits for both services of the stack. */
export async function waitStackHealthy(): Promise<void> {
  await waitHealthy(stack.sandboxContainer)
  await waitHealthy(stack.mcpContainer)
}

type StdioEntry = { command: string; args: string[] }
type HttpEntry = { type: 'http'; url: string; headers?: Record<string, string> }

/**
 * The MCP client entries shown in the README's Docker section (its ```json blocks with
 * `mcpServers`): the suite connects through exactly these, so the README cannot drift from what
 * works.
 */
export function readmeMcpEntries(): { stdio: StdioEntry; http: HttpEntry } {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('<!-- section: docker -->')
  if (start < 0) throw new Error('README.md has no <!-- section: docker --> part')
  const next = readme.indexOf('<!-- section:', start + 1)
  const section = readme.slice(start, next < 0 ? undefined : next)
  const entries = [...section.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((match) => JSON.parse(match[1] ?? '') as { mcpServers?: Record<string, unknown> })
    .flatMap((config) => Object.values(config.mcpServers ?? {}))
  const stdio = entries.find((entry): entry is StdioEntry => !!(entry as StdioEntry).command)
  const http = entries.find((entry): entry is HttpEntry => !!(entry as HttpEntry).url)
  if (!stdio || !http) throw new Error('README docker section lacks a stdio or an HTTP MCP entry')
  return { stdio, http }
}

export type Connected = { client: Client; close: () => Promise<void> }

/** Connects the SDK Client to the stack's Streamable HTTP endpoint, as the README's HTTP entry. */
export async function connectHttp({
  auth = true,
}: {
  auth?: boolean
} = {}): Promise<Connected & { transport: StreamableHTTPClientTransport }> {
  const { http } = readmeMcpEntries()
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    if (value.includes('<MCP_API_KEY>')) {
      if (auth && stack.mcpApiKey) headers[name] = value.replace('<MCP_API_KEY>', stack.mcpApiKey)
    } else headers[name] = value
  }
  const transport = new StreamableHTTPClientTransport(new URL(http.url), {
    requestInit: { headers },
  })
  const client = new Client({ name: 'e2e-http', version: '1.0.0' })
  await client.connect(transport)
  const close = async () => {
    await transport.terminateSession().catch(() => undefined)
    await client.close()
  }
  return { client, close, transport }
}

/** Starts exactly the README's Claude Desktop command and connects the SDK Client over stdio. */
export async function connectReadmeStdio(): Promise<Connected> {
  const { stdio } = readmeMcpEntries()
  const transport = new StdioClientTransport({
    command: stdio.command,
    args: stdio.args,
    stderr: 'inherit',
  })
  const client = new Client({ name: 'e2e-stdio', version: '1.0.0' })
  await client.connect(transport)
  return { client, close: () => client.close() }
}

/** Calls a tool; returns the result and its first text block parsed as JSON. */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<{ result: CallToolResult; json: Json }> {
  const result = (await client.callTool({ name, arguments: args }, undefined, {
    timeout: 90_000,
  })) as CallToolResult
  const first = result.content[0]
  const text = first?.type === 'text' ? first.text : ''
  let json: unknown = text
  try {
    json = JSON.parse(text)
  } catch {
    // Left as text: the assertion shows it.
  }
  return { result, json }
}

/** Codes a client may see from a failing tool call; anything else is not a clear error. */
export const ERROR_CODES = [
  'INVALID_PARAMS',
  'INVALID_LANGUAGE',
  'CONTEXT_NOT_FOUND',
  'EXECUTION_TIMEOUT',
  'EXECUTION_FAILED',
  'LIMIT_EXCEEDED',
  'UNAUTHORIZED',
  'UNAVAILABLE',
]

import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { expect } from 'vitest'
import { freePort } from '../../sandbox/jupyter/server.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
/** The MCP server from source, as `sandbox-mcp` runs it from dist. */
const MAIN = ['--import', 'tsx', path.join(ROOT, 'mcp/main.ts')]

/**
 * A small environment for server processes: nothing of the developer's shell leaks in, and warm
 * pools stay small on a 2-core machine.
 */
export function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SANDBOX_POOL_PYTHON: '1',
    SANDBOX_POOL_JAVASCRIPT: '0',
    SANDBOX_POOL_TYPESCRIPT: '0',
    ...extra,
  }
}

export type Connected = AsyncDisposable & { client: Client; close: () => Promise<void> }

/** Starts `sandbox-mcp` as a stdio child process and connects the SDK's Client to it. */
export async function connectStdio(env: Record<string, string> = {}): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: MAIN,
    cwd: ROOT,
    env: serverEnv(env),
    stderr: 'inherit',
  })
  const client = new Client({ name: 'test-stdio', version: '1.0.0' })
  await client.connect(transport)
  const close = () => client.close()
  return { client, close, [Symbol.asyncDispose]: close }
}

export type HttpServerProcess = AsyncDisposable & {
  url: string
  /** What the server wrote to stderr so far (its JSON log lines), also passed on to ours. */
  logs: () => string
  connect: (headers?: Record<string, string>) => Promise<Connected & { sessionId: string }>
  close: () => Promise<void>
}

/** Starts `sandbox-mcp` with MCP_TRANSPORT=http on a free port and waits until it answers. */
export async function startHttpServer(
  env: Record<string, string> = {},
): Promise<HttpServerProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, MAIN, {
    cwd: ROOT,
    env: serverEnv({ MCP_TRANSPORT: 'http', MCP_PORT: String(port), ...env }),
    stdio: ['ignore', 'inherit', 'pipe'],
  })
  const logs: Buffer[] = []
  child.stderr?.on('data', (chunk: Buffer) => {
    logs.push(chunk)
    process.stderr.write(chunk)
  })
  const base = `http://127.0.0.1:${port}`
  try {
    await waitForHealth(`${base}/health`, child)
  } catch (error) {
    await stop(child)
    throw error
  }
  const connect = async (headers: Record<string, string> = {}) => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers },
    })
    const client = new Client({ name: 'test-http', version: '1.0.0' })
    await client.connect(transport)
    const close = async () => {
      await transport.terminateSession()
      await client.close()
    }
    return { client, close, sessionId: transport.sessionId ?? '', [Symbol.asyncDispose]: close }
  }
  const close = () => stop(child)
  const readLogs = () => Buffer.concat(logs).toString()
  return { url: `${base}/mcp`, logs: readLogs, connect, close, [Symbol.asyncDispose]: close }
}

/** Calls a tool and returns the result with its text block parsed as JSON. */
// biome-ignore lint/suspicious/noExplicitAny: assertions read the tools' JSON, whatever its shape
type Json = any

export async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  options: Parameters<Client['callTool']>[2] = {},
): Promise<{ result: CallToolResult; json: Json }> {
  const result = (await client.callTool(
    { name, arguments: args },
    undefined,
    options,
  )) as CallToolResult
  const first = result.content[0]
  const text = first?.type === 'text' ? first.text : ''
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { result, json }
}

/** Bytes of a tool result's JSON, as it travels in a JSON-RPC message. */
export function resultSize(result: CallToolResult): number {
  return Buffer.byteLength(JSON.stringify(result))
}

/** Asserts an `isError` result in the flat shape `{error: "<message>", code, …}`. */
export async function expectToolError(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  code: string,
): Promise<Json> {
  const { result, json } = await call(client, name, args)
  expect(result.isError, JSON.stringify(json)).toBe(true)
  expect(json.code).toBe(code)
  expect(json.error).toEqual(expect.any(String))
  return json
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`MCP server exited with ${child.exitCode}`)
    // Any answer will do: /health says 503 while the sandbox behind the server is down.
    const listening = await fetch(url).then(
      (response) => response.body?.cancel().then(() => true) ?? true,
      () => false,
    )
    if (listening) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`MCP server did not answer ${url} in time`)
}

/** SIGTERM, then SIGKILL if the server has not stopped its sandbox and exited within 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

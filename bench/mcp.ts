/**
 * MCP run_code round trip over stdio, side by side with the REST execute, in one run: the calls
 * alternate, so all of them see the same machine load and warm-up. Two MCP servers run:
 * - embedded (no SANDBOX_BASE_URL, what Claude Desktop launches): stdio, then the sandbox inside
 *   the MCP process. Its own kernel, but the same process hops as a REST client's execute.
 * - remote (SANDBOX_BASE_URL, what the Docker stack runs): stdio, then the REST call itself on the
 *   same context as the REST row, so the difference of the two p50s is all MCP adds.
 * A ping over stdio shows the transport's own round trip.
 *
 * Alone: `npx tsx bench/mcp.ts [n]`. From bench/run.ts: `table(await benchMcp(n))`.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { withSandbox } from './sandbox.js'
import { type Row, summarize, table } from './stats.js'

export type McpBenchOptions = {
  /** A running sandbox; unset, one is started for the run and stopped after. */
  baseUrl?: string
  apiKey?: string
  /** Untimed rounds first: connections, JIT, kernel caches. @default 50 */
  warmup?: number
  /** @default '1+1' */
  code?: string
}

const ROOT = path.resolve(import.meta.dirname, '..')

/**
 * Measures every round trip `n` times, in milliseconds.
 * @returns rows: REST execute, run_code over stdio (embedded), run_code over stdio (remote), ping
 */
export async function benchMcp(
  n = 500,
  { baseUrl, apiKey, warmup = 50, code = '1+1' }: McpBenchOptions = {},
): Promise<Row[]> {
  if (baseUrl === undefined) {
    return withSandbox((_api, url) => benchMcp(n, { baseUrl: url, apiKey, warmup, code }))
  }
  const headers = { 'content-type': 'application/json', ...bearer(apiKey) }
  const created = await fetch(`${baseUrl}/api/v1/contexts`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ language: 'python', name: 'bench-mcp' }),
  })
  if (created.status !== 201) throw new Error(`create context: HTTP ${created.status}`)
  const { context_id: id } = (await created.json()) as { context_id: string }
  const remote = await connectMcp({
    SANDBOX_BASE_URL: baseUrl,
    ...(apiKey ? { SANDBOX_API_KEY: apiKey } : {}),
  })
  const embedded = await connectMcp({
    SANDBOX_POOL_PYTHON: '1',
    SANDBOX_POOL_JAVASCRIPT: '0',
    SANDBOX_POOL_TYPESCRIPT: '0',
  })
  const embeddedId = (await runCode(embedded, { code: '0' })).context_id as string

  const rest = async () => {
    const response = await fetch(`${baseUrl}/api/v1/contexts/${id}/execute`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code }),
    })
    const result = (await response.json()) as { success?: boolean }
    if (!result.success) throw new Error(`REST execute failed: ${JSON.stringify(result)}`)
  }
  const rounds = {
    rest,
    embedded: () => runCode(embedded, { code, context_id: embeddedId }),
    remote: () => runCode(remote, { code, context_id: id }),
    ping: () => remote.ping(),
  }
  const times = { rest: [] as number[], embedded: [] as number[], remote: [] as number[] }
  const pings: number[] = []
  try {
    for (let i = 0; i < warmup; i++) for (const round of Object.values(rounds)) await round()
    for (let i = 0; i < n; i++) {
      times.rest.push(await timed(rounds.rest))
      times.embedded.push(await timed(rounds.embedded))
      times.remote.push(await timed(rounds.remote))
      pings.push(await timed(rounds.ping))
    }
  } finally {
    await Promise.allSettled([remote.close(), embedded.close()])
    await fetch(`${baseUrl}/api/v1/contexts/${id}`, { method: 'DELETE', headers })
  }
  return [
    summarize(`execute ${code}, REST API (same run)`, times.rest),
    summarize(`run_code ${code}, MCP stdio, embedded sandbox`, times.embedded),
    summarize(`run_code ${code}, MCP stdio → REST (remote)`, times.remote),
    summarize('ping, MCP stdio', pings),
  ]
}

/** `sandbox-mcp` from source as a stdio child, with `env` on top of a minimal environment. */
async function connectMcp(env: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'bench-mcp', version: '1.0.0' })
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'mcp/main.ts')],
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...env },
      stderr: 'inherit',
    }),
  )
  return client
}

/** Calls run_code and returns its structured result; a failed run fails the bench. */
async function runCode(
  client: Client,
  args: { code: string; context_id?: string },
): Promise<Record<string, unknown>> {
  const result = (await client.callTool({ name: 'run_code', arguments: args })) as CallToolResult
  if (result.isError || !result.structuredContent?.success) {
    throw new Error(`run_code failed: ${JSON.stringify(result.content)}`)
  }
  return result.structuredContent
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await run()
  return performance.now() - started
}

function bearer(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {}
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchMcp(Number(process.argv[2] ?? 500))
  const rest = rows[0]?.p50 ?? Number.NaN
  const overheads = rows
    .slice(1, 3)
    .map((row) => `${row.name}: ${(row.p50 - rest).toFixed(2)} ms`)
    .join('; ')
  process.stdout.write(`## MCP\n\n${table(rows)}\n\np50 over REST: ${overheads}\n`)
  process.exit(0)
}

/**
 * MCP run_code round trip over stdio, side by side with the REST execute it wraps, in one run and
 * on one context: the two calls alternate, so both see the same kernel, machine load and warm-up.
 * The MCP server runs in remote mode against the same sandbox, so its path is the REST path plus
 * the stdio hop and the tool's own work: the difference of the two p50s is the MCP overhead
 * (target: at most 1 ms).
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
 * Measures both round trips `n` times each, in milliseconds.
 * @returns three rows: the REST execute, MCP run_code over stdio, and an MCP ping over stdio (the
 *   transport's own round trip, no sandbox call)
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
  const client = await connectMcp(baseUrl, apiKey)

  const rest = async () => {
    const response = await fetch(`${baseUrl}/api/v1/contexts/${id}/execute`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code }),
    })
    const result = (await response.json()) as { success?: boolean }
    if (!result.success) throw new Error(`REST execute failed: ${JSON.stringify(result)}`)
  }
  const mcp = async () => {
    const result = (await client.callTool({
      name: 'run_code',
      arguments: { code, context_id: id },
    })) as CallToolResult
    if (result.isError || !result.structuredContent?.success) {
      throw new Error(`run_code failed: ${JSON.stringify(result.content)}`)
    }
  }

  const ping = async () => {
    await client.ping()
  }

  const times = { rest: [] as number[], mcp: [] as number[], ping: [] as number[] }
  try {
    for (let i = 0; i < warmup; i++) {
      await rest()
      await mcp()
    }
    for (let i = 0; i < n; i++) {
      if (process.env.ORDER === 'mcp-first') {
        times.mcp.push(await timed(mcp))
        times.rest.push(await timed(rest))
      } else if (process.env.ORDER === 'gap') {
        times.rest.push(await timed(rest))
        await new Promise((r) => setTimeout(r, 5))
        times.mcp.push(await timed(mcp))
        await new Promise((r) => setTimeout(r, 5))
      } else {
        times.rest.push(await timed(rest))
        times.mcp.push(await timed(mcp))
      }
      times.ping.push(await timed(ping))
    }
  } finally {
    await client.close()
    await fetch(`${baseUrl}/api/v1/contexts/${id}`, { method: 'DELETE', headers })
  }
  return [
    summarize(`execute ${code}, REST API (same run)`, times.rest),
    summarize(`run_code ${code}, MCP over stdio`, times.mcp),
    summarize('ping, MCP over stdio', times.ping),
  ]
}

/** `sandbox-mcp` from source, as a stdio child in remote mode. */
async function connectMcp(baseUrl: string, apiKey: string | undefined): Promise<Client> {
  const client = new Client({ name: 'bench-mcp', version: '1.0.0' })
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'mcp/main.ts')],
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LOG_LEVEL: 'warn',
        SANDBOX_BASE_URL: baseUrl,
        ...(apiKey ? { SANDBOX_API_KEY: apiKey } : {}),
      },
      stderr: 'inherit',
    }),
  )
  return client
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now()
  await run()
  return performance.now() - started
}

function bearer(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {}
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchMcp(Number(process.argv[2] ?? 500))
  const [rest, mcp] = rows
  const overhead = (mcp?.p50 ?? Number.NaN) - (rest?.p50 ?? Number.NaN)
  process.stdout.write(
    `## MCP\n\n${table(rows)}\n\nMCP overhead at p50: ${overhead.toFixed(2)} ms\n`,
  )
  process.exit(0)
}

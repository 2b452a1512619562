/**
 * The MCP tools' edges without Jupyter: the SDK's real Client and McpServer over its in-memory
 * transport, the tools over a stand-in sandbox client. Argument schemas, the flat error shape,
 * result shapes and the result size cap; test/mcp/tool-suite.ts runs the same tools end to end.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, type Mocked, vi } from 'vitest'
import { SandboxApiError, type SandboxClient } from '../../client/index.js'
import { DefaultContexts } from '../../mcp/default-contexts.js'
import { createServer } from '../../mcp/server.js'
import type { Context, ExecutionResult } from '../../sandbox/api.js'

const CONTEXT: Context = {
  context_id: 'ctx-1',
  type: 'jupyter',
  language: 'python',
  name: 'default',
  description: '',
  status: 'active',
  created_at: '2026-11-30T00:00:00.000Z',
  last_used: '2026-11-30T00:00:00.000Z',
  working_dir: '/workspace',
}

function result(overrides: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    success: true,
    output: { stdout: '', stderr: '', truncated: false, truncated_chars: 0 },
    results: [],
    execution_count: 1,
    execution_time: 0.001,
    context_restarted: false,
    ...overrides,
  }
}

/** A sandbox client whose every call is a mock with a plausible answer. */
function fakeSandbox(): Mocked<SandboxClient> {
  return {
    health: vi.fn(async () => {}),
    createContext: vi.fn(async () => CONTEXT),
    listContexts: vi.fn(async () => ({ contexts: [CONTEXT], total: 1 })),
    getContext: vi.fn(async () => CONTEXT),
    stopContext: vi.fn(async (id: string) => ({ context_id: id, status: 'stopped' as const })),
    execute: vi.fn(async () => result()),
    runOnce: vi.fn(async () => result()),
    interrupt: vi.fn(async () => CONTEXT),
    restart: vi.fn(async () => CONTEXT),
    listFiles: vi.fn(async () => ({ entries: [], truncated: false })),
    readFile: vi.fn(async () => ({
      bytes: new TextEncoder().encode('a,b\n1,2\n'),
      size: 8,
      contentType: 'text/csv',
    })),
    writeFile: vi.fn(async () => ({ files: [{ path: 'a.txt', size: 1 }] })),
  } as unknown as Mocked<SandboxClient>
}

let sandbox: Mocked<SandboxClient>
let client: Client
let cleanup: () => Promise<void>

beforeEach(async () => {
  sandbox = fakeSandbox()
  const created = createServer({
    sandbox,
    defaults: new DefaultContexts(sandbox),
    log: pino({ level: 'silent' }),
  })
  cleanup = created.cleanup
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await created.server.connect(serverSide)
  client = new Client({ name: 'unit', version: '1.0.0' })
  await client.connect(clientSide)
})
afterEach(async () => {
  await client.close()
  await cleanup()
})

async function call(name: string, args: Record<string, unknown>) {
  const reply = (await client.callTool({ name, arguments: args })) as CallToolResult
  const first = reply.content[0]
  return { reply, json: JSON.parse(first?.type === 'text' ? first.text : 'null') }
}

describe('arguments', () => {
  it('advertises the real schemas: required fields and properties', async () => {
    const { tools } = await client.listTools()
    const runCode = tools.find((tool) => tool.name === 'run_code')
    expect(runCode?.inputSchema.required).toEqual(['code'])
    expect(tools.find((tool) => tool.name === 'create_context')?.inputSchema.required).toEqual([
      'name',
    ])
  })

  it('answers arguments that fail the schema with the flat INVALID_PARAMS shape and the field', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['run_code', {}, 'code'],
      ['run_code', { code: 123 }, 'code'],
      ['create_context', {}, 'name'],
      ['create_context', { name: '' }, 'name'],
      ['stop_context', {}, 'context_id'],
    ]
    for (const [tool, args, field] of cases) {
      const { reply, json } = await call(tool, args)
      expect(reply.isError, `${tool} ${JSON.stringify(args)}`).toBe(true)
      expect(json).toMatchObject({ code: 'INVALID_PARAMS', field, error: expect.any(String) })
    }
    expect(sandbox.execute).not.toHaveBeenCalled()
    expect(sandbox.createContext).not.toHaveBeenCalled()
  })
})

describe('results', () => {
  it('maps a sandbox error to the flat shape of earlier versions: {error, code, reason}', async () => {
    sandbox.execute.mockRejectedValueOnce(
      new SandboxApiError('CONTEXT_NOT_FOUND', 'No context with id "ctx-x"', { status: 404 }),
    )
    const { reply, json } = await call('run_code', { code: '1', context_id: 'ctx-x' })
    expect(reply.isError).toBe(true)
    expect(json).toEqual({ error: 'No context with id "ctx-x"', code: 'CONTEXT_NOT_FOUND' })
  })

  it('returns stdout, the results and an image block, with structuredContent', async () => {
    sandbox.execute.mockResolvedValueOnce(
      result({
        output: { stdout: 'hi\n', stderr: '', truncated: false, truncated_chars: 0 },
        results: [{ 'text/plain': '42', is_main_result: true }, { 'image/png': 'iVBORw0KGgo=' }],
      }),
    )
    const { reply, json } = await call('run_code', { code: 'print("hi")', context_id: 'ctx-1' })
    expect(reply.isError).toBeFalsy()
    expect(json).toMatchObject({ success: true, stdout: 'hi\n', context_id: 'ctx-1' })
    expect(reply.content).toContainEqual({
      type: 'image',
      data: 'iVBORw0KGgo=',
      mimeType: 'image/png',
    })
    expect(reply.structuredContent).toMatchObject({ success: true, stdout: 'hi\n' })
  })

  it('sends HTML and SVG as embedded resources, a plotly figure as its JSON only', async () => {
    const figure = { data: [{ type: 'bar', y: [1, 2] }], layout: {} }
    sandbox.execute.mockResolvedValueOnce(
      result({
        results: [
          { 'text/plain': '   a\n0  1', 'text/html': '<table></table>', is_main_result: true },
          { 'image/svg+xml': '<svg/>', 'text/plain': '<IPython.core.display.SVG object>' },
          { 'application/vnd.plotly.v1+json': figure, 'text/html': '<div>Plotly.newPlot</div>' },
          { 'text/latex': '$x^{2}$', 'text/plain': 'x**2' },
        ],
      }),
    )
    const { reply, json } = await call('run_code', { code: 'show()', context_id: 'ctx-1' })
    expect(json.results).toEqual([
      { 'text/plain': '   a\n0  1', is_main_result: true },
      { 'text/plain': '<IPython.core.display.SVG object>' },
      { 'application/vnd.plotly.v1+json': figure },
      { 'text/latex': '$x^{2}$', 'text/plain': 'x**2' },
    ])
    expect(reply.structuredContent).toEqual(json)
    expect(reply.content.slice(1)).toEqual([
      {
        type: 'resource',
        resource: {
          uri: 'sandbox://contexts/ctx-1/results/0.html',
          mimeType: 'text/html',
          text: '<table></table>',
        },
      },
      {
        type: 'resource',
        resource: {
          uri: 'sandbox://contexts/ctx-1/results/1.svg',
          mimeType: 'image/svg+xml',
          text: '<svg/>',
        },
      },
    ])
    expect(json).toMatchObject({ truncated: false, stderr: '' })
  })

  it('leaves out HTML that does not fit in 1 MiB, with a line in stderr', async () => {
    const html = '<b>x</b>'.repeat(120_000)
    sandbox.execute.mockResolvedValueOnce(
      result({ results: [{ 'text/plain': '<HTML object>', 'text/html': html }] }),
    )
    const { reply, json } = await call('run_code', { code: 'show()', context_id: 'ctx-1' })
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(1024 * 1024)
    expect(reply.content).toHaveLength(1)
    expect(json.results).toEqual([{ 'text/plain': '<HTML object>' }])
    expect(json.stderr).toMatch(/a text\/html result of \d+ bytes not sent/)
    expect(json.truncated).toBe(true)
  })

  it('keeps a flood of output under 1 MiB per result, cut with a marker', async () => {
    const flood = 'x'.repeat(3 * 1024 * 1024)
    sandbox.execute.mockResolvedValueOnce(
      result({ output: { stdout: flood, stderr: '', truncated: false, truncated_chars: 0 } }),
    )
    const { reply, json } = await call('run_code', { code: 'flood()', context_id: 'ctx-1' })
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(1024 * 1024)
    expect(json.truncated).toBe(true)
    expect(json.stdout.length).toBeLessThan(flood.length)
  })

  it('runs code without a context in the default context, created once', async () => {
    await call('run_code', { code: '1' })
    await call('run_code', { code: '2' })
    expect(sandbox.createContext).toHaveBeenCalledTimes(1)
    expect(sandbox.execute).toHaveBeenCalledTimes(2)
    expect(sandbox.execute.mock.calls[1]?.[0]).toBe('ctx-1')
  })
})

/** The stack's MCP server over Streamable HTTP (127.0.0.1:3000/mcp), with the SDK's Client. */
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Connected,
  callTool,
  connectHttp,
  readmeMcpEntries,
  stack,
  waitStackHealthy,
} from './stack.js'

let mcp: Connected
beforeAll(async () => {
  await waitStackHealthy()
  mcp = await connectHttp()
})
afterAll(() => mcp?.close())

/** A raw POST initialize to /mcp with the given headers; returns the status. */
function rawInitialize(headers: Record<string, string>): Promise<number> {
  const url = new URL(readmeMcpEntries().http.url)
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  })
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

describe('MCP over Streamable HTTP in the stack', () => {
  it('lists the tools', async () => {
    const { tools } = await mcp.client.listTools()
    expect(tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['run_code', 'create_context', 'stop_context', 'list_contexts']),
    )
  })

  it.skipIf(!stack.mcpApiKey)('refuses a client without the key', async () => {
    await expect(connectHttp({ auth: false })).rejects.toThrow()
    expect(await rawInitialize({})).toBe(401)
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const auth: Record<string, string> = stack.mcpApiKey
      ? { authorization: `Bearer ${stack.mcpApiKey}` }
      : {}
    expect(await rawInitialize({ ...auth, host: 'attacker.example:3000' })).toBe(403)
  })

  it('runs Python in the default context, keeping state', async () => {
    await callTool(mcp.client, 'run_code', { code: 'http_state = 40' })
    const { result, json } = await callTool(mcp.client, 'run_code', {
      code: 'print(http_state + 2)',
    })
    expect(result.isError, JSON.stringify(json)).toBeFalsy()
    expect(json).toMatchObject({ success: true, stdout: '42\n' })
    expect(result.structuredContent).toMatchObject({ success: true, stdout: '42\n' })
  })

  it('returns a plot as an image block', async () => {
    const { result } = await callTool(mcp.client, 'run_code', {
      code: 'import matplotlib.pyplot as plt\nplt.bar(["a", "b"], [1, 2])\nplt.show()',
    })
    const image = result.content.find((block) => block.type === 'image')
    expect(image).toMatchObject({ type: 'image', mimeType: 'image/png' })
    expect(
      Buffer.from((image as { data: string }).data, 'base64')
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG')
  })

  it('reports code that raises', async () => {
    const { json } = await callTool(mcp.client, 'run_code', { code: 'raise ValueError("nope")' })
    expect(json.success).toBe(false)
    expect(json.error).toMatchObject({ name: 'ValueError', value: 'nope' })
  })

  it('creates, uses and stops a JavaScript context', async () => {
    const created = await callTool(mcp.client, 'create_context', {
      name: 'e2e-js',
      language: 'javascript',
    })
    expect(created.result.isError, JSON.stringify(created.json)).toBeFalsy()
    const id = created.json.context_id
    expect(id).toMatch(/^ctx-/)
    await callTool(mcp.client, 'run_code', { code: 'const base = 40', context_id: id })
    const { json } = await callTool(mcp.client, 'run_code', {
      code: 'console.log(base + 2)',
      context_id: id,
    })
    expect(json).toMatchObject({ success: true, stdout: '42\n' })
    const stopped = await callTool(mcp.client, 'stop_context', { context_id: id })
    expect(stopped.result.isError, JSON.stringify(stopped.json)).toBeFalsy()
    const gone = await callTool(mcp.client, 'run_code', { code: '1', context_id: id })
    expect(gone.result.isError).toBe(true)
    expect(gone.json.code).toBe('CONTEXT_NOT_FOUND')
  })
})

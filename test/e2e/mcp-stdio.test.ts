/** MCP over stdio into the running mcp container, through exactly the README's Claude Desktop entry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Connected,
  callTool,
  connectReadmeStdio,
  readmeMcpEntries,
  stack,
  waitStackHealthy,
} from './stack.js'

let mcp: Connected
beforeAll(async () => {
  await waitStackHealthy()
  mcp = await connectReadmeStdio()
})
afterAll(() => mcp?.close())

describe("MCP over stdio with the README's Claude Desktop command", () => {
  it('is a docker command into the stack', () => {
    const { stdio } = readmeMcpEntries()
    expect(stdio.command).toBe('docker')
    expect(stdio.args).toContain(stack.mcpContainer)
  })

  it('lists the tools', async () => {
    const { tools } = await mcp.client.listTools()
    expect(tools.map((tool) => tool.name)).toContain('run_code')
  })

  it('runs Python and JavaScript, keeping state', async () => {
    await callTool(mcp.client, 'run_code', { code: 'stdio_state = 41' })
    const python = await callTool(mcp.client, 'run_code', { code: 'print(stdio_state + 1)' })
    expect(python.json).toMatchObject({ success: true, stdout: '42\n' })
    await callTool(mcp.client, 'run_code', { code: 'var z = 41', language: 'javascript' })
    const js = await callTool(mcp.client, 'run_code', {
      code: 'console.log(z + 1)',
      language: 'javascript',
    })
    expect(js.json).toMatchObject({ success: true, stdout: '42\n' })
  })
})

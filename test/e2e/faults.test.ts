/**
 * Faults under the mcp service: a kernel killed inside the sandbox container, the sandbox
 * container stopped and restarted. The mcp service must report a clear error, never hang or die,
 * and work again once the sandbox is back, in the same MCP session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Connected,
  callTool,
  connectHttp,
  docker,
  ERROR_CODES,
  stack,
  waitHealthy,
  waitStackHealthy,
} from './stack.js'

let mcp: Connected
beforeAll(async () => {
  await waitStackHealthy()
  mcp = await connectHttp()
})
afterAll(async () => {
  // Whatever happened, leave the stack running for the next file.
  await docker('start', stack.sandboxContainer).catch(() => undefined)
  await waitStackHealthy()
  await mcp?.close()
})

const mcpContainerState = () =>
  docker('inspect', '-f', '{{.RestartCount}} {{.State.StartedAt}}', stack.mcpContainer)

/** Calls run_code until it succeeds; returns every result seen on the way. */
async function runUntilSuccess(code: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  const seen = []
  while (Date.now() < deadline) {
    const call = await callTool(mcp.client, 'run_code', { code })
    seen.push(call)
    if (call.json.success === true) return seen
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error(
    `run_code did not succeed within ${timeoutMs} ms: ${JSON.stringify(seen.at(-1)?.json)}`,
  )
}

/**
 * A failed run_code must say what happened: a known code and a message, either as a run that the
 * sandbox ended (`error: {code, message}`) or as a failed call (the flat `{error, code}`).
 */
function expectClearError(json: {
  code?: string
  error?: string | { code?: string; message?: string }
}) {
  const flat = typeof json.error === 'string'
  const code = flat ? json.code : (json.error as { code?: string } | undefined)?.code
  const message = flat ? json.error : (json.error as { message?: string } | undefined)?.message
  expect(ERROR_CODES, JSON.stringify(json)).toContain(code)
  expect(String(message).length, JSON.stringify(json)).toBeGreaterThan(10)
}

describe('faults under the mcp service', () => {
  it('reports a kernel killed inside the sandbox container, then works again', async () => {
    await callTool(mcp.client, 'run_code', { code: 'import os\nbefore_kill = 1' })
    const { json } = await callTool(mcp.client, 'run_code', { code: 'print(os.getpid())' })
    const pid = Number(json.stdout)
    expect(pid).toBeGreaterThan(1)

    await docker('exec', stack.sandboxContainer, 'sh', '-c', `kill -9 ${pid}`)

    const first = await callTool(mcp.client, 'run_code', { code: 'print(before_kill)' })
    // Never the old state as if nothing happened: the kernel died and says so, or it was already
    // restarted and the variable is gone.
    expect(first.json.success, JSON.stringify(first.json)).toBe(false)
    if (first.result.isError) {
      expectClearError(first.json)
      expect(first.json.error.code).toBe('EXECUTION_FAILED')
    } else expect(first.json.error.name).toBe('NameError')

    const after = await runUntilSuccess('print(6 * 7)')
    expect(after.at(-1)?.json.stdout).toBe('42\n')
  })

  it('reports a stopped sandbox container, then works again once it is back', async () => {
    const mcpBefore = await mcpContainerState()
    const ctx = await callTool(mcp.client, 'create_context', { name: 'e2e-before-stop' })
    const staleId = ctx.json.context_id
    expect(staleId).toMatch(/^ctx-/)

    await docker('stop', '-t', '20', stack.sandboxContainer)
    const down = await callTool(mcp.client, 'run_code', { code: 'print(1)' })
    expect(down.result.isError, JSON.stringify(down.json)).toBe(true)
    expectClearError(down.json)
    expect(down.json.code).toBe('UNAVAILABLE')

    await docker('start', stack.sandboxContainer)
    const after = await runUntilSuccess('print("back")')
    expect(after.at(-1)?.json.stdout).toBe('back\n')
    for (const call of after.slice(0, -1)) {
      expect(call.result.isError, JSON.stringify(call.json)).toBe(true)
      expectClearError(call.json)
    }
    // Contexts do not survive the sandbox: the old id is reported as such.
    const stale = await callTool(mcp.client, 'run_code', { code: '1', context_id: staleId })
    expect(stale.result.isError).toBe(true)
    expect(stale.json.code).toBe('CONTEXT_NOT_FOUND')
    // The mcp container itself never restarted.
    expect(await mcpContainerState()).toBe(mcpBefore)
    await waitHealthy(stack.sandboxContainer)
  })

  it('survives `docker restart` of the sandbox container in the same MCP session', async () => {
    const mcpBefore = await mcpContainerState()
    await docker('restart', '-t', '20', stack.sandboxContainer)
    const after = await runUntilSuccess('print(sum(range(10)))')
    expect(after.at(-1)?.json.stdout).toBe('45\n')
    for (const call of after.slice(0, -1)) expectClearError(call.json)
    const { tools } = await mcp.client.listTools()
    expect(tools.length).toBeGreaterThan(0)
    expect(await mcpContainerState()).toBe(mcpBefore)
    await waitHealthy(stack.sandboxContainer)
  })
})

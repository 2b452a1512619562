import { describe, expect, it } from 'vitest'
import { SandboxApiError, type SandboxClient } from '../../client/index.js'
import { DefaultContexts } from '../../mcp/default-contexts.js'
import type { ExecutionResult } from '../../sandbox/api.js'

const ok: ExecutionResult = {
  success: true,
  output: { stdout: '', stderr: '', truncated: false, truncated_chars: 0 },
  results: [],
  execution_count: 1,
  execution_time: 0,
  context_restarted: false,
}

/** A sandbox that knows the contexts it created until one is dropped behind the server's back. */
function fakeSandbox() {
  const live = new Set<string>()
  let created = 0
  const client = {
    createContext: async () => {
      await new Promise((resolve) => setTimeout(resolve, 10))
      const id = `ctx-${++created}`
      live.add(id)
      return { context_id: id } as Awaited<ReturnType<SandboxClient['createContext']>>
    },
    execute: async (id: string) => {
      if (!live.has(id)) throw new SandboxApiError('CONTEXT_NOT_FOUND', `No context ${id}`)
      return ok
    },
    stopContext: async (id: string) => {
      live.delete(id)
      return { context_id: id, status: 'stopped' as const }
    },
  } as unknown as SandboxClient
  return { client, live, created: () => created }
}

describe('DefaultContexts', () => {
  it('creates one context per language for concurrent first calls, and recreates a lost one once', async () => {
    const sandbox = fakeSandbox()
    const defaults = new DefaultContexts(sandbox.client)
    const runs = await Promise.all(
      [1, 2, 3].map(() => defaults.execute('python', { code: '1' }, {})),
    )
    expect(new Set(runs.map((run) => run.contextId))).toEqual(new Set(['ctx-1']))

    sandbox.live.clear()
    const [a, b] = await Promise.all([
      defaults.execute('python', { code: '1' }, {}),
      defaults.execute('python', { code: '1' }, {}),
    ])
    expect(a.contextId).toBe('ctx-2')
    expect(b.contextId).toBe('ctx-2')
    expect(sandbox.created()).toBe(2)

    await defaults.close()
    expect(sandbox.live.size).toBe(0)
  })
})

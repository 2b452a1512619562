import { existsSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import { descendants, isAlive } from '../helpers/processes.js'
import { startSandbox } from '../helpers/sandbox.js'
import { spawnService } from '../helpers/service.js'

/** Polling as the old hand-written loop did: every 100 ms, 20 s unless a test says otherwise. */
const poll = (timeout = 20_000) => ({ timeout, interval: 100 })

describe('limits', () => {
  it('lets exactly SANDBOX_MAX_CONTEXTS contexts live and answers the rest with 429 and Retry-After', async () => {
    await using s = await startSandbox({ maxContexts: 2 })
    const attempts = await Promise.all(
      Array.from({ length: 5 }, () => fetch(`${s.baseUrl}/api/v1/contexts`, { method: 'POST' })),
    )
    const statuses = attempts.map((r) => r.status).sort()
    expect(statuses).toEqual([201, 201, 429, 429, 429])
    const refused = attempts.find((r) => r.status === 429)
    expect(refused?.headers.get('retry-after')).toBe('5')
    expect(await refused?.json()).toMatchObject({
      error: { code: 'LIMIT_EXCEEDED', reason: 'contexts' },
    })
    expect(s.sandbox.contexts.size).toBe(2)
  })

  it('stops contexts idle past SANDBOX_IDLE_TIMEOUT', async () => {
    await using s = await startSandbox({ idleTimeoutMs: 1500 })
    const body = await s.client.createContext({})
    await vi.waitFor(async () => {
      await expect(s.client.getContext(body.context_id)).rejects.toMatchObject({ status: 404 })
    }, poll())
    await vi.waitFor(() => expect(existsSync(body.working_dir)).toBe(false), poll())
  })
})

describe('warm pool', () => {
  it('hands out warm kernels and refills to its size after each create', async () => {
    await using s = await startSandbox({ poolSize: { python: 2, javascript: 0, typescript: 0 } })
    await vi.waitFor(() => expect(s.sandbox.pool.depth('python')).toBe(2), poll())
    for (let i = 0; i < 3; i++) {
      await s.client.createContext({})
    }
    await vi.waitFor(() => expect(s.sandbox.pool.depth('python')).toBe(2), poll())
    expect(s.sandbox.contexts.size).toBe(3)
  })

  it('serves a burst of 20 creations far beyond the pool, each context with a kernel of its own', async () => {
    await using s = await startSandbox({ poolSize: { python: 2, javascript: 0, typescript: 0 } })
    await s.sandbox.pool.filled()
    const created = await Promise.all(
      Array.from({ length: 20 }, () => s.client.createContext({ language: 'python' })),
    )
    const pids = await Promise.all(
      created.map(async ({ context_id }) => {
        const run = await s.client.execute(context_id, {
          code: `import os\nmine = "${context_id}"\nprint(os.getpid())`,
        })
        return Number(run.output.stdout)
      }),
    )
    expect(new Set(pids).size).toBe(20)
    // Nothing of one context is in another: each kernel holds only its own variable.
    const owners = await Promise.all(
      created.map(async ({ context_id }) => {
        const run = await s.client.execute(context_id, { code: 'print(mine)' })
        return run.output.stdout.trim()
      }),
    )
    expect(owners).toEqual(created.map((c) => c.context_id))
    await vi.waitFor(() => expect(s.sandbox.pool.depth('python')).toBe(2), poll())
  })
})

describe('Jupyter Server failure', () => {
  it('restarts a dead Jupyter Server and reports the contexts whose kernels were lost', async () => {
    await using s = await startSandbox()
    const { context_id: id } = await s.client.createContext({})
    const server = descendants(process.pid).find((p) => p.cmdline.includes('jupyter_server'))
    expect(server).toBeDefined()
    const kernels = descendants(server?.pid ?? 0).map((p) => p.pid)
    expect(kernels.length).toBeGreaterThan(0)
    process.kill(server?.pid ?? 0, 'SIGKILL')

    await vi.waitFor(async () => {
      expect((await s.client.getContext(id)).status).toBe('error')
    }, poll())
    // Orphaned kernels notice their server is gone and exit; none is left burning CPU.
    await vi.waitFor(() => expect(kernels.filter(isAlive)).toEqual([]), poll(10_000))
    await expect(s.client.execute(id, { code: '1' })).rejects.toMatchObject({
      status: 409,
      code: 'EXECUTION_FAILED',
      reason: 'kernel_lost',
    })

    await vi.waitFor(() => s.client.health(), poll())
    const restarted = await s.client.restart(id)
    expect(restarted.status).toBe('active')
    const after = await s.client.execute(id, { code: 'print(2)' })
    expect(after.output.stdout).toBe('2\n')
  })
})

const kernelProcess = /python_kernel|tslab_kernel/

describe('process lifecycle', () => {
  it('on SIGTERM stops every kernel and the Jupyter Server, removes workspaces and exits 0', async () => {
    const service = await spawnService()
    const dirs: string[] = []
    for (const language of ['python', 'javascript', 'typescript'] as const) {
      const body = await service.client.createContext({ language })
      dirs.push(body.working_dir)
    }
    const spawned = descendants(service.child.pid ?? 0)
    expect(spawned.filter((p) => kernelProcess.test(p.cmdline)).length).toBeGreaterThanOrEqual(3)

    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    await vi.waitFor(() => expect(spawned.filter((p) => isAlive(p.pid))).toEqual([]), poll(10_000))
    for (const dir of dirs) expect(existsSync(dir)).toBe(false)
  })

  // One retry: a JavaScript kernel's start hung past the test's minute once in a clean CI run,
  // which is not what this checks. The likely cause (a kernel port taken before tslab bound it)
  // is fixed and tested in kernel-ports.test.ts; the retry goes once CI runs show no more hangs.
  it('leaves no Jupyter Server or kernel behind when the service is killed with SIGKILL', {
    retry: 1,
  }, async () => {
    const service = await spawnService()
    await service.client.createContext({ language: 'python' })
    await service.client.createContext({ language: 'javascript' })
    const spawned = descendants(service.child.pid ?? 0)
    expect(spawned.some((p) => p.cmdline.includes('jupyter_server'))).toBe(true)
    expect(spawned.filter((p) => kernelProcess.test(p.cmdline)).length).toBeGreaterThanOrEqual(2)

    service.child.kill('SIGKILL')
    await service.exited
    await vi.waitFor(() => expect(spawned.filter((p) => isAlive(p.pid))).toEqual([]), poll(15_000))
  })
})

describe('metrics', () => {
  it('exposes executions, limits, live contexts and pool depth in Prometheus format', async () => {
    await using s = await startSandbox({ maxOutputChars: 1000 })
    const { context_id: id } = await s.client.createContext({})
    await s.client.execute(id, { code: 'print("x" * 5000)' })
    await s.client.execute(id, { code: '1/0' })
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text()
    expect(text).toContain('sandbox_executions_total{language="python",outcome="success"} 1')
    expect(text).toContain('sandbox_executions_total{language="python",outcome="error"} 1')
    expect(text).toContain('sandbox_limits_hit_total{reason="output"} 1')
    expect(text).toContain('sandbox_contexts 1')
    expect(text).toMatch(/sandbox_pool_ready_kernels\{language="python"\} \d/)
    expect(text).toContain('sandbox_execution_duration_seconds_bucket')
  })
})

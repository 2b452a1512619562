import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { descendants, isAlive } from '../helpers/processes.js'
import { startSandbox } from '../helpers/sandbox.js'
import { spawnService } from '../helpers/service.js'

const until = async (check: () => Promise<boolean> | boolean, ms = 20_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('auth', () => {
  it('requires the API key on every API route when one is set; /health stays open', async () => {
    await using s = await startSandbox({
      apiKey: 'sekret',
      poolSize: { python: 0, javascript: 0, typescript: 0 },
    })
    const basic = `Basic ${Buffer.from('user:sekret').toString('base64')}`
    expect((await s.api('GET', '/health')).status).toBe(200)
    // fetch trims header values, so "Bearer sekret " cannot be sent from here.
    for (const authorization of [
      undefined,
      'Bearer wrong',
      'Bearer SEKRET',
      'Bearer ',
      'sekret',
      'Token sekret',
    ]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
      for (const [method, route] of [
        ['GET', '/api/v1/contexts'],
        ['POST', '/api/v1/contexts'],
        ['POST', '/api/v1/contexts/ctx-x/execute'],
        ['DELETE', '/api/v1/contexts/ctx-x'],
      ] as const) {
        const { status, body } = await s.api(
          method,
          route,
          method === 'POST' ? {} : undefined,
          headers,
        )
        expect([status, body.error.code], `${method} ${route} ${authorization}`).toEqual([
          401,
          'UNAUTHORIZED',
        ])
        expect(JSON.stringify(body)).not.toContain('sekret')
      }
    }
    expect(
      (await s.api('GET', '/api/v1/contexts', undefined, { authorization: 'Bearer sekret' }))
        .status,
    ).toBe(200)
    expect(
      (await s.api('GET', '/api/v1/contexts', undefined, { authorization: basic })).status,
    ).toBe(200)
  })
})

describe('DNS rebinding', () => {
  it('serves loopback Host names and SANDBOX_ALLOWED_HOSTS only', async () => {
    await using s = await startSandbox({
      allowedHosts: ['sandbox'],
      poolSize: { python: 0, javascript: 0, typescript: 0 },
    })
    const get = (host: string) => s.sandbox.app.request('/api/v1/contexts', { headers: { host } })
    for (const host of ['127.0.0.1:8080', 'localhost', '[::1]:80', 'sandbox:8080'])
      expect((await get(host)).status, host).toBe(200)
    const refused = await get('attacker.example')
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({ error: { code: 'FORBIDDEN' } })
    // Docker's HEALTHCHECK sends no Host header at all.
    expect((await s.sandbox.app.request('/health', { headers: { host: '0.0.0.0' } })).status).toBe(
      200,
    )
  })
})

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
    const { body } = await s.api('POST', '/api/v1/contexts', {})
    await until(
      async () => (await s.api('GET', `/api/v1/contexts/${body.context_id}`)).status === 404,
    )
    await until(() => !existsSync(body.working_dir))
  })
})

describe('warm pool', () => {
  it('hands out warm kernels and refills to its size after each create', async () => {
    await using s = await startSandbox({ poolSize: { python: 2, javascript: 0, typescript: 0 } })
    await until(() => s.sandbox.pool.depth('python') === 2)
    for (let i = 0; i < 3; i++) {
      expect((await s.api('POST', '/api/v1/contexts', {})).status).toBe(201)
    }
    await until(() => s.sandbox.pool.depth('python') === 2)
    expect(s.sandbox.contexts.size).toBe(3)
  })
})

describe('Jupyter Server failure', () => {
  it('restarts a dead Jupyter Server and reports the contexts whose kernels were lost', async () => {
    await using s = await startSandbox()
    const { body } = await s.api('POST', '/api/v1/contexts', {})
    const id = body.context_id
    const server = descendants(process.pid).find((p) => p.cmdline.includes('jupyter_server'))
    expect(server).toBeDefined()
    const kernels = descendants(server?.pid ?? 0).map((p) => p.pid)
    expect(kernels.length).toBeGreaterThan(0)
    process.kill(server?.pid ?? 0, 'SIGKILL')

    await until(async () => (await s.api('GET', `/api/v1/contexts/${id}`)).body.status === 'error')
    // Orphaned kernels notice their server is gone and exit; none is left burning CPU.
    await until(() => kernels.every((pid) => !isAlive(pid)), 10_000)
    const lost = await s.api('POST', `/api/v1/contexts/${id}/execute`, { code: '1' })
    expect([lost.status, lost.body.error.code, lost.body.error.reason]).toEqual([
      409,
      'EXECUTION_FAILED',
      'kernel_lost',
    ])

    await until(async () => (await s.api('GET', '/health')).status === 200)
    const restarted = await s.api('POST', `/api/v1/contexts/${id}/restart`)
    expect(restarted.body.status).toBe('active')
    const after = await s.api('POST', `/api/v1/contexts/${id}/execute`, { code: 'print(2)' })
    expect(after.body.output.stdout).toBe('2\n')
  })
})

const kernelProcess = /python_kernel|tslab_kernel/

describe('process lifecycle', () => {
  it('on SIGTERM stops every kernel and the Jupyter Server, removes workspaces and exits 0', async () => {
    const service = await spawnService()
    const dirs: string[] = []
    for (const language of ['python', 'javascript', 'typescript']) {
      const { status, body } = await service.api('POST', '/api/v1/contexts', { language })
      expect(status).toBe(201)
      dirs.push(body.working_dir)
    }
    const spawned = descendants(service.child.pid ?? 0)
    expect(spawned.filter((p) => kernelProcess.test(p.cmdline)).length).toBeGreaterThanOrEqual(3)

    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    await until(() => spawned.every((p) => !isAlive(p.pid)), 10_000)
    for (const dir of dirs) expect(existsSync(dir)).toBe(false)
  })

  it('leaves no Jupyter Server or kernel behind when the service is killed with SIGKILL', async () => {
    const service = await spawnService()
    await service.api('POST', '/api/v1/contexts', { language: 'python' })
    await service.api('POST', '/api/v1/contexts', { language: 'javascript' })
    const spawned = descendants(service.child.pid ?? 0)
    expect(spawned.some((p) => p.cmdline.includes('jupyter_server'))).toBe(true)
    expect(spawned.filter((p) => kernelProcess.test(p.cmdline)).length).toBeGreaterThanOrEqual(2)

    service.child.kill('SIGKILL')
    await service.exited
    await until(() => spawned.every((p) => !isAlive(p.pid)), 15_000)
  })
})

describe('metrics', () => {
  it('exposes executions, limits, live contexts and pool depth in Prometheus format', async () => {
    await using s = await startSandbox({ maxOutputChars: 1000 })
    const { body } = await s.api('POST', '/api/v1/contexts', {})
    await s.api('POST', `/api/v1/contexts/${body.context_id}/execute`, {
      code: 'print("x" * 5000)',
    })
    await s.api('POST', `/api/v1/contexts/${body.context_id}/execute`, { code: '1/0' })
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text()
    expect(text).toContain('sandbox_executions_total{language="python",outcome="success"} 1')
    expect(text).toContain('sandbox_executions_total{language="python",outcome="error"} 1')
    expect(text).toContain('sandbox_limits_hit_total{reason="output"} 1')
    expect(text).toContain('sandbox_contexts 1')
    expect(text).toMatch(/sandbox_pool_ready_kernels\{language="python"\} \d/)
    expect(text).toContain('sandbox_execution_duration_seconds_bucket')
  })
})

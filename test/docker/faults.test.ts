/**
 * Docker runtime, HOSTILE.md sections H and D: a container killed from outside turns its context
 * into a clear error (never a hang) while the others keep working; deleting a context, closing the
 * sandbox, or a graceful SIGTERM leave no container; the containers of a crashed (SIGKILLed)
 * service are removed when the next one starts; an unreachable engine is a fast UNAVAILABLE.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../sandbox/config.js'
import { SandboxError } from '../../sandbox/errors.js'
import { createLogger } from '../../sandbox/logger.js'
import { createSandbox } from '../../sandbox/sandbox.js'
import { spawnService } from '../helpers/service.js'
import {
  containerIdOf,
  containersOf,
  createContext,
  type DockerSandbox,
  docker,
  exec,
  removeScope,
  skipDocker,
  startDockerSandbox,
  testScope,
} from './helpers.js'

/** Polling as the old hand-written loop did: every 100 ms until `timeout` ms. */
const poll = (timeout: number) => ({ timeout, interval: 100 })

describe.skipIf(skipDocker)('docker runtime: containers killed from outside', () => {
  let s: DockerSandbox

  beforeAll(async () => {
    s = await startDockerSandbox()
  })
  afterAll(async () => {
    const scope = s?.scope
    await s?.close()
    if (scope) await removeScope(scope)
  })

  it('H1: `docker kill` of one context gives it a clear, fast error; the other keeps working', async () => {
    const a = await createContext(s)
    const b = await createContext(s)
    await exec(s, a, 'x = 1')
    await exec(s, b, 'y = 2')
    const killed = await containerIdOf(s, a)
    await docker('kill', killed)
    await vi.waitFor(async () => {
      expect((await s.client.getContext(a)).status).toBe('error')
    }, poll(5000))
    const context = await s.client.getContext(a)
    expect(context.message).toMatch(/lost/)

    const started = performance.now()
    const refused = await exec(s, a, '1 + 1').then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(performance.now() - started).toBeLessThan(2000)
    expect(refused).toMatchObject({ status: 409, code: 'EXECUTION_FAILED', reason: 'kernel_lost' })
    await expect(s.client.listFiles(a)).rejects.toMatchObject({ status: 409 })

    expect((await exec(s, b, 'print(y)')).output.stdout).toBe('2\n')
    // The dead container was removed by the runtime.
    await vi.waitFor(
      async () => expect(await containersOf(s.scope)).not.toContain(killed),
      poll(5000),
    )

    // Restart gives the context a new container: state and files are gone, and it says so.
    const restarted = await s.client.restart(a)
    expect(restarted.status).toBe('active')
    expect((await exec(s, a, 'print(x)')).error?.name).toBe('NameError')
    expect(await containerIdOf(s, a)).not.toBe(killed)
    const upload = await fetch(`${s.baseUrl}/api/v1/contexts/${a}/files?path=after.txt`, {
      method: 'PUT',
      body: 'after',
    })
    expect(upload.status).toBe(201)
    expect((await exec(s, a, 'print(open("after.txt").read())')).output.stdout).toBe('after\n')

    for (const id of [a, b]) await s.client.stopContext(id)
  })

  it('H1: a kill during a long execution ends it at once with EXECUTION_FAILED', async () => {
    const a = await createContext(s)
    const container = await containerIdOf(s, a)
    const started = performance.now()
    const running = exec(s, a, 'import time\ntime.sleep(60)', 120)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await docker('kill', container)
    const result = await running
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(result.success).toBe(false)
    expect(result.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_lost' })
    await s.client.stopContext(a)
  })

  it('a pooled container that dies is dropped from the pool, not handed out', async () => {
    await s.sandbox.pool.filled()
    const before = await containersOf(s.scope)
    expect(before.length).toBe(1)
    await docker('kill', before[0] as string)
    await vi.waitFor(() => expect(s.sandbox.pool.depth('python')).toBe(0), poll(5000))
    const id = await createContext(s)
    expect((await exec(s, id, '1 + 1')).results).toEqual([
      { 'text/plain': '2', is_main_result: true },
    ])
    await s.client.stopContext(id)
  })
})

describe.skipIf(skipDocker)('docker runtime: teardown leaves no container', () => {
  it('DELETE removes the context container before it answers; close() removes the rest', async () => {
    const s = await startDockerSandbox()
    try {
      const a = await createContext(s)
      const b = await createContext(s)
      const container = await containerIdOf(s, a)
      await s.client.stopContext(a)
      expect(await containersOf(s.scope)).not.toContain(container)
      await expect(s.client.stopContext(a)).rejects.toMatchObject({ status: 404 })
      // D3: a delete during an execution ends it with an error, not a hang.
      const running = exec(s, b, 'import time\ntime.sleep(60)', 120)
      await new Promise((resolve) => setTimeout(resolve, 500))
      await s.client.stopContext(b)
      expect((await running).success).toBe(false)
      // One-shot runs throw their container away.
      const once = await s.client.runOnce({ code: 'print(6 * 7)' })
      expect(once.output.stdout).toBe('42\n')
      await s.sandbox.pool.filled()
      await vi.waitFor(
        async () => expect(await containersOf(s.scope)).toHaveLength(1),
        poll(10_000),
      )
    } finally {
      await s.close()
      await s.close()
    }
    expect(await containersOf(s.scope)).toEqual([])
    const socketDir = loadConfig({}).docker.socketDir
    expect(existsSync(path.join(socketDir, s.scope))).toBe(false)
    await removeScope(s.scope)
  })

  it('H5: SIGTERM stops the service and removes its containers', async () => {
    const scope = testScope()
    const service = await spawnService({
      SANDBOX_RUNTIME: 'docker',
      SANDBOX_DOCKER_SCOPE: scope,
      SANDBOX_POOL_PYTHON: '1',
      SANDBOX_POOL_JAVASCRIPT: '0',
      SANDBOX_POOL_TYPESCRIPT: '0',
    })
    try {
      const body = await service.client.createContext({})
      expect(body.context_id).toBeDefined()
      await vi.waitFor(
        async () => expect((await containersOf(scope)).length).toBeGreaterThanOrEqual(2),
        poll(30_000),
      )
      service.child.kill('SIGTERM')
      expect(await service.exited).toBe(0)
      expect(await containersOf(scope)).toEqual([])
    } finally {
      service.child.kill('SIGKILL')
      await removeScope(scope)
    }
  })

  it('H4: the containers of a crashed service are removed when the next one starts', async () => {
    const scope = testScope()
    const crashed = await spawnService({
      SANDBOX_RUNTIME: 'docker',
      SANDBOX_DOCKER_SCOPE: scope,
      SANDBOX_POOL_PYTHON: '1',
      SANDBOX_POOL_JAVASCRIPT: '0',
      SANDBOX_POOL_TYPESCRIPT: '0',
    })
    try {
      await crashed.client.createContext({})
      await vi.waitFor(
        async () => expect((await containersOf(scope)).length).toBeGreaterThanOrEqual(2),
        poll(30_000),
      )
      crashed.child.kill('SIGKILL')
      await crashed.exited
      const orphans = await containersOf(scope)
      expect(orphans.length).toBeGreaterThanOrEqual(2)

      const next = await startDockerSandbox({ SANDBOX_DOCKER_SCOPE: scope })
      try {
        const left = await containersOf(scope)
        for (const orphan of orphans) expect(left).not.toContain(orphan)
        // Registry = reality: only the new instance's warm container.
        expect(left.length).toBe(1)
        expect((await next.client.listContexts()).total).toBe(0)
      } finally {
        await next.close()
      }
      expect(await containersOf(scope)).toEqual([])
    } finally {
      crashed.child.kill('SIGKILL')
      await removeScope(scope)
    }
  })
})

describe.skipIf(skipDocker)('docker runtime: engine unavailable', () => {
  it('H6: a service pointed at no engine fails fast with UNAVAILABLE naming DOCKER_HOST', async () => {
    const config = loadConfig({
      SANDBOX_RUNTIME: 'docker',
      DOCKER_HOST: 'unix:///tmp/sci-no-docker-here.sock',
      LOG_LEVEL: 'silent',
    })
    const started = performance.now()
    const error = await createSandbox(config, createLogger('silent')).catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(5000)
    expect(error).toBeInstanceOf(SandboxError)
    expect((error as SandboxError).code).toBe('UNAVAILABLE')
    expect((error as SandboxError).message).toContain('unix:///tmp/sci-no-docker-here.sock')
  })
})

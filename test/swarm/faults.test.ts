/**
 * Swarm runtime faults, on a real Swarm. A worker that dies takes its contexts with it: they
 * report `kernel_lost` (no silent re-run elsewhere; a cell running there ends with it), the others
 * keep working, new contexts go to the remaining nodes and no task is left pending. A context no
 * node can take is a clear LIMIT_EXCEEDED within the pending deadline, and its service is removed.
 *
 * The node-death test kills a worker (SWARM_KILL_COMMAND): it runs last in this project.
 */

import { execSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import { SandboxApiError } from '../../client/index.js'
import type { ExecutionResult } from '../../sandbox/api.js'
import { loadConfig } from '../../sandbox/config.js'
import { SandboxError } from '../../sandbox/errors.js'
import { createLogger } from '../../sandbox/logger.js'
import { SwarmKernelRuntime } from '../../sandbox/runtimes/swarm/runtime.js'
import { connect, exec, KILL_COMMAND, MANAGER, SCOPE, serviceOf, skipSwarm } from './helpers.js'

const killReason = KILL_COMMAND ? undefined : 'SWARM_KILL_COMMAND is not set'
if (!skipSwarm && killReason && process.env.SWARM_REQUIRED === '1') {
  throw new Error(`SWARM_REQUIRED=1 but the node-death test cannot run: ${killReason}`)
}
if (!skipSwarm && killReason) {
  console.warn(`\n# SKIPPED: swarm node-death test NOT run: ${killReason}\n`)
}

describe.skipIf(skipSwarm)('swarm runtime: a context no node can take', () => {
  it('fails with LIMIT_EXCEEDED within the pending deadline and leaves no service', async () => {
    const scope = `test-pending-${randomBytes(3).toString('hex')}`
    const config = loadConfig({
      SANDBOX_RUNTIME: 'swarm',
      DOCKER_HOST: MANAGER,
      SANDBOX_DOCKER_SCOPE: scope,
      SANDBOX_SWARM_CONSTRAINTS: 'node.labels.sci-no-such-label==1',
      SANDBOX_SWARM_PENDING_TIMEOUT: '3',
      ...(process.env.SWARM_NETWORK ? { SANDBOX_SWARM_NETWORK: process.env.SWARM_NETWORK } : {}),
      ...(process.env.SWARM_IMAGE ? { SANDBOX_DOCKER_IMAGE: process.env.SWARM_IMAGE } : {}),
    })
    await using runtime = await SwarmKernelRuntime.start({
      docker: config.docker,
      swarm: config.swarm,
      poolSize: { python: 0, javascript: 0, typescript: 0 },
      kernelMaxOutputChars: 1 << 20,
      startupTimeoutMs: 60_000,
      log: createLogger('silent'),
    })
    const refused = await runtime
      .bind({
        contextId: 'ctx-pending',
        language: 'python',
        limits: undefined,
        workingDir: undefined,
        env: {},
        signal: AbortSignal.timeout(60_000),
      })
      .catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(SandboxError)
    expect((refused as SandboxError).code).toBe('LIMIT_EXCEEDED')
    expect((refused as SandboxError).message).toMatch(/No node of the swarm can run the context/)
    const s = connect()
    try {
      expect(await s.engine.services([`sci.scope=${scope}`])).toEqual([])
    } finally {
      await s.close()
    }
  })
})

describe.skipIf(skipSwarm || killReason !== undefined)('swarm runtime: a worker dies', () => {
  it('its contexts report kernel_lost, the others work, new ones go elsewhere, nothing pends', async () => {
    const s = connect()
    const ids: string[] = []
    try {
      const nodes = await s.engine.nodes()
      const workers = nodes.filter((n) => n.Spec.Role === 'worker' && n.Status.State === 'ready')
      expect(workers.length).toBeGreaterThan(0)
      const workerNames = new Set(workers.map((n) => n.Description?.Hostname))
      // Swarm spreads: a few contexts cover the workers and another node.
      const placed = new Map<string, string>()
      for (let i = 0; i < 2 * nodes.length && ids.length < 12; i++) {
        const context = await s.client.createContext({})
        ids.push(context.context_id)
        placed.set(context.context_id, context.node ?? '')
        await exec(s, context.context_id, `x = ${i}`)
      }
      const victimNode = [...placed.values()].find((node) => workerNames.has(node)) as string
      expect(victimNode).toBeDefined()
      const victims = ids.filter((id) => placed.get(id) === victimNode)
      const survivors = ids.filter((id) => placed.get(id) !== victimNode)

      // A cell running on the node when it dies ends with the context, not at its timeout.
      const running = exec(s, victims[0] as string, 'import time\ntime.sleep(500)', 550).catch(
        (error: unknown) => error,
      )
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const killedAt = performance.now()
      execSync(KILL_COMMAND?.replaceAll('{node}', victimNode) as string, { stdio: 'inherit' })
      await vi.waitFor(
        async () => {
          for (const id of victims) expect((await s.client.getContext(id)).status).toBe('error')
        },
        { timeout: 120_000, interval: 250 },
      )
      console.log(
        `[measure] worker ${victimNode} killed: its ${victims.length} contexts reported lost after ${Math.round(performance.now() - killedAt)} ms`,
      )
      const cut = (await running) as ExecutionResult
      expect(cut.success).toBe(false)
      expect(cut.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_lost' })
      const refused = await exec(s, victims[0] as string, '1 + 1').catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(SandboxApiError)
      expect((refused as SandboxApiError).code).toBe('EXECUTION_FAILED')
      expect((refused as SandboxApiError).reason).toBe('kernel_lost')

      for (const id of survivors) {
        expect((await exec(s, id, 'x + 1')).success).toBe(true)
      }
      const fresh = await s.client.createContext({})
      ids.push(fresh.context_id)
      expect(fresh.node).not.toBe(victimNode)
      expect((await exec(s, fresh.context_id, '1 + 1')).results[0]?.['text/plain']).toBe('2')

      // The lost contexts' services are removed: nothing is left to re-run or to pend.
      await vi.waitFor(
        async () => {
          for (const id of victims) expect(await serviceOf(s, id)).toBeUndefined()
          const pending = await s.engine.tasks({
            label: [`sci.scope=${SCOPE}`],
            'desired-state': ['running'],
          })
          expect(pending.filter((t) => t.Status.State === 'pending')).toEqual([])
        },
        { timeout: 30_000, interval: 500 },
      )
    } finally {
      await Promise.allSettled(ids.map((id) => s.client.stopContext(id)))
      await s.close()
    }
  })
})

/**
 * A worker dies (its Docker-in-Docker node is `docker kill`ed): the contexts on it report
 * `kernel_lost` (no silent re-run elsewhere), a cell running there ends with that error, the
 * contexts on the other worker keep their state, new contexts land on the remaining nodes, and no
 * kernel task is left pending. Runs last (scripts/test-swarm.sh): the cluster stays one node short.
 */
import { describe, expect, it, vi } from 'vitest'
import type { Context } from '../../sandbox/api.js'
import { client, cluster, docker, kernelTasks, skipSwarm } from './cluster.js'

/** How long the cluster may take to see a node gone: Swarm's heartbeat period times its grace. */
const NODE_DOWN = { timeout: 60_000, interval: 250 }

async function nodeOf(id: string): Promise<string> {
  const context = await client.getContext(id)
  if (!context.node) throw new Error(`context ${id} reports no node: ${JSON.stringify(context)}`)
  return context.node
}

describe.skipIf(skipSwarm)('swarm: a worker dies', () => {
  it('its contexts report kernel_lost, the others keep working, new ones land on the rest', async () => {
    expect(cluster.workers.length).toBeGreaterThanOrEqual(2)
    // Contexts until both workers hold some: Swarm spreads them, so a few suffice.
    const placed = new Map<string, string>()
    for (let i = 0; i < 12 && new Set(placed.values()).size < 2; i++) {
      const { context_id } = await client.createContext({ language: 'python' })
      placed.set(context_id, await nodeOf(context_id))
    }
    const victim = [...placed.values()][0] as string
    expect(cluster.workers).toContain(victim)
    const onVictim = [...placed].filter(([, node]) => node === victim).map(([id]) => id)
    const elsewhere = [...placed].filter(([, node]) => node !== victim).map(([id]) => id)
    expect(elsewhere.length).toBeGreaterThan(0)
    for (const id of placed.keys()) {
      expect((await client.execute(id, { code: `x = "${id}"` })).success).toBe(true)
    }

    const running = client.execute(onVictim[0] as string, {
      code: 'import time\ntime.sleep(300)',
      timeout: 600,
    })
    // The cell is running on the node before the node goes.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await docker('kill', victim)

    const ended = await running
    expect(ended.success).toBe(false)
    expect(ended.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_lost' })
    for (const id of onVictim) {
      await vi.waitFor(async () => {
        const context: Context = await client.getContext(id)
        expect(context.status).toBe('error')
        expect(context.message).toMatch(/lost/)
      }, NODE_DOWN)
      await expect(client.execute(id, { code: '1 + 1' })).rejects.toMatchObject({
        status: 409,
        code: 'EXECUTION_FAILED',
        reason: 'kernel_lost',
      })
    }
    for (const id of elsewhere) {
      expect((await client.execute(id, { code: 'print(x)' })).output.stdout).toBe(`${id}\n`)
    }

    const fresh: string[] = []
    for (let i = 0; i < 4; i++) {
      const { context_id } = await client.createContext({ language: 'python' })
      fresh.push(context_id)
      expect(await nodeOf(context_id)).not.toBe(victim)
      expect((await client.execute(context_id, { code: '1 + 1' })).results).toEqual([
        { 'text/plain': '2', is_main_result: true },
      ])
    }
    // Nothing waits for a node: every kernel task meant to run is running, none on the dead node.
    await vi.waitFor(async () => {
      const live = (await kernelTasks()).filter((task) => task.desired === 'running')
      expect(live.filter((task) => task.state !== 'running')).toEqual([])
      expect(live.filter((task) => task.node === victim)).toEqual([])
    }, NODE_DOWN)

    for (const id of [...placed.keys(), ...fresh]) await client.stopContext(id)
  })
})

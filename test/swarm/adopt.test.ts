/**
 * Swarm runtime: a sandbox service restarted (an upgrade) re-adopts the live contexts it finds by
 * label, with their kernels' state, instead of removing them. Needs the service to run with
 * SANDBOX_SWARM_TOKEN_KEY and SWARM_RESTART_COMMAND (a shell command that restarts it and returns
 * once the old instance is stopped, e.g. `docker service update --force sci_sandbox`).
 */
import { execSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connect, exec, type Swarm, serviceOf, skipSwarm } from './helpers.js'

const RESTART_COMMAND = process.env.SWARM_RESTART_COMMAND
const reason = RESTART_COMMAND ? undefined : 'SWARM_RESTART_COMMAND is not set'
if (!skipSwarm && reason && process.env.SWARM_REQUIRED === '1') {
  throw new Error(`SWARM_REQUIRED=1 but the re-adoption test cannot run: ${reason}`)
}
if (!skipSwarm && reason) console.warn(`\n# SKIPPED: swarm re-adoption test NOT run: ${reason}\n`)

describe.skipIf(skipSwarm || reason !== undefined)('swarm runtime: a restarted service', () => {
  let s: Swarm
  beforeAll(() => {
    s = connect()
  })
  afterAll(async () => {
    await s?.close()
  })

  it('re-adopts its live contexts: same id, name, created_at, node, kernel state and env', async () => {
    const secret = 'sk-adopt-0123456789'
    const before = await s.client.createContext({
      name: 'survives-upgrade',
      working_dir: 'sub',
      env: { SCI_ADOPT_SECRET: secret },
    })
    await exec(s, before.context_id, 'x = 41\nopen("kept.txt", "w").write("yes")')
    const labels = (await serviceOf(s, before.context_id))?.labels ?? {}
    const owner = labels['sci.instance']
    // The env rides along for the next instance, sealed: labels are readable by anything with
    // the manager's API.
    expect(labels['sci.env']).toBeTruthy()
    expect(JSON.stringify(labels)).not.toContain(secret)

    execSync(RESTART_COMMAND as string, { stdio: 'inherit' })
    await vi.waitFor(
      async () => {
        const service = await serviceOf(s, before.context_id)
        expect(service?.labels['sci.instance']).not.toBe(owner)
        await s.client.health()
      },
      { timeout: 120_000, interval: 500 },
    )

    const after = await s.client.getContext(before.context_id)
    expect(after).toMatchObject({
      name: 'survives-upgrade',
      created_at: before.created_at,
      node: before.node,
      working_dir: '/workspace/sub',
      status: 'active',
    })
    const result = await exec(s, before.context_id, 'print(open("kept.txt").read())\nx + 1')
    expect(result.output.stdout).toBe('yes\n')
    expect(result.results[0]?.['text/plain']).toBe('42')

    // A restarted kernel gets the context's env again from the adopting instance.
    await s.client.restart(before.context_id)
    const env = await exec(s, before.context_id, 'import os\nprint(os.environ["SCI_ADOPT_SECRET"])')
    expect(env.output.stdout).toBe(`${secret}\n`)
    await s.client.stopContext(before.context_id)
    expect(await serviceOf(s, before.context_id)).toBeUndefined()
  })
})

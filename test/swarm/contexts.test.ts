/**
 * Swarm runtime on a real Swarm: each context is a one-replica service of its own, placed by
 * Swarm's scheduler, hardened and limited like a docker runtime container, on an internal overlay
 * network, reached with a token of its own; its node is listed; deleting it removes the service.
 * The hostile cases: no route out, no root, no capabilities, a read-only root, and no way into
 * another context's Jupyter Server without its token.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { SandboxApiError } from '../../client/index.js'
import { addressOn } from '../../sandbox/runtimes/swarm/spec.js'
import {
  connect,
  exec,
  READ_CGROUP_LIMITS,
  type Swarm,
  serviceOf,
  skipSwarm,
  specOf,
  taskOf,
} from './helpers.js'

describe.skipIf(skipSwarm)('swarm runtime: contexts as services', () => {
  let s: Swarm
  const created: string[] = []

  beforeAll(() => {
    s = connect()
  })
  afterAll(async () => {
    await Promise.allSettled(created.map((id) => s.client.stopContext(id)))
    await s?.close()
  })

  async function create(body: Parameters<Swarm['client']['createContext']>[0] = {}) {
    const context = await s.client.createContext(body)
    created.push(context.context_id)
    return context
  }

  it('runs Python, JavaScript and keeps state; the context names its node', async () => {
    const py = await create({ language: 'python' })
    const nodes = (await s.engine.nodes()).map((n) => n.Description?.Hostname)
    expect(nodes).toContain(py.node)
    await exec(s, py.context_id, 'x = 6 * 7')
    const result = await exec(s, py.context_id, 'print(x)\nx')
    expect(result.success).toBe(true)
    expect(result.output.stdout).toBe('42\n')
    expect(result.results[0]?.['text/plain']).toBe('42')

    const js = await create({ language: 'javascript' })
    expect(
      (await exec(s, js.context_id, '[1, 2, 3].map((n) => n * 2).join(",")')).results[0]?.[
        'text/plain'
      ],
    ).toBe("'2,4,6'")

    const listed = (await s.client.listContexts()).contexts.find(
      (c) => c.context_id === py.context_id,
    )
    expect(listed?.node).toBe(py.node)
  })

  it('files: upload, list, download in the context working dir', async () => {
    const { context_id: id } = await create()
    await s.client.writeFile(id, 'data/in.csv', new TextEncoder().encode('a,b\n1,2\n'))
    const result = await exec(
      s,
      id,
      'import pandas as pd\nprint(pd.read_csv("data/in.csv").a.sum())\nopen("out.txt", "w").write("done")',
    )
    expect(result.output.stdout).toBe('1\n')
    const entries = (await s.client.listFiles(id)).entries.map((e) => e.name).sort()
    expect(entries).toEqual(['data', 'out.txt'])
    const file = await s.client.readFile(id, 'out.txt')
    expect(new TextDecoder().decode(file.bytes)).toBe('done')
  })

  it('service spec: one replica, restart none, hardened, limits and reservations, overlay only', async () => {
    const context = await create({ limits: { memory_mb: 384, cpus: 0.5, pids: 128 } })
    expect(context.limits).toMatchObject({ memory_mb: 384, cpus: 0.5, pids: 128 })
    const service = await serviceOf(s, context.context_id)
    expect(service?.labels).toMatchObject({
      'sci.role': 'context',
      'sci.context': context.context_id,
    })
    const { Spec } = await specOf(s, service?.id as string)
    const { ContainerSpec, Resources, RestartPolicy, Networks } = Spec.TaskTemplate
    expect(RestartPolicy.Condition).toBe('none')
    expect(ContainerSpec.User).not.toMatch(/^0(:|$)|^root/)
    expect(ContainerSpec.ReadOnly).toBe(true)
    expect(ContainerSpec.CapabilityDrop).toEqual(['ALL'])
    expect(Resources.Limits).toMatchObject({ MemoryBytes: 384 * 2 ** 20, NanoCPUs: 5e8, Pids: 128 })
    expect(Resources.Reservations.MemoryBytes).toBeGreaterThan(0)
    expect(Networks).toHaveLength(1)
    expect(Spec.EndpointSpec?.Ports ?? []).toEqual([])
    const network = await s.engine.network(Networks[0]?.Target as string)
    expect(network).toMatchObject({ driver: 'overlay', internal: true })

    const limits = JSON.parse(
      String((await exec(s, context.context_id, READ_CGROUP_LIMITS)).output.stdout),
    )
    expect(Number(limits.memory)).toBe(384 * 2 ** 20)
    expect(Number(limits.pids)).toBe(128)
  })

  it('limits above the maximum are refused with INVALID_PARAMS', async () => {
    const refused = await create({ limits: { memory_mb: 1 << 20 } }).catch(
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(SandboxApiError)
    expect((refused as SandboxApiError).code).toBe('INVALID_PARAMS')
  })

  it('hostile: no route out, not root, no capabilities, no privilege gain, read-only root', async () => {
    const { context_id: id } = await create()
    const result = await exec(
      s,
      id,
      `
import os, socket
status = open("/proc/self/status").read()
field = lambda name: status.split(name + ":")[1].split()[0]
try:
    socket.create_connection(("1.1.1.1", 80), timeout=3); out = "open"
except OSError as e:
    out = type(e).__name__
try:
    open("/etc/owned", "w"); ro = "writable"
except OSError:
    ro = "read-only"
print(os.getuid(), field("CapEff"), field("NoNewPrivs"), out, ro)
`,
    )
    const [uid, capEff, noNewPrivs, egress, root] = String(result.output.stdout).trim().split(' ')
    expect(Number(uid)).not.toBe(0)
    expect(capEff).toBe('0000000000000000')
    // Engines before API 1.44 take it from the nodes' daemon.json ("no-new-privileges": true).
    expect(noNewPrivs).toBe('1')
    expect(egress).not.toBe('open')
    expect(root).toBe('read-only')
  })

  it("hostile: another context's Jupyter Server refuses requests without its token", async () => {
    const victim = await create()
    const attacker = await create()
    const task = await taskOf(s, victim.context_id)
    const service = await serviceOf(s, victim.context_id)
    const { Spec } = await specOf(s, service?.id as string)
    const address = addressOn(task, Spec.TaskTemplate.Networks[0]?.Target as string)
    expect(address).toBeTruthy()
    const result = await exec(
      s,
      attacker.context_id,
      `
import urllib.request, urllib.error
codes = []
for path in ["/api/kernels", "/api/kernels?token=guess", "/sci/files/list?path="]:
    try:
        codes.append(urllib.request.urlopen("http://${address}:8888" + path, timeout=5).status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
    except OSError as e:
        codes.append(type(e).__name__)
print(codes)
`,
    )
    expect(result.output.stdout).toMatch(
      /^\[(403|'[A-Za-z]+Error'), (403|'[A-Za-z]+Error'), (403|'[A-Za-z]+Error')\]/,
    )
  })

  it('deleting a context removes its service (and the secret holding its token)', async () => {
    const context = await s.client.createContext({})
    const service = await serviceOf(s, context.context_id)
    expect(service).toBeDefined()
    await s.client.stopContext(context.context_id)
    expect(await serviceOf(s, context.context_id)).toBeUndefined()
    await vi.waitFor(
      async () => {
        const secrets = await s.engine.secrets([`sci.instance=${service?.labels['sci.instance']}`])
        expect(secrets).not.toContain(service?.secretIds[0])
      },
      { timeout: 10_000, interval: 200 },
    )
  })
})

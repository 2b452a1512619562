/**
 * Docker runtime, HOSTILE.md sections A and F11: every limit is seen to bite, and seen in the
 * container (cgroup files, `docker inspect`), not only configured. Per-request limits are capped
 * by the configured maxima.
 */
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { errorOf } from '../helpers/sandbox.js'
import {
  cgroupLimits,
  containerIdOf,
  createContext,
  type DockerSandbox,
  docker,
  exec,
  GVISOR,
  removeScope,
  skipDocker,
  startDockerSandbox,
} from './helpers.js'

const MIB = 1024 * 1024
/**
 * Under gVisor the pids limit counts the host threads of its kernel (the Sentry: about 40 idle, more
 * under load), not the sandbox's processes; at 128 the Sentry itself cannot start its threads.
 */
const PIDS = GVISOR ? 256 : 128

describe.skipIf(skipDocker)('docker runtime: limits', () => {
  let s: DockerSandbox
  let canary: string

  beforeAll(async () => {
    s = await startDockerSandbox({
      SANDBOX_DOCKER_MEMORY_MB: '384',
      SANDBOX_DOCKER_MAX_MEMORY_MB: '1024',
      SANDBOX_DOCKER_PIDS: String(PIDS),
      SANDBOX_DOCKER_MAX_PIDS: '512',
      SANDBOX_DOCKER_CPUS: '1',
      SANDBOX_DOCKER_MAX_CPUS: '1.5',
      SANDBOX_DOCKER_WORKSPACE_MB: '64',
      SANDBOX_DOCKER_MAX_WORKSPACE_MB: '128',
    })
    canary = await createContext(s)
    expect((await exec(s, canary, 'canary = "alive"')).success).toBe(true)
  })
  afterAll(async () => {
    const scope = s?.scope
    await s?.close()
    if (scope) await removeScope(scope)
  })

  /** HOSTILE.md invariants after each bad case: the service and the canary context are fine. */
  async function assertServiceAndCanary() {
    const health = await fetch(`${s.baseUrl}/health`, { signal: AbortSignal.timeout(2000) })
    expect(health.status).toBe(200)
    const result = await exec(s, canary, 'print(canary, 1 + 1)')
    expect(result.output.stdout).toBe('alive 2\n')
  }

  it('F11: the cgroup limits inside a context match the configuration', async () => {
    const id = await createContext(s)
    const body = await s.client.getContext(id)
    expect(body.limits).toEqual({
      memory_mb: 384,
      cpus: 1,
      pids: PIDS,
      workspace_mb: 64,
      network: 'none',
    })
    const cg = await cgroupLimits(s, id)
    expect(Number(cg.memory)).toBe(384 * MIB)
    expect(Number(cg.pids)).toBe(PIDS)
    expect(Number(cg.quota) / Number(cg.period)).toBe(1)
    // No swap: memory + swap = memory (v1: memsw, when the kernel accounts swap; v2: swap.max 0).
    if (cg.swap !== null) expect(Number(cg.swap)).toBe(cg.version === 1 ? 384 * MIB : 0)
    const inspect = await docker(
      'inspect',
      '-f',
      '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.NetworkMode}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.Config.User}}',
      await containerIdOf(s, id),
    )
    expect(inspect).toBe(
      `${384 * MIB} ${384 * MIB} ${PIDS} true none [ALL] [no-new-privileges] 10001:10001`,
    )
    const df = await exec(
      s,
      id,
      'import os\nst = os.statvfs("/workspace")\nprint(st.f_blocks * st.f_frsize)',
    )
    expect(Number(df.output.stdout)).toBe(64 * MIB)
    await s.client.stopContext(id)
  })

  it('takes per-request limits up to the maxima: memory, CPUs and pids on a warm container', async () => {
    await s.sandbox.pool.filled()
    const requested = Date.now()
    const body = await s.client.createContext({
      limits: { memory_mb: 768, cpus: 0.5, pids: 300 },
    })
    // runc: a warm container, updated in place (created before the request). gVisor: a fresh one,
    // as runsc cannot update a running container. Either way named after its context.
    const [created, name] = (
      await docker(
        'inspect',
        '-f',
        '{{.Created}} {{.Name}}',
        await containerIdOf(s, body.context_id),
      )
    ).split(' ')
    if (GVISOR) expect(Date.parse(created ?? '')).toBeGreaterThanOrEqual(requested - 1000)
    else expect(Date.parse(created ?? '')).toBeLessThan(requested)
    expect(name).toBe(`/sci-${body.context_id}`)
    expect(body.limits).toMatchObject({ memory_mb: 768, cpus: 0.5, pids: 300, network: 'none' })
    const cg = await cgroupLimits(s, body.context_id)
    expect(Number(cg.memory)).toBe(768 * MIB)
    expect(Number(cg.pids)).toBe(300)
    expect(Number(cg.quota) / Number(cg.period)).toBe(0.5)
    await s.client.stopContext(body.context_id)
  })

  it('takes a /workspace size of its own on a fresh container', async () => {
    const body = await s.client.createContext({ limits: { workspace_mb: 128 } })
    const df = await exec(
      s,
      body.context_id,
      'import os\nst = os.statvfs("/workspace")\nprint(st.f_blocks * st.f_frsize)',
    )
    expect(Number(df.output.stdout)).toBe(128 * MIB)
    await s.client.stopContext(body.context_id)
  })

  it('refuses limits above the maxima, unknown networks and unknown fields (400 INVALID_PARAMS)', async () => {
    const cases = [
      [{ memory_mb: 2048 }, 'SANDBOX_DOCKER_MAX_MEMORY_MB'],
      [{ cpus: 2 }, 'SANDBOX_DOCKER_MAX_CPUS'],
      [{ pids: 100_000 }, 'SANDBOX_DOCKER_MAX_PIDS'],
      [{ workspace_mb: 4096 }, 'SANDBOX_DOCKER_MAX_WORKSPACE_MB'],
      [{ network: 'bridge' }, 'SANDBOX_DOCKER_ALLOWED_NETWORKS'],
      [{ memory: 100 }, 'memory'],
    ] as const
    for (const [limits, mentions] of cases) {
      // Raw: bodies the typed client cannot express, and the whole envelope (issues included).
      const { status, body } = await s.rawRequest('POST', '/api/v1/contexts', { limits })
      expect(status, JSON.stringify(limits)).toBe(400)
      expect(errorOf(body)?.code).toBe('INVALID_PARAMS')
      expect(JSON.stringify(errorOf(body))).toContain(mentions)
    }
    expect((await s.client.listContexts()).total).toBe(1)
  })

  it('A5: a memory bomb is stopped by the memory limit with a clear error; the context recovers', async () => {
    const id = await createContext(s, { limits: { memory_mb: 256 } })
    expect((await exec(s, id, 'x = 1')).success).toBe(true)
    const started = performance.now()
    const result = await exec(
      s,
      id,
      'a = []\nwhile True: a.append(bytearray(50 * 1024 * 1024))',
      60,
    )
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(result.success).toBe(false)
    if (GVISOR) {
      // gVisor: the limit binds the sandbox as a whole; the host's OOM killer ends it, container
      // and all, so the context has lost its kernel (a plain error) until it is restarted.
      expect(`${result.error?.code}/${result.error?.reason}`).toMatch(
        /^(LIMIT_EXCEEDED\/memory|EXECUTION_FAILED\/kernel_(lost|died))$/,
      )
      console.info(`memory bomb (gVisor): ${result.error?.code}/${result.error?.reason}`)
      await s.client.restart(id)
      expect(Number((await cgroupLimits(s, id)).memory)).toBe(256 * MIB)
      const after = await exec(s, id, "print('x' in globals(), 1 + 1)")
      expect(after.output.stdout).toBe('False 2\n')
      await assertServiceAndCanary()
      await s.client.stopContext(id)
      return
    }
    expect(result.context_restarted).toBe(true)
    // The runtime saw Docker's oom event: LIMIT_EXCEEDED memory. (Were that event late, the plain
    // kernel death would be reported instead.)
    expect(['LIMIT_EXCEEDED/memory', 'EXECUTION_FAILED/kernel_died']).toContain(
      `${result.error?.code}/${result.error?.reason}`,
    )
    if (result.error?.code === 'LIMIT_EXCEEDED') expect(result.error?.value).toContain('256 MiB')
    console.info(
      `memory bomb: ${result.error?.code}/${result.error?.reason}: ${result.error?.value}`,
    )
    // The kernel was killed by the cgroup's OOM killer, inside the context's container.
    const cg = await cgroupLimits(s, id)
    expect(Number(cg.memory)).toBe(256 * MIB)
    expect(Number(cg.oom_kills)).toBeGreaterThan(0)
    const after = await exec(s, id, "print('x' in globals(), 1 + 1)")
    expect(after.output.stdout).toBe('False 2\n')
    await assertServiceAndCanary()
    await s.client.stopContext(id)
  })

  it('A8: a fork bomb is contained by the pids limit (runc: in its cell; gVisor: its container ends); the service and other contexts can still fork', async () => {
    const id = await createContext(s)
    const container = await containerIdOf(s, id)
    const started = performance.now()
    const bomb = exec(
      s,
      id,
      'import os\nwhile True:\n    try:\n        os.fork()\n    except:\n        pass',
      5,
    )
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const pidsDuring = await hostPidsCurrent(container)
    const during = await exec(
      s,
      canary,
      'import subprocess\nprint(subprocess.run(["true"]).returncode)',
    )
    expect(during.output.stdout).toBe('0\n')
    const result = await bomb
    expect(performance.now() - started).toBeLessThan(30_000)
    expect(result.success).toBe(false)
    if (GVISOR) {
      // gVisor: the pids limit counts the host threads of the sandbox's kernel (the Sentry), and
      // the memory limit its whole memory: the bomb drives one of them to its limit and the
      // sandbox ends, container and all. The context has lost its kernel (a plain error in its
      // own cell) until restarted; nothing else is touched.
      expect(`${result.error?.code}/${result.error?.reason}`).toMatch(
        /^(LIMIT_EXCEEDED\/memory|EXECUTION_FAILED\/kernel_lost)$/,
      )
      console.info(`fork bomb (gVisor): ${result.error?.code}/${result.error?.reason}`)
      await vi.waitFor(
        async () => expect(await docker('ps', '-aq', '--filter', `id=${container}`)).toBe(''),
        { timeout: 10_000, interval: 100 },
      )
      await s.client.restart(id)
      const after = await exec(
        s,
        id,
        'import os\nprint(len([p for p in os.listdir("/proc") if p.isdigit()]))',
      )
      expect(Number(after.output.stdout)).toBeLessThan(10)
      await assertServiceAndCanary()
      await s.client.stopContext(id)
      return
    }
    expect(result.error?.code).toBe('EXECUTION_TIMEOUT')
    // The bomb swallows KeyboardInterrupt: the kernel (and every process of its group) was killed.
    expect(result.context_restarted).toBe(true)
    // The limit bit: the bomb filled the container's pids cgroup up to its limit, not beyond.
    if (pidsDuring !== undefined) {
      expect(pidsDuring).toBeGreaterThan(64)
      expect(pidsDuring).toBeLessThanOrEqual(128)
    }
    const after = await exec(
      s,
      id,
      'import os\nprint(len([p for p in os.listdir("/proc") if p.isdigit()]))',
    )
    expect(after.success).toBe(true)
    // tini, Jupyter Server, the new kernel: the bomb's processes are gone.
    expect(Number(after.output.stdout)).toBeLessThan(10)
    const pidsAfter = await hostPidsCurrent(container)
    console.info(`fork bomb: pids.current ${pidsDuring} during (limit 128), ${pidsAfter} after`)
    if (pidsAfter !== undefined) expect(pidsAfter).toBeLessThan(64)
    await assertServiceAndCanary()
    await s.client.stopContext(id)
  })

  it('A11: filling /workspace fails with ENOSPC at its size; the canary can still write', async () => {
    const id = await createContext(s)
    const result = await exec(
      s,
      id,
      "f = open('big', 'wb')\nwhile True: f.write(b'x' * (1 << 20))",
      30,
    )
    expect(result.success).toBe(false)
    expect(result.error?.value).toContain('No space left on device')
    const upload = await fetch(`${s.baseUrl}/api/v1/contexts/${canary}/files?path=ok.txt`, {
      method: 'PUT',
      body: 'ok',
    })
    expect(upload.status).toBe(201)
    // The files API reports the full disk as a limit.
    const full = await fetch(`${s.baseUrl}/api/v1/contexts/${id}/files?path=more.bin`, {
      method: 'PUT',
      body: Buffer.alloc(4 * MIB),
    })
    expect(full.status).toBe(429)
    const fullBody = (await full.json()) as { error: unknown }
    expect(fullBody.error).toMatchObject({ code: 'LIMIT_EXCEEDED', reason: 'disk' })
    await assertServiceAndCanary()
    await s.client.stopContext(id)
  })

  it('F7: with network "none" a connection attempt or a DNS lookup fails fast', async () => {
    const result = await exec(
      s,
      canary,
      [
        'import socket, time, urllib.request',
        'for attempt in [lambda: socket.create_connection(("1.1.1.1", 53), 3),',
        '                lambda: socket.getaddrinfo("example.com", 80),',
        '                lambda: urllib.request.urlopen("http://example.com", timeout=3)]:',
        '    t = time.monotonic()',
        '    try:',
        '        attempt()',
        '        print("connected")',
        '    except OSError as e:',
        '        print("failed", round(time.monotonic() - t, 2))',
        'print([name for _, name in socket.if_nameindex()])',
      ].join('\n'),
    )
    const lines: string[] = result.output.stdout.trim().split('\n')
    expect(lines.slice(0, 3).every((line) => line.startsWith('failed'))).toBe(true)
    for (const line of lines.slice(0, 3)) expect(Number(line.split(' ')[1])).toBeLessThan(1)
    expect(lines[3]).toBe("['lo']")
  })
})

/** pids.current of a container's cgroup, read on the host (an exec inside could not fork). */
async function hostPidsCurrent(containerId: string): Promise<number | undefined> {
  const candidates = [
    `/sys/fs/cgroup/pids/docker/${containerId}/pids.current`,
    `/sys/fs/cgroup/docker/${containerId}/pids.current`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope/pids.current`,
  ]
  for (const file of candidates) {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text !== undefined) return Number(text)
  }
  return undefined
}

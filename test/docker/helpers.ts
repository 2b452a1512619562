/**
 * Shared setup of the docker runtime tests: a real Docker engine, the sandbox image, a sandbox
 * service with SANDBOX_RUNTIME=docker under a scope of its own (so parallel runs and other stacks on
 * the same engine are never touched), and the docker CLI to look at what it made.
 *
 * Without a usable engine or image the suites skip, loudly; with DOCKER_REQUIRED=1 (CI) they fail.
 * SANDBOX_DOCKER_OCI_RUNTIME=runsc runs every suite with the containers under gVisor (CI runs the
 * docker project once per OCI runtime); a case that differs there asserts gVisor's behaviour.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { type Config, loadConfig } from '../../sandbox/config.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'
import { exec, type RuntimeTarget } from '../shared/runtime.js'

export { createContext, exec } from '../shared/runtime.js'

const run = promisify(execFile)
export const DOCKER = process.env.DOCKER ?? 'docker'
export const IMAGE = process.env.SANDBOX_DOCKER_IMAGE ?? 'sandbox-code-interpreter/sandbox:latest'
/** The OCI runtime the suites run the context containers under. */
export const OCI_RUNTIME: 'runc' | 'runsc' =
  process.env.SANDBOX_DOCKER_OCI_RUNTIME === 'runsc' ? 'runsc' : 'runc'
/** True when the containers run under gVisor. */
export const GVISOR = OCI_RUNTIME === 'runsc'

/** Why the docker suites cannot run here, or undefined when they can. */
function unavailableReason(): string | undefined {
  try {
    execFileSync(DOCKER, ['info'], { stdio: 'ignore', timeout: 15_000 })
  } catch {
    return `no usable Docker engine (\`${DOCKER} info\` failed)`
  }
  try {
    execFileSync(DOCKER, ['image', 'inspect', IMAGE], { stdio: 'ignore', timeout: 15_000 })
  } catch {
    return `image ${IMAGE} is missing (build it with scripts/test-docker.sh)`
  }
  if (GVISOR) {
    const runtimes = execFileSync(DOCKER, ['info', '--format', '{{json .Runtimes}}'], {
      encoding: 'utf8',
      timeout: 15_000,
    })
    if (!runtimes.includes('"runsc"'))
      return 'SANDBOX_DOCKER_OCI_RUNTIME=runsc but the engine has no runsc runtime (scripts/gvisor.sh adds it)'
  }
  return undefined
}

const reason = unavailableReason()
if (reason && process.env.DOCKER_REQUIRED === '1') {
  throw new Error(`DOCKER_REQUIRED=1 but the docker runtime cannot be tested: ${reason}`)
}
if (reason) {
  console.warn(
    `\n${'#'.repeat(72)}\n# SKIPPED: docker runtime tests NOT run: ${reason}\n# (DOCKER_REQUIRED=1 makes this a failure)\n${'#'.repeat(72)}\n`,
  )
}
/** True when the suites must be skipped (and DOCKER_REQUIRED is not set). */
export const skipDocker = reason !== undefined

/** A fresh scope per sandbox: its containers carry it, and nothing else on the engine does. */
export function testScope(): string {
  return `test-${process.pid}-${randomBytes(3).toString('hex')}`
}

export type DockerSandbox = RunningSandbox & { scope: string }

/**
 * Starts the real service with the docker runtime, waiting until its warm pool is full.
 * @param env - SANDBOX_DOCKER_* and other settings, as environment variables
 */
export async function startDockerSandbox(
  env: Record<string, string> = {},
  overrides: Partial<Config> = {},
): Promise<DockerSandbox> {
  const config = loadConfig({
    SANDBOX_RUNTIME: 'docker',
    SANDBOX_DOCKER_SCOPE: testScope(),
    SANDBOX_DOCKER_IMAGE: IMAGE,
    SANDBOX_DOCKER_OCI_RUNTIME: OCI_RUNTIME,
    ...env,
  })
  const scope = config.docker.scope
  const s = await startSandbox({
    runtime: 'docker',
    docker: config.docker,
    poolSize: { python: 1, javascript: 0, typescript: 0 },
    ...overrides,
  })
  await s.sandbox.pool.filled()
  return Object.assign(s, { scope })
}

/**
 * The docker runtime for the shared suites (test/shared/): a sandbox under a scope of its own,
 * whose close() also removes any container left in that scope.
 */
export const dockerRuntime: RuntimeTarget = {
  name: 'docker',
  skip: skipDocker,
  start: async (overrides = {}) => {
    const s = await startDockerSandbox({}, overrides)
    const closeSandbox = s.close
    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        try {
          await closeSandbox()
        } finally {
          await removeScope(s.scope)
        }
      })()
      return closing
    }
    return Object.assign(s, { close, [Symbol.asyncDispose]: close })
  },
  workspaceRoot: '/workspace',
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run(DOCKER, args, { timeout: 30_000 })
  return stdout.trim()
}

/** Ids of the containers of a scope (running or not). */
export async function containersOf(scope: string): Promise<string[]> {
  const out = await docker('ps', '-aq', '--no-trunc', '--filter', `label=sci.scope=${scope}`)
  return out ? out.split('\n') : []
}

/** Removes whatever a failed test left in a scope. */
export async function removeScope(scope: string): Promise<void> {
  const ids = await containersOf(scope)
  if (ids.length > 0) await docker('rm', '-f', ...ids)
}

/** The id of the container a context runs in: Docker names the container's host after it. */
export async function containerIdOf(s: RunningSandbox, id: string): Promise<string> {
  const result = await exec(s, id, 'print(open("/etc/hostname").read().strip())')
  const short = String(result.output?.stdout ?? '').trim()
  if (!/^[0-9a-f]{12}$/.test(short))
    throw new Error(`no container id from ${JSON.stringify(result)}`)
  return docker('inspect', '-f', '{{.Id}}', short)
}

/**
 * Python that prints the context's cgroup limits as JSON, for cgroup v2 (`memory.max`,
 * `pids.max`, `cpu.max`) and v1 (`memory.limit_in_bytes`, `pids.max`, `cpu.cfs_quota_us`).
 */
export const READ_CGROUP_LIMITS = `
import json, os
def r(p):
    try:
        return open(p).read().strip()
    except OSError:
        return None
if os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
    quota, period = (r('/sys/fs/cgroup/cpu.max') or 'max 100000').split()
    out = {'version': 2, 'memory': r('/sys/fs/cgroup/memory.max'), 'swap': r('/sys/fs/cgroup/memory.swap.max'),
           'pids': r('/sys/fs/cgroup/pids.max'), 'quota': quota, 'period': period,
           'oom_kills': dict(l.split() for l in (r('/sys/fs/cgroup/memory.events') or '').splitlines()).get('oom_kill')}
else:
    oom = dict(l.split() for l in (r('/sys/fs/cgroup/memory/memory.oom_control') or '').splitlines())
    out = {'version': 1, 'memory': r('/sys/fs/cgroup/memory/memory.limit_in_bytes'),
           'swap': r('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
           'pids': r('/sys/fs/cgroup/pids/pids.max'), 'quota': r('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'),
           'period': r('/sys/fs/cgroup/cpu/cpu.cfs_period_us'), 'oom_kills': oom.get('oom_kill')}
print(json.dumps(out))
`

export type CgroupLimits = {
  version: 1 | 2
  memory: string | null
  swap: string | null
  pids: string | null
  quota: string | null
  period: string | null
  oom_kills: string | null
}

/**
 * The cgroup limits a context's container runs under. runc: as the context sees them, from inside.
 * gVisor shows its sandbox no cgroup files: there the limits bind the sandbox as a whole (its
 * kernel, the Sentry, and everything it runs), and are read from the host's cgroup of the container.
 */
export async function cgroupLimits(s: RunningSandbox, id: string): Promise<CgroupLimits> {
  if (GVISOR) return hostCgroupLimits(await containerIdOf(s, id))
  const result = await exec(s, id, READ_CGROUP_LIMITS)
  return JSON.parse(result.output.stdout) as CgroupLimits
}

/** A container's cgroup limits as the host sees them (cgroup v1 or v2, Docker's cgroupfs layout). */
export async function hostCgroupLimits(containerId: string): Promise<CgroupLimits> {
  const read = (file: string) =>
    readFile(file, 'utf8').then(
      (text) => text.trim(),
      () => null,
    )
  const v2 = `/sys/fs/cgroup/system.slice/docker-${containerId}.scope`
  if ((await read(`${v2}/memory.max`)) !== null) {
    const [quota, period] = ((await read(`${v2}/cpu.max`)) ?? 'max 100000').split(' ')
    const events = (await read(`${v2}/memory.events`)) ?? ''
    return {
      version: 2,
      memory: await read(`${v2}/memory.max`),
      swap: await read(`${v2}/memory.swap.max`),
      pids: await read(`${v2}/pids.max`),
      quota: quota ?? null,
      period: period ?? null,
      oom_kills: /^oom_kill (\d+)/m.exec(events)?.[1] ?? null,
    }
  }
  const v1 = (controller: string, file: string) =>
    read(`/sys/fs/cgroup/${controller}/docker/${containerId}/${file}`)
  const oom = (await v1('memory', 'memory.oom_control')) ?? ''
  return {
    version: 1,
    memory: await v1('memory', 'memory.limit_in_bytes'),
    swap: await v1('memory', 'memory.memsw.limit_in_bytes'),
    pids: await v1('pids', 'pids.max'),
    quota: await v1('cpu', 'cpu.cfs_quota_us'),
    period: await v1('cpu', 'cpu.cfs_period_us'),
    oom_kills: /^oom_kill (\d+)/m.exec(oom)?.[1] ?? null,
  }
}

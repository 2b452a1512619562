/**
 * Shared setup of the swarm runtime tests: a sandbox service already running the swarm runtime on a
 * real Swarm (SWARM_SANDBOX_URL), reached over HTTP with the typed client, and the manager's Engine
 * API (SWARM_DOCKER_HOST) to look at the services, tasks and nodes it made. The service runs on the
 * cluster (it must sit on the contexts' overlay network), so the tests never start it themselves.
 *
 * Without those the suites skip, loudly; with SWARM_REQUIRED=1 (CI) they fail.
 */
import { createSandboxClient, type SandboxClient } from '../../client/index.js'
import type { ExecutionResult } from '../../sandbox/api.js'
import { createLogger } from '../../sandbox/logger.js'
import {
  SwarmEngine as Engine,
  type SwarmEngine,
  type Task,
} from '../../sandbox/runtimes/swarm/engine.js'

const env = process.env
export const SANDBOX_URL = env.SWARM_SANDBOX_URL
export const MANAGER = env.SWARM_DOCKER_HOST
export const SCOPE = env.SWARM_SCOPE ?? 'default'
/** Shell command that kills a worker; `{node}` is replaced by its hostname. */
export const KILL_COMMAND = env.SWARM_KILL_COMMAND

function unavailableReason(): string | undefined {
  if (!SANDBOX_URL) return 'SWARM_SANDBOX_URL (a sandbox service on the swarm runtime) is not set'
  if (!MANAGER) return 'SWARM_DOCKER_HOST (the Swarm manager API) is not set'
  return undefined
}

const reason = unavailableReason()
if (reason && env.SWARM_REQUIRED === '1') {
  throw new Error(`SWARM_REQUIRED=1 but the swarm runtime cannot be tested: ${reason}`)
}
if (reason) {
  console.warn(
    `\n${'#'.repeat(72)}\n# SKIPPED: swarm runtime tests NOT run: ${reason}\n# (SWARM_REQUIRED=1 makes this a failure)\n${'#'.repeat(72)}\n`,
  )
}
/** True when the suites must be skipped (and SWARM_REQUIRED is not set). */
export const skipSwarm = reason !== undefined

export type Swarm = {
  client: SandboxClient
  engine: SwarmEngine
  close: () => Promise<void>
}

/** The typed client of the service under test and the manager's API. */
export function connect(): Swarm {
  const client = createSandboxClient({
    baseUrl: (SANDBOX_URL as string).replace(/\/$/, ''),
    ...(env.SWARM_API_KEY ? { apiKey: env.SWARM_API_KEY } : {}),
  })
  const engine = new Engine(MANAGER as string, createLogger('silent'))
  return { client, engine, close: () => engine.close() }
}

/** Runs code in a context; a refusal of the sandbox is thrown as a SandboxApiError. */
export function exec(
  s: Swarm,
  id: string,
  code: string,
  timeout?: number,
): Promise<ExecutionResult> {
  return s.client.execute(id, { code, ...(timeout ? { timeout } : {}) })
}

/** The service serving a context, found by its labels (undefined once removed). */
export async function serviceOf(s: Swarm, contextId: string) {
  const [service] = await s.engine.services([`sci.scope=${SCOPE}`, `sci.context=${contextId}`])
  return service
}

/** The running task of a context's service. */
export async function taskOf(s: Swarm, contextId: string): Promise<Task> {
  const service = await serviceOf(s, contextId)
  if (!service) throw new Error(`no service for ${contextId}`)
  const tasks = await s.engine.tasks({ service: [service.id], 'desired-state': ['running'] })
  const task = tasks[0]
  if (!task) throw new Error(`no running task for ${contextId}`)
  return task
}

/** A service's full spec, as the manager holds it. */
export async function specOf(s: Swarm, serviceId: string): Promise<SpecView> {
  return (await s.engine.inspectService(serviceId)) as SpecView
}

export type SpecView = {
  Spec: {
    Labels: Record<string, string>
    TaskTemplate: {
      ContainerSpec: {
        User: string
        ReadOnly: boolean
        CapabilityDrop?: string[]
        Mounts: { Type: string; Target: string }[]
        Secrets: { File: { Name: string } }[]
      }
      Resources: {
        Limits: { MemoryBytes: number; NanoCPUs: number; Pids?: number }
        Reservations: { MemoryBytes: number; NanoCPUs: number }
      }
      RestartPolicy: { Condition: string }
      Networks: { Target: string }[]
    }
    EndpointSpec?: { Mode: string; Ports?: unknown[] }
  }
}

/** Python that prints the kernel's cgroup memory and pids limits as JSON (cgroup v1 or v2). */
export const READ_CGROUP_LIMITS = `
import json
def r(*paths):
    for p in paths:
        try:
            return open(p).read().strip()
        except OSError:
            pass
print(json.dumps({
  "memory": r("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
  "pids": r("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
}))
`

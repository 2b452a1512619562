/**
 * Where the swarm suite's cluster and stack are: scripts/test-swarm.sh builds a Swarm of
 * Docker-in-Docker nodes (scripts/swarm-cluster.sh), deploys deploy/stack.yml on it and runs
 * `vitest run --project swarm` with these variables set:
 *   SCI_SWARM_URL        the deployed sandbox's REST API (http://<manager's address>:8080)
 *   SANDBOX_API_KEY      its key
 *   SCI_SWARM_MANAGER    the manager node's container on the host engine
 *   SCI_SWARM_WORKERS    the worker nodes' containers, comma-separated; each one's name is also
 *                        its Swarm node's hostname, which contexts report as `node`
 *   SCI_SWARM_SCOPE      the deployed service's SANDBOX_DOCKER_SCOPE (its services' sci.scope)
 *   DOCKER               the host's docker client
 * Without SCI_SWARM_URL the suite skips, loudly; with DOCKER_REQUIRED=1 (CI) it fails instead.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createSandboxClient } from '../../client/index.js'

const env = process.env

export const cluster = {
  url: env.SCI_SWARM_URL ?? '',
  apiKey: env.SANDBOX_API_KEY || undefined,
  manager: env.SCI_SWARM_MANAGER ?? 'sci-cluster-manager',
  workers: (env.SCI_SWARM_WORKERS ?? '').split(',').filter(Boolean),
  scope: env.SCI_SWARM_SCOPE ?? 'sci',
  docker: env.DOCKER ?? 'docker',
}

const reason = cluster.url ? undefined : 'SCI_SWARM_URL is not set (scripts/test-swarm.sh sets it)'
if (reason && env.DOCKER_REQUIRED === '1') {
  throw new Error(`DOCKER_REQUIRED=1 but the swarm suite cannot run: ${reason}`)
}
if (reason) {
  console.warn(
    `\n${'#'.repeat(72)}\n# SKIPPED: swarm tests NOT run: ${reason}\n# (DOCKER_REQUIRED=1 makes this a failure)\n${'#'.repeat(72)}\n`,
  )
}
/** True when the suite must be skipped (and DOCKER_REQUIRED is not set). */
export const skipSwarm = reason !== undefined

/** The typed client of the deployed service. */
export const client = createSandboxClient({
  baseUrl: cluster.url || 'http://127.0.0.1:1',
  apiKey: cluster.apiKey,
  requestTimeoutMs: 120_000,
})

const run = promisify(execFile)

/** The host's docker CLI; returns stdout. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run(cluster.docker, args, { timeout: 120_000 })
  return stdout.trim()
}

/** The docker CLI of the manager node (run inside its container); returns stdout. */
export function onManager(...args: string[]): Promise<string> {
  return docker('exec', cluster.manager, 'docker', ...args)
}

export type TaskState = { service: string; node: string; state: string; desired: string }

/** The tasks of the deployed service's context and pool services, as the manager sees them. */
export async function kernelTasks(): Promise<TaskState[]> {
  const services = await onManager(
    'service',
    'ls',
    '-q',
    '--filter',
    `label=sci.scope=${cluster.scope}`,
    '--filter',
    'label=sci.runtime=swarm-kernel',
  )
  if (!services) return []
  const tasks = await onManager(
    'service',
    'ps',
    '--no-trunc',
    '--format',
    '{{.Name}}\t{{.Node}}\t{{.CurrentState}}\t{{.DesiredState}}',
    ...services.split('\n'),
  )
  return tasks
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [service = '', node = '', state = '', desired = ''] = line.split('\t')
      return {
        service: service.replace(/\.\d+$/, ''),
        node,
        state: state.split(' ')[0]?.toLowerCase() ?? '',
        desired: desired.toLowerCase(),
      }
    })
}

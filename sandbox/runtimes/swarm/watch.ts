import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { SwarmEngine, SwarmNode, Task } from './engine.js'
import type { KernelService } from './service.js'
import { isFinal } from './spec.js'

export type TaskWatchOptions = {
  engine: SwarmEngine
  /** Label filters of the services to follow (one runtime instance's). */
  labels: string[]
  /** The runtime's placed services, read at each look. */
  services: ReadonlySet<KernelService>
  intervalMs: number
  signal: AbortSignal
  log: Logger
  onLost: (service: KernelService, why: string) => void
}

/**
 * Looks at the instance's tasks and the swarm's nodes every interval (the manager's view, which
 * is what decides where tasks run): a service whose task ended, or whose node is down, drained
 * or gone, has lost its kernel. Swarm never re-runs it elsewhere (restart policy none), so it is
 * reported once and for good. Also keeps the node names for `GET /api/v1/contexts`.
 */
export class TaskWatch {
  /** False while the manager does not answer. */
  managerUp = true
  private readonly hostnames = new Map<string, string>()

  constructor(private readonly options: TaskWatchOptions) {}

  start(): void {
    void this.loop()
  }

  /** The hostname of a node, once seen. */
  hostname(nodeId: string | undefined): string | undefined {
    return nodeId ? this.hostnames.get(nodeId) : undefined
  }

  /** One look at tasks and nodes; exported for the runtime's start (node names at once). */
  async look(): Promise<void> {
    const { engine, labels, services, signal } = this.options
    const [tasks, nodes] = await Promise.all([
      engine.tasks({ label: labels }, signal),
      engine.nodes(signal),
    ])
    for (const node of nodes) {
      if (node.Description?.Hostname) this.hostnames.set(node.ID, node.Description.Hostname)
    }
    const byId = new Map(tasks.map((task) => [task.ID, task]))
    const nodesById = new Map(nodes.map((node) => [node.ID, node]))
    for (const service of [...services]) {
      if (!service.taskId || service.gone) continue
      const why = lostBecause(byId.get(service.taskId), nodesById, service.nodeId)
      if (why) this.options.onLost(service, why)
    }
  }

  private async loop(): Promise<void> {
    const { signal, log, intervalMs } = this.options
    while (!signal.aborted) {
      try {
        await this.look()
        if (!this.managerUp) log.info('swarm manager reachable again')
        this.managerUp = true
      } catch (error) {
        if (signal.aborted) return
        if (this.managerUp) log.error({ err: error }, 'swarm manager unreachable')
        this.managerUp = false
      }
      await sleep(intervalMs, undefined, { signal }).catch(() => undefined)
    }
  }
}

/**
 * Why a placed service's kernel is lost, or undefined while its task runs on a ready node.
 * @param task - the service's task as the manager lists it (absent: the service was removed)
 */
export function lostBecause(
  task: Task | undefined,
  nodes: ReadonlyMap<string, SwarmNode>,
  nodeId: string | undefined,
): string | undefined {
  if (!task) return 'its service is gone'
  if (isFinal(task.Status.State) || task.DesiredState !== 'running')
    return `its task is ${task.Status.State}${task.Status.Err ? ` (${task.Status.Err})` : ''}`
  const node = nodeId ? nodes.get(nodeId) : undefined
  if (!node) return 'its node left the swarm'
  if (node.Status.State !== 'ready')
    return `its node ${node.Description?.Hostname ?? node.ID} is ${node.Status.State}`
  if (node.Spec.Availability === 'drain')
    return `its node ${node.Description?.Hostname ?? node.ID} is drained`
  return undefined
}

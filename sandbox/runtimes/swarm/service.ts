import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { SandboxError } from '../../errors.js'
import type { JupyterKernel } from '../../jupyter/kernel.js'
import type { HostedKernel } from '../binding.js'
import { UnixSocketClient } from '../docker/http.js'
import type { FilesEndpoint } from '../docker/workspace.js'
import { EngineError, type SwarmEngine, type Task } from './engine.js'
import { addressOn, isFinal } from './spec.js'

/** How often a starting service's task and Jupyter Server are looked at. */
const START_POLL_MS = 100

export type KernelServiceOptions = {
  engine: SwarmEngine
  name: string
  networkId: string
  port: number
  token: string
  log: Logger
}

/**
 * One context's Swarm service: its task on some node, the Jupyter Server there (reached over the
 * overlay with the context's token), and its secret. Owns both: remove() is idempotent and
 * memoised. Lost (node gone, task ended) is reported by the runtime's TaskWatch.
 */
export class KernelService implements FilesEndpoint {
  id: string | undefined
  secretId: string | undefined
  /** The node its task runs on, once placed. */
  nodeId: string | undefined
  taskId: string | undefined
  private placedClient: UnixSocketClient | undefined
  /** The kernel started (or adopted) in it. */
  kernel: JupyterKernel | undefined
  private removal: Promise<void> | undefined
  private lost = false

  constructor(readonly options: KernelServiceOptions) {}

  get name(): string {
    return this.options.name
  }

  /** The Jupyter Server's client, once the task runs. */
  get client(): UnixSocketClient {
    if (!this.placedClient) throw new Error(`service ${this.name} has no running task`)
    return this.placedClient
  }

  /** True once the service's task is gone (node lost, task ended) or the service is removed. */
  get gone(): boolean {
    return this.lost || this.removal !== undefined
  }

  /**
   * Creates the context's secret and service, and waits for its task to run.
   * @param spec - the service spec (serviceSpec()), naming the secret `secretName`
   * @param pendingTimeoutMs - how long the task may wait for a node that fits
   * @throws SandboxError LIMIT_EXCEEDED (reason `cluster_capacity`) when no node took the task in
   *   time, UNAVAILABLE when the task failed
   */
  async create(
    makeSpec: (secret: { id: string; name: string }) => object,
    labels: Record<string, string>,
    pendingTimeoutMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { engine, name, token } = this.options
    const secretName = `${name}-token`
    this.secretId = await engine.createSecret(secretName, token, labels)
    this.id = await engine.createService(makeSpec({ id: this.secretId, name: secretName }), signal)
    await this.waitRunning(pendingTimeoutMs, signal)
  }

  /** Takes over a running service found by label (a restarted sandbox service adopting it). */
  adopt(service: { id: string; secretIds: string[] }, task: Task): void {
    this.id = service.id
    this.secretId = service.secretIds[0]
    this.placed(task)
  }

  /** Waits until the Jupyter Server answers on the task's overlay address. */
  async waitReady(signal: AbortSignal): Promise<void> {
    const client = this.client
    for (;;) {
      if (this.gone) throw new Error(`service ${this.name} ended during startup`)
      try {
        const response = await client.fetch('/api/status', {
          signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]),
        })
        await response.body?.cancel()
        if (response.status === 200) return
      } catch (error) {
        if (signal.aborted) throw error
      }
      await sleep(START_POLL_MS, undefined, { signal })
    }
  }

  /** Notes that its task is gone for good (node down or left, task ended, service removed). */
  markLost(): void {
    this.lost = true
  }

  /** Removes the service, then its secret. Idempotent; concurrent calls share one removal. */
  remove(): Promise<void> {
    this.removal ??= (async () => {
      const { engine } = this.options
      try {
        if (this.id) await engine.removeService(this.id)
      } finally {
        this.placedClient?.close()
        if (this.secretId) await this.removeSecret(this.secretId)
      }
    })()
    return this.removal
  }

  private async removeSecret(id: string): Promise<void> {
    // The manager may still count the just-removed service as the secret's user for a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.engine.removeSecret(id)
      } catch (error) {
        if (attempt >= 10 || !(error instanceof EngineError) || error.status !== 400) throw error
        await sleep(200)
      }
    }
  }

  private async waitRunning(pendingTimeoutMs: number, signal: AbortSignal): Promise<void> {
    const { engine } = this.options
    const pendingSince = Date.now()
    for (;;) {
      const tasks = await engine.tasks({ service: [this.id as string] }, signal)
      const task = newest(tasks)
      const state = task?.Status.State
      if (task && state === 'running' && addressOn(task, this.options.networkId)) {
        this.placed(task)
        return
      }
      if (task && state && isFinal(state)) {
        throw new SandboxError(
          'UNAVAILABLE',
          `The context's task ${state} on its node: ${task.Status.Err ?? task.Status.Message ?? 'no reason given'}`,
        )
      }
      // "pending": the scheduler found no node with room (reservations) or matching constraints.
      if (
        (!task || state === 'pending' || state === 'new') &&
        Date.now() - pendingSince > pendingTimeoutMs
      ) {
        throw new SandboxError(
          'LIMIT_EXCEEDED',
          `No node of the swarm can run the context now (${task?.Status.Err ?? 'not scheduled'}); ask for smaller limits, relax SANDBOX_SWARM_CONSTRAINTS or add nodes`,
          { reason: 'cluster_capacity', retryAfterS: 10 },
        )
      }
      await sleep(START_POLL_MS, undefined, { signal })
    }
  }

  private placed(task: Task): void {
    const { networkId, port, token } = this.options
    const host = addressOn(task, networkId)
    if (!host) throw new Error(`task ${task.ID} has no address on the network`)
    this.taskId = task.ID
    this.nodeId = task.NodeID
    this.placedClient = new UnixSocketClient({ host, port }, token)
  }
}

/** The most recently created task (a one-replica service that never restarts has one). */
function newest(tasks: Task[]): Task | undefined {
  return tasks.sort((a, b) => (b.Status.Timestamp ?? '').localeCompare(a.Status.Timestamp ?? ''))[0]
}

/** A kernel and the service that hosts it: shutting it down removes the service. */
export class ServiceKernel implements HostedKernel {
  constructor(
    readonly kernel: JupyterKernel,
    readonly service: KernelService,
    private readonly remove: () => Promise<void>,
  ) {}

  get usable(): boolean {
    return this.kernel.usable
  }

  /** No graceful shutdown through Jupyter: the whole service goes. */
  async shutdown(): Promise<void> {
    this.kernel.detach()
    await this.remove()
  }
}

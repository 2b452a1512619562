import type { Logger } from 'pino'
import type { KernelContainer } from './container.js'
import type { DockerEngine, EngineEvent } from './engine.js'

export type ContainerWatchOptions = {
  engine: DockerEngine
  /** Label filters of the containers to follow (one runtime instance's). */
  labels: string[]
  dockerHost: string
  /** The runtime's live containers, read at each event. */
  containers: ReadonlySet<KernelContainer>
  /** Ends the watch (the runtime closes). */
  signal: AbortSignal
  log: Logger
  onDied: (container: KernelContainer, exitCode: string | undefined) => void
}

/**
 * Follows `die` and `oom` events of a runtime's containers, reconnecting (and checking every
 * container) when the stream breaks, for as long as the runtime is open. A dead container is
 * reported once; an OOM is noted on its container, so the kernel death it causes is explained.
 */
export class ContainerWatch {
  /** False while the engine's event stream is down and the engine does not answer. */
  engineUp = true

  constructor(private readonly options: ContainerWatchOptions) {}

  start(): void {
    void this.loop()
  }

  private async loop(): Promise<void> {
    const { engine, labels, signal, log, dockerHost } = this.options
    let since: number | undefined
    for (let failures = 0; !signal.aborted; ) {
      // Resolves when the stream ends: the engine stopped, or the connection broke.
      await engine
        .events({
          labels,
          actions: ['die', 'oom'],
          since,
          signal,
          onEvent: (event) => {
            since = event.timeNano
            this.onEvent(event)
          },
        })
        .catch(() => undefined)
      if (signal.aborted) return
      if (this.engineUp) log.error({ dockerHost }, 'docker engine unreachable')
      this.engineUp = false
      failures += 1
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** failures, 5000)))
      if (await this.reconcile().catch(() => false)) {
        log.info('docker engine reachable again')
        failures = 0
      }
    }
  }

  private onEvent(event: EngineEvent): void {
    const container = [...this.options.containers].find((c) => c.id === event.containerId)
    if (!container) return
    if (event.action === 'oom') {
      container.oomKilled = true
      container.noteLimitHit(
        'memory',
        `${container.limits.memory_mb} MiB: SANDBOX_DOCKER_MEMORY_MB, or limits.memory_mb up to SANDBOX_DOCKER_MAX_MEMORY_MB`,
      )
      this.options.log.warn({ container: container.name }, 'memory limit reached in a container')
      return
    }
    if (event.action === 'die') this.options.onDied(container, event.attributes.exitCode)
  }

  /**
   * After the event stream was down: any container no longer running died meanwhile.
   * @returns true once the engine answers again
   */
  private async reconcile(): Promise<boolean> {
    const { engine, containers, onDied } = this.options
    await engine.ping(AbortSignal.timeout(2000))
    for (const container of [...containers]) {
      if (!container.id || container.gone) continue
      const state = await engine.state(container.id)
      if (!state?.running) onDied(container, String(state?.exitCode ?? ''))
    }
    this.engineUp = true
    return true
  }
}

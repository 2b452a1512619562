import { SandboxError } from '../errors.js'

/**
 * The kernel starts a runtime has in flight. Each is bounded by its caller's signal, the runtime's
 * own (aborted when it closes) and the startup deadline; the runtime's close() waits for settled()
 * so that no start outlives it.
 */
export class InFlightStarts {
  private readonly running = new Set<Promise<unknown>>()

  constructor(
    private readonly timeoutMs: number,
    private readonly closed: AbortSignal,
  ) {}

  /** @throws SandboxError UNAVAILABLE once the runtime is closing */
  async run<T>(signal: AbortSignal, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed.aborted) throw new SandboxError('UNAVAILABLE', 'The sandbox is shutting down')
    const started = start(
      AbortSignal.any([signal, this.closed, AbortSignal.timeout(this.timeoutMs)]),
    )
    this.running.add(started)
    try {
      return await started
    } finally {
      this.running.delete(started)
    }
  }

  async settled(): Promise<void> {
    await Promise.allSettled(this.running)
  }
}

import type { Context, ContextStatus, ExecutionEvent, ExecutionResult, Language } from './api.js'
import { SandboxError } from './errors.js'
import { executeCell, KERNEL_READY_TIMEOUT_MS, KERNEL_RESTART_TIMEOUT_MS } from './execution.js'
import type { JupyterKernel } from './jupyter/kernel.js'
import type { Binding } from './runtimes/runtime.js'

/** How long an interrupt request may wait for the Jupyter Server's answer. */
const INTERRUPT_TIMEOUT_MS = 10_000

export type ContextInit = {
  id: string
  language: Language
  name: string
  description: string
  sessionName: string | undefined
}

export type ExecutionLimits = { timeoutMs: number; graceMs: number; maxOutputChars: number }

/**
 * One context: a kernel, its working dir and env, and a queue so its executes run one at a time in
 * arrival order. Interrupt and restart bypass the queue: they exist to cut a running cell short.
 */
export class ContextHandle implements AsyncDisposable {
  readonly createdAt = new Date()
  lastUsed = new Date()
  private status: ContextStatus = 'active'
  private message: string | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private pending = 0
  private needsSetup = false
  private restarting: Promise<void> | undefined
  private unsubscribe: () => void = () => {}

  private constructor(
    readonly init: ContextInit,
    private readonly binding: Binding,
  ) {
    this.watch(binding.kernel)
  }

  /** Takes over a runtime's binding; the context closes it from now on. */
  static open(init: ContextInit, binding: Binding): ContextHandle {
    return new ContextHandle(init, binding)
  }

  get id(): string {
    return this.init.id
  }

  /** True while an execute runs or waits; the idle reaper leaves busy contexts alone. */
  get busy(): boolean {
    return this.pending > 0 || this.restarting !== undefined
  }

  /** The context's files, for the files API. */
  get workspace(): Binding['workspace'] {
    return this.binding.workspace
  }

  toJSON(): Context {
    const { id, language, name, description, sessionName } = this.init
    const { workspace, limits, node } = this.binding
    return {
      context_id: id,
      type: 'jupyter',
      language,
      name,
      description,
      ...(sessionName ? { session_name: sessionName } : {}),
      status: this.status,
      created_at: this.createdAt.toISOString(),
      last_used: this.lastUsed.toISOString(),
      working_dir: workspace.dir,
      ...(this.message ? { message: this.message } : {}),
      ...(limits ? { limits } : {}),
      ...(node ? { node } : {}),
    }
  }

  /** Queues `code` behind earlier executes of this context and runs it. */
  execute(
    code: string,
    limits: ExecutionLimits,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult> {
    this.pending += 1
    const run = this.queue.then(async () => {
      options.signal.throwIfAborted()
      await this.ready(options.signal)
      const result = await executeCell(this.binding.kernel, code, {
        ...limits,
        ...options,
        limitHit: () => this.binding.takeLimitHit(),
      })
      if (result.context_restarted) this.needsSetup = true
      return result
    })
    this.queue = run.catch(() => undefined)
    return run.finally(() => {
      this.pending -= 1
      this.lastUsed = new Date()
    })
  }

  /** Interrupts the running cell; a no-op when the kernel is idle. */
  async interrupt(): Promise<void> {
    this.assertOpen()
    const { kernel } = this.binding
    if (kernel.usable) await kernel.interrupt(AbortSignal.timeout(INTERRUPT_TIMEOUT_MS))
    this.lastUsed = new Date()
  }

  /** Restarts the kernel (state cleared, context kept), or replaces a kernel that is gone. */
  async restart(): Promise<void> {
    this.assertOpen()
    this.restarting ??= this.restartKernel().finally(() => {
      this.restarting = undefined
      this.lastUsed = new Date()
    })
    await this.restarting
  }

  /** Stops the kernel and closes the workspace. Idempotent. */
  async close(): Promise<void> {
    if (this.status === 'stopped') return
    this.status = 'stopped'
    this.unsubscribe()
    await this.binding.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private async restartKernel(): Promise<void> {
    const deadline = AbortSignal.timeout(KERNEL_RESTART_TIMEOUT_MS)
    if (this.binding.kernel.usable) {
      await this.binding.kernel.restart(deadline)
    } else {
      this.unsubscribe()
      await this.binding.replaceKernel(deadline)
      this.watch(this.binding.kernel)
    }
    await this.setup()
    this.status = 'active'
    this.message = undefined
  }

  private async ready(signal: AbortSignal): Promise<void> {
    if (this.restarting) await this.restarting.catch(() => undefined)
    this.assertOpen()
    if (this.status === 'error') {
      throw new SandboxError(
        'EXECUTION_FAILED',
        `Context ${this.id} cannot run code: ${this.message}. POST /api/v1/contexts/${this.id}/restart to continue`,
        { reason: 'kernel_lost' },
      )
    }
    if (this.needsSetup) {
      const { kernel } = this.binding
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(KERNEL_READY_TIMEOUT_MS)])
      await kernel.waitReady(deadline).catch((error) => {
        if (signal.aborted) throw error
        // Gone for good (Jupyter gave up restarting it): the status says so, with a clear error.
        if (!kernel.usable) return this.ready(signal)
        throw new SandboxError(
          'UNAVAILABLE',
          `The kernel of context ${this.id} did not come back within ${KERNEL_READY_TIMEOUT_MS / 1000} s`,
          { cause: error },
        )
      })
      if (this.needsSetup) await this.setup()
    }
  }

  /** Moves the kernel into the context's working dir and environment. Runs silently. */
  private async setup(): Promise<void> {
    await this.binding.prepare()
    this.needsSetup = false
  }

  private watch(kernel: JupyterKernel): void {
    this.unsubscribe = kernel.onDisruption((disruption) => {
      if (disruption === 'died') this.needsSetup = true
      if ((disruption === 'died' || disruption === 'lost') && !kernel.usable) {
        this.status = 'error'
        this.message =
          disruption === 'lost'
            ? 'its kernel was lost when the Jupyter Server (or container) stopped'
            : 'its kernel died and could not be restarted'
      }
    })
  }

  private assertOpen(): void {
    if (this.status === 'stopped') {
      throw new SandboxError('CONTEXT_NOT_FOUND', `Context ${this.id} was stopped`)
    }
  }
}

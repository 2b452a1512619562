import type {
  AppliedLimits,
  Context,
  ContextStatus,
  ExecutionEvent,
  ExecutionResult,
  Language,
} from './api.js'
import { SandboxError } from './errors.js'
import { executeCell } from './execution.js'
import type { JupyterKernel } from './jupyter/kernel.js'
import type { Workspace } from './runtimes/process/workspace.js'

/** How long an execute waits for a restarted kernel to answer before failing. */
const KERNEL_READY_TIMEOUT_MS = 60_000

export type ContextInit = {
  id: string
  language: Language
  name: string
  description: string
  sessionName: string | undefined
  workspace: Workspace
  env: Record<string, string>
  /** Resource limits the runtime applies to this context, when it has per-context limits. */
  limits?: AppliedLimits
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
    private kernel: JupyterKernel,
    private readonly acquireKernel: (
      language: Language,
      signal: AbortSignal,
    ) => Promise<JupyterKernel>,
  ) {
    this.watch(kernel)
  }

  /** Takes over `kernel`, moves it into the working dir and env; shuts it down if that fails. */
  static async open(
    init: ContextInit,
    kernel: JupyterKernel,
    acquireKernel: (language: Language, signal: AbortSignal) => Promise<JupyterKernel>,
  ): Promise<ContextHandle> {
    const handle = new ContextHandle(init, kernel, acquireKernel)
    try {
      await handle.setup()
      return handle
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  get id(): string {
    return this.init.id
  }

  /** True while an execute runs or waits; the idle reaper leaves busy contexts alone. */
  get busy(): boolean {
    return this.pending > 0 || this.restarting !== undefined
  }

  toJSON(): Context {
    const { id, language, name, description, sessionName, workspace } = this.init
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
      ...(this.init.limits ? { limits: this.init.limits } : {}),
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
      const result = await executeCell(this.kernel, code, { ...limits, ...options })
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
    if (this.kernel.usable) await this.kernel.interrupt()
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
    try {
      await this.kernel.shutdown()
    } finally {
      await this.init.workspace.close()
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private async restartKernel(): Promise<void> {
    if (this.kernel.usable) {
      await this.kernel.restart()
    } else {
      this.unsubscribe()
      this.kernel = await this.acquireKernel(this.init.language, AbortSignal.timeout(60_000))
      if (this.status === 'stopped') {
        await this.kernel.shutdown()
        return
      }
      this.watch(this.kernel)
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
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(KERNEL_READY_TIMEOUT_MS)])
      await this.kernel.waitReady(deadline).catch((error) => {
        if (signal.aborted) throw error
        // Gone for good (Jupyter gave up restarting it): the status says so, with a clear error.
        if (!this.kernel.usable) return this.ready(signal)
        throw new SandboxError(
          'UNAVAILABLE',
          `The kernel of context ${this.id} did not come back within 60 s`,
          {
            cause: error,
          },
        )
      })
      if (this.needsSetup) await this.setup()
    }
  }

  /** Moves the kernel into the context's working dir and environment. Runs silently. */
  private async setup(): Promise<void> {
    const { language, workspace, env } = this.init
    const dir = JSON.stringify(workspace.dir)
    const vars = JSON.stringify(env)
    const code =
      language === 'python'
        ? `import os as _sci_os, json as _sci_json\n_sci_os.chdir(${dir})\n_sci_os.environ.update(_sci_json.loads(${JSON.stringify(vars)}))\ndel _sci_os, _sci_json`
        : `process.chdir(${dir}); Object.assign(process.env, ${vars});`
    const reply = await this.kernel.execute(code, () => {}, { silent: true })
    if (reply.status !== 'ok')
      throw new SandboxError('UNAVAILABLE', `Could not prepare the ${language} kernel`)
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

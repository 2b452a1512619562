import type { Logger } from 'pino'
import type { AppliedLimits, Language } from '../api.js'
import { SandboxError } from '../errors.js'
import type { JupyterKernel } from '../jupyter/kernel.js'
import { contextSetupCode } from '../jupyter/kernelspecs.js'
import type { Binding, LimitHit, Workspace } from './runtime.js'

/** A started kernel and what hosts it, as a runtime pools it and hands it to a context. */
export interface HostedKernel {
  readonly kernel: JupyterKernel
  /** False once the kernel is shut down, lost or dead for good. */
  readonly usable: boolean
  /** Stops the kernel and frees its host. Idempotent. */
  shutdown(): Promise<void>
}

export type ContextBindingOptions<T extends HostedKernel> = {
  hosted: T
  workspace: Workspace
  language: Language
  env: Readonly<Record<string, string>>
  limits?: AppliedLimits
  /** Logs with the context id, so an operator can tell which kernel serves which context. */
  log: Logger
  /** A fresh hosted kernel in place of a lost one, with the workspace moved to it. */
  replace: (signal: AbortSignal) => Promise<T>
  /** The limit that explains the hosted kernel's death, read once; absent where none is seen. */
  limitHit?: (hosted: T) => LimitHit | undefined
  /** The machine the hosted kernel runs on, where the runtime knows it (swarm: the node). */
  node?: (hosted: T) => string | undefined
}

/**
 * A context's kernel and workspace, as every runtime binds them: the runtimes differ only in what
 * hosts a kernel and how a lost one is replaced.
 */
export class ContextBinding<T extends HostedKernel> implements Binding {
  private hosted: T
  private closed = false

  constructor(private readonly options: ContextBindingOptions<T>) {
    this.hosted = options.hosted
  }

  get kernel(): JupyterKernel {
    return this.hosted.kernel
  }

  get workspace(): Workspace {
    return this.options.workspace
  }

  get limits(): AppliedLimits | undefined {
    return this.options.limits
  }

  get node(): string | undefined {
    return this.options.node?.(this.hosted)
  }

  /** The hosted kernel, for the runtime that made it. */
  get host(): T {
    return this.hosted
  }

  async prepare(): Promise<void> {
    const { language, workspace, env } = this.options
    const code = contextSetupCode(language, workspace.dir, env)
    const reply = await this.kernel.execute(code, () => {}, { silent: true })
    if (reply.status !== 'ok')
      throw new SandboxError('UNAVAILABLE', `Could not prepare the ${language} kernel`)
  }

  async replaceKernel(signal: AbortSignal): Promise<void> {
    const replacement = await this.options.replace(signal)
    if (this.closed) {
      await replacement.shutdown()
      throw new SandboxError('CONTEXT_NOT_FOUND', 'The context was stopped')
    }
    const lost = this.hosted
    this.hosted = replacement
    this.options.log.info({ kernelId: replacement.kernel.id }, 'lost kernel replaced')
    await lost.shutdown()
  }

  takeLimitHit(): LimitHit | undefined {
    return this.options.limitHit?.(this.hosted)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.hosted.shutdown()
    } finally {
      await this.options.workspace.close()
    }
  }
}

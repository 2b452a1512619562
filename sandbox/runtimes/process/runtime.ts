import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import type { AppliedLimits, ContextLimits, Language } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { KERNEL_SPEC } from '../../jupyter/kernelspecs.js'
import { JupyterServer, type KernelStarts } from '../../jupyter/server.js'
import { HostWorkspace, type Workspace } from './workspace.js'

/** Resource limits of one context, as a runtime with per-context limits will apply them. */
export type LimitsPlan = {
  applied: AppliedLimits
  /** False when a warm kernel cannot take them (another network or /workspace size). */
  poolable: boolean
}

/** Where kernels run. The routes and the context service see only this. */
export interface KernelRuntime {
  /**
   * Starts a kernel and resolves once it answers; throws SandboxError UNAVAILABLE when it cannot.
   * @param limits - a context's own limits; default: the runtime's (what the warm pool holds)
   */
  startKernel(language: Language, signal: AbortSignal, limits?: LimitsPlan): Promise<JupyterKernel>
  /**
   * Creates the working directory of a new context whose code runs in `kernel`.
   * @param requested - the client's working_dir, to be confined to what the runtime allows
   * @param limits - the context's limits, applied to the kernel's environment
   */
  openWorkspace(
    kernel: JupyterKernel,
    contextId: string,
    requested: string | undefined,
    limits?: LimitsPlan,
  ): Promise<Workspace>
  /**
   * Checks a create request's limits against the configured maxima. Absent on runtimes without
   * per-context limits (the process runtime).
   * @throws SandboxError INVALID_PARAMS naming the limit and its maximum
   */
  planLimits?(requested: ContextLimits | undefined): LimitsPlan
  /** True while new kernels can be started. */
  readonly healthy: boolean
  close(): Promise<void>
}

export type ProcessRuntimeOptions = {
  python: string
  /** Python kernels forked from the kernel template (sci_kernel_provisioner.py). */
  kernelTemplate?: boolean
  kernelMemoryMb: number
  kernelMaxOutputChars: number
  workspaceRoot: string
  startupTimeoutMs: number
  log: Logger
}

/**
 * The "process" runtime: one Jupyter Server child process, kernels as its children. If the server
 * dies it is started again; its kernels are reported lost (their contexts say so), never silently
 * replaced.
 */
export class ProcessKernelRuntime implements KernelRuntime, AsyncDisposable {
  private server: JupyterServer | undefined
  private starting: Promise<JupyterServer> | undefined
  private readonly kernels = new Set<JupyterKernel>()
  private closed = false

  private constructor(
    private readonly options: ProcessRuntimeOptions,
    private readonly runDir: string,
  ) {}

  /** Creates the runtime and starts its Jupyter Server. */
  static async start(options: ProcessRuntimeOptions): Promise<ProcessKernelRuntime> {
    const runDir = await mkdtemp(path.join(os.tmpdir(), 'sci-jupyter-'))
    const runtime = new ProcessKernelRuntime(options, runDir)
    try {
      await runtime.ensureServer()
      return runtime
    } catch (error) {
      await runtime.close()
      throw error
    }
  }

  get healthy(): boolean {
    return !this.closed && this.server !== undefined
  }

  async startKernel(language: Language, signal: AbortSignal): Promise<JupyterKernel> {
    const server = await this.ensureServer()
    try {
      const kernel = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        settings: server.settings,
        log: this.options.log,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.startupTimeoutMs)]),
      })
      this.kernels.add(kernel)
      kernel.onDisruption((disruption) => {
        if (disruption === 'shutdown' || disruption === 'lost') this.kernels.delete(kernel)
      })
      return kernel
    } catch (error) {
      throw new SandboxError('UNAVAILABLE', `Could not start a ${language} kernel`, {
        cause: error,
      })
    }
  }

  /** Python kernel starts per path, as the Jupyter Server counts them; for /metrics. */
  async kernelStarts(): Promise<KernelStarts | undefined> {
    return this.server?.kernelStarts()
  }

  /** Process runtime: a directory under the workspace root, on this machine's file system. */
  openWorkspace(
    _kernel: JupyterKernel,
    contextId: string,
    requested: string | undefined,
  ): Promise<Workspace> {
    return HostWorkspace.open(this.options.workspaceRoot, contextId, requested)
  }

  /** Shuts every kernel down, then the server. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await Promise.allSettled([...this.kernels].map((kernel) => kernel.shutdown()))
    } finally {
      try {
        await (this.server ?? (await this.starting?.catch(() => undefined)))?.close()
      } finally {
        await rm(this.runDir, { recursive: true, force: true })
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private ensureServer(): Promise<JupyterServer> {
    if (this.closed)
      return Promise.reject(new SandboxError('UNAVAILABLE', 'The sandbox is shutting down'))
    if (this.server) return Promise.resolve(this.server)
    this.starting ??= JupyterServer.start({
      python: this.options.python,
      runDir: this.runDir,
      rootDir: this.options.workspaceRoot,
      startupTimeoutMs: this.options.startupTimeoutMs,
      kernelMemoryMb: this.options.kernelMemoryMb,
      kernelMaxOutputChars: this.options.kernelMaxOutputChars,
      kernelTemplate: this.options.kernelTemplate,
      log: this.options.log,
      onUnexpectedExit: (code, signal) => this.onServerExit(code, signal),
    }).then(
      (server) => {
        this.server = server
        this.starting = undefined
        return server
      },
      (error) => {
        this.starting = undefined
        throw new SandboxError('UNAVAILABLE', 'The Jupyter Server could not be started', {
          cause: error,
        })
      },
    )
    return this.starting
  }

  private onServerExit(code: number | null, signal: string | null): void {
    this.options.log.error(
      { code, signal, lostKernels: this.kernels.size },
      'jupyter server exited; restarting it',
    )
    this.server = undefined
    for (const kernel of [...this.kernels]) kernel.markLost()
    this.kernels.clear()
    if (this.closed) return
    this.ensureServer().catch((error) =>
      this.options.log.error({ err: error }, 'jupyter server restart failed'),
    )
  }
}

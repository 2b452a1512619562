import { chmod, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionResult, Language } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { KERNEL_SPEC } from '../../jupyter/kernelspecs.js'
import { JupyterServer, type KernelStarts } from '../../jupyter/server.js'
import { ContextBinding, type HostedKernel } from '../binding.js'
import { KernelPool } from '../pool.js'
import type {
  Binding,
  BindRequest,
  KernelRuntime,
  OneShotRequest,
  RuntimeOptions,
} from '../runtime.js'
import { runInRunner } from './one-shot.js'
import { type IsolationLevel, type KernelUidSettings, KernelUids, type Owner } from './uids.js'
import { HostWorkspace } from './workspace.js'

export type ProcessRuntimeOptions = RuntimeOptions & {
  python: string
  /** Python kernels forked from the kernel template (sci_kernel_provisioner.py). */
  kernelTemplate?: boolean
  kernelMemoryMb: number
  workspaceRoot: string
  /** A uid per kernel (SANDBOX_KERNEL_UIDS); unset: kernels run as the service, nothing logged. */
  kernelUids?: KernelUidSettings
}

/**
 * The "process" runtime: one Jupyter Server child process, kernels as its children. If the server
 * dies it is started again; its kernels are reported lost (their contexts say so), never silently
 * replaced.
 */
export class ProcessKernelRuntime implements KernelRuntime, AsyncDisposable {
  readonly pool: KernelPool<ServerKernel>
  private server: JupyterServer | undefined
  private starting: Promise<JupyterServer> | undefined
  private readonly kernels = new Set<JupyterKernel>()
  /** One-shot runs' cleanups still going on after their answer. */
  private readonly cleanups = new Set<Promise<void>>()
  private closed = false

  private constructor(
    private readonly options: ProcessRuntimeOptions,
    private readonly runDir: string,
    private readonly uids: KernelUids | undefined,
  ) {
    this.pool = new KernelPool(
      (language, signal) => this.startKernel(language, signal),
      options.poolSize,
      options.log,
    )
  }

  /** Creates the runtime and starts its Jupyter Server. */
  static async start(options: ProcessRuntimeOptions): Promise<ProcessKernelRuntime> {
    const { kernelUids, workspaceRoot, python, log } = options
    const uids = kernelUids && (await KernelUids.open(kernelUids, workspaceRoot, python, log))
    // Kernels of other uids pass through the root to their own dirs, and list nothing there.
    if (uids) await chmod(workspaceRoot, 0o711)
    const runDir = await mkdtemp(path.join(os.tmpdir(), 'sci-jupyter-'))
    const runtime = new ProcessKernelRuntime(options, runDir, uids)
    try {
      await runtime.ensureServer()
      runtime.pool.fill()
      return runtime
    } catch (error) {
      await runtime.close()
      throw error
    }
  }

  get healthy(): boolean {
    return !this.closed && this.server !== undefined
  }

  /** Whether each context's kernel runs under a uid of its own; for /metrics. */
  get isolation(): IsolationLevel {
    return this.uids ? 'uid' : 'shared-uid'
  }

  /**
   * A warm kernel in a directory of the context's own under the workspace root, which goes to the
   * kernel's uid when kernels have their own. Per-context limits are refused: every kernel shares
   * this service's (SANDBOX_KERNEL_MEMORY_MB caps each kernel).
   */
  async bind(request: BindRequest): Promise<Binding> {
    const { contextId, language, limits, workingDir, env, signal } = request
    if (limits !== undefined) {
      throw new SandboxError(
        'INVALID_PARAMS',
        'Per-context limits need the docker runtime (SANDBOX_RUNTIME=docker); this service runs the process runtime',
      )
    }
    const log = this.options.log.child({ contextId })
    const workspace = await HostWorkspace.open(this.options.workspaceRoot, contextId, workingDir)
    let binding: ContextBinding<ServerKernel> | undefined
    try {
      const hosted = await this.pool.acquire(language, signal)
      const bound: ContextBinding<ServerKernel> = new ContextBinding({
        hosted,
        workspace,
        language,
        env,
        log,
        replace: (replaceSignal) =>
          this.replacement(language, workspace, bound.host, replaceSignal),
      })
      binding = bound
      if (hosted.owner) await workspace.own(hosted.owner)
      await binding.prepare()
      log.info(
        { kernelId: hosted.kernel.id, dir: workspace.dir, uid: hosted.owner?.uid },
        'context bound to kernel',
      )
      return binding
    } catch (error) {
      await (binding ?? workspace).close()
      throw error
    } finally {
      // Only now: a kernel start holds the Jupyter Server and a CPU while this context's first
      // round trips wait on them (context creation p50 here: 41 ms → 24 ms).
      this.pool.fill()
    }
  }

  /** Python runs in a one-shot runner forked from the kernel template (see runInRunner). */
  async runOnce(request: OneShotRequest): Promise<ExecutionResult | undefined> {
    if (request.language !== 'python' || !this.options.kernelTemplate) return undefined
    const server = await this.ensureServer()
    const { workspaceRoot, log } = this.options
    const background = (cleanup: Promise<void>) => {
      const tracked = cleanup
        .catch((error) => log.warn({ err: error }, 'one-shot run cleanup failed'))
        .finally(() => this.cleanups.delete(tracked))
      this.cleanups.add(tracked)
    }
    return runInRunner({ server, uids: this.uids, workspaceRoot, log, background }, request)
  }

  /** Shuts every kernel down (pooled ones first), then the server. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.pool.close()
      await Promise.allSettled([...this.kernels].map((kernel) => kernel.shutdown()))
    } finally {
      try {
        await (this.server ?? (await this.starting?.catch(() => undefined)))?.close()
      } finally {
        await Promise.allSettled(this.cleanups)
        await this.uids?.close()
        await rm(this.runDir, { recursive: true, force: true })
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * A lost kernel's replacement for a context. With kernel uids the workspace goes to the new
   * kernel's uid, once no process of the old one is left to swap paths under the change.
   */
  private async replacement(
    language: Language,
    workspace: HostWorkspace,
    lost: ServerKernel,
    signal: AbortSignal,
  ): Promise<ServerKernel> {
    const next = await this.pool.acquire(language, signal).finally(() => this.pool.fill())
    if (!next.owner || !this.uids) return next
    try {
      if (lost.owner) await this.uids.killAll(lost.owner)
      await workspace.transfer(next.owner)
      return next
    } catch (error) {
      await next.shutdown()
      throw error
    }
  }

  /** Starts a kernel; with kernel uids, in a fresh home of a uid taken for it, so as that uid. */
  private async startKernel(language: Language, signal: AbortSignal): Promise<ServerKernel> {
    const server = await this.ensureServer()
    const home = await this.uids?.allocate()
    try {
      const kernel = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        ...(home && { path: path.relative(this.options.workspaceRoot, home.home) }),
        settings: server.settings,
        log: this.options.log,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.startupTimeoutMs)]),
      })
      this.kernels.add(kernel)
      kernel.onDisruption((disruption) => {
        if (disruption === 'shutdown' || disruption === 'lost') this.kernels.delete(kernel)
      })
      return new ServerKernel(kernel, home && this.uids && { owner: home.owner, uids: this.uids })
    } catch (error) {
      if (home) await this.uids?.release(home.owner)
      throw new SandboxError('UNAVAILABLE', `Could not start a ${language} kernel`, {
        cause: error,
      })
    }
  }

  /** Python kernel starts per path, as the Jupyter Server counts them; for /metrics. */
  async kernelStarts(): Promise<KernelStarts | undefined> {
    return this.server?.kernelStarts()
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
      ...(this.uids && { kernelUids: this.uids.spec }),
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

/**
 * A kernel of the runtime's Jupyter Server: the server hosts it, and shuts it down. With kernel
 * uids it owns its uid, which it gives back (cleaned) once the kernel is down.
 */
class ServerKernel implements HostedKernel {
  private stopping: Promise<void> | undefined

  constructor(
    readonly kernel: JupyterKernel,
    private readonly uid?: { owner: Owner; uids: KernelUids },
  ) {}

  get owner(): Owner | undefined {
    return this.uid?.owner
  }

  get usable(): boolean {
    return this.kernel.usable
  }

  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.kernel.shutdown()
      } finally {
        if (this.uid) await this.uid.uids.release(this.uid.owner)
      }
    })()
    return this.stopping
  }
}

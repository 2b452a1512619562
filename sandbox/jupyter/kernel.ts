import {
  type Kernel,
  KernelAPI,
  KernelConnection,
  type KernelMessage,
  type ServerConnection,
} from '@jupyterlab/services'
import type { Logger } from 'pino'
import type { Language } from '../api.js'

/**
 * Why a kernel's running work was cut off: its process died (the server restarts it), the whole
 * Jupyter Server went away, we restarted it, or we shut it down.
 */
export type KernelDisruption = 'died' | 'lost' | 'restarted' | 'shutdown'

export type IOPubHandler = (msg: KernelMessage.IIOPubMessage) => void

/**
 * KernelConnection, minus one crash: on every reconnect it sends kernel_info and chains on the
 * result with `void p.then(…)`, so when the kernel dies again before answering (a crash loop), the
 * canceled request becomes an unhandled rejection that would take the whole service down. A
 * canceled kernel_info resolves to undefined here instead.
 */
class SandboxKernelConnection extends KernelConnection {
  /**
   * The library also awaits reconnect() inside its auto-restart handler, with no catch: deleting a
   * context whose kernel just died disposes the connection mid-reconnect, and that rejection took
   * the service down. A failed reconnect shows as connectionStatus "disconnected" instead.
   */
  override async reconnect(): Promise<void> {
    try {
      await super.reconnect()
    } catch {
      // Disposed or given up: callers check connectionStatus and waitReady() has a deadline.
    }
  }

  override async requestKernelInfo(): Promise<KernelMessage.IInfoReplyMsg | undefined> {
    try {
      return await super.requestKernelInfo()
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('Canceled future')) return undefined
      throw error
    }
  }
}

/**
 * One running Jupyter kernel, reached through @jupyterlab/services over REST and a WebSocket.
 * Knows nothing of HTTP or contexts; the context that owns it closes it.
 */
export class JupyterKernel {
  private disruptionListeners = new Set<(disruption: KernelDisruption) => void>()
  private closed = false

  private constructor(
    readonly language: Language,
    private readonly connection: Kernel.IKernelConnection,
    private readonly log: Logger,
  ) {
    connection.statusChanged.connect((_, status) => {
      // The server restarted a dead kernel on its own ("autorestarting") or gave up ("dead").
      if (status === 'autorestarting') this.emit('died')
      if (status === 'dead' && !this.closed) {
        this.closed = true
        this.emit('died')
      }
    })
  }

  /**
   * Starts a kernel and waits until it answers kernel_info.
   * @param spec - kernelspec name known to the Jupyter Server
   * @param path - directory the kernel starts in, relative to the server's root; its root if unset
   * @param signal - aborts the wait; the half-started kernel is shut down
   */
  static async start(options: {
    language: Language
    spec: string
    path?: string
    settings: ServerConnection.ISettings
    log: Logger
    signal: AbortSignal
  }): Promise<JupyterKernel> {
    const { language, spec, path, settings, log, signal } = options
    // Jupyter Server takes `path` (POST /api/kernels) though @jupyterlab/services types only `name`.
    const body = { name: spec, ...(path !== undefined && { path }) } as KernelAPI.IKernelOptions
    const model = await KernelAPI.startNew(body, settings)
    const connection = new SandboxKernelConnection({
      model,
      serverSettings: settings,
      handleComms: false,
    })
    const kernel = new JupyterKernel(language, connection, log.child({ kernelId: model.id }))
    try {
      await abortable(connection.info, signal)
      return kernel
    } catch (error) {
      await kernel.shutdown()
      throw error
    }
  }

  /**
   * Connects to a kernel that already runs on the server (a restarted service adopting a context
   * whose Jupyter Server outlived it) and waits until it answers kernel_info.
   * @param id - the kernel's id on that server
   */
  static async connect(options: {
    language: Language
    id: string
    settings: ServerConnection.ISettings
    log: Logger
    signal: AbortSignal
  }): Promise<JupyterKernel> {
    const { language, id, settings, log, signal } = options
    const model = await KernelAPI.getKernelModel(id, settings)
    if (!model) throw new Error(`no kernel ${id} on the server`)
    const connection = new SandboxKernelConnection({
      model,
      serverSettings: settings,
      handleComms: false,
    })
    const kernel = new JupyterKernel(language, connection, log.child({ kernelId: id }))
    try {
      await abortable(connection.info, signal)
      return kernel
    } catch (error) {
      kernel.detach()
      throw error
    }
  }

  get id(): string {
    return this.connection.id
  }

  /**
   * Sends one execute request. Resolves with the shell reply once the kernel is idle again;
   * rejects if the kernel restarts or the connection is torn down first.
   */
  async execute(
    code: string,
    onIOPub: IOPubHandler,
    options: { silent?: boolean } = {},
  ): Promise<KernelMessage.IExecuteReplyMsg['content']> {
    const future = this.connection.requestExecute({
      code,
      silent: options.silent ?? false,
      store_history: !options.silent,
      allow_stdin: false,
      // With stop_on_error the kernel aborts requests that arrive just after a failed cell. The
      // sandbox queues executes itself, one at a time, so that would only drop the next request.
      stop_on_error: false,
    })
    future.onIOPub = onIOPub
    const reply = await future.done
    return reply.content
  }

  /**
   * Sends SIGINT (or an interrupt_request) to the running cell.
   * @param signal - the caller's deadline for the server's answer
   */
  async interrupt(signal: AbortSignal): Promise<void> {
    await abortable(this.connection.interrupt(), signal)
  }

  /**
   * Restarts the kernel process and waits until the new one answers: all state is lost, the kernel
   * id is kept.
   * @param signal - the caller's deadline for the whole restart
   */
  async restart(signal: AbortSignal): Promise<void> {
    this.emit('restarted')
    await abortable(this.connection.restart(), signal)
    // A single kernel_info sent while the WebSocket reconnects can be lost (a loaded machine, a
    // container at its pids limit): ask until the new kernel answers, as after an autorestart.
    await this.waitReady(signal)
  }

  /**
   * Waits until the kernel answers kernel_info. After an automatic restart the connection comes
   * back before the new kernel process listens, and a request sent in that window can be dropped
   * by the server: ask again every second.
   */
  async waitReady(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.closed) throw new Error('kernel is gone')
      const { connectionStatus, status } = this.connection
      if (connectionStatus === 'connected' && status !== 'autorestarting') {
        const attempt = AbortSignal.any([signal, AbortSignal.timeout(1000)])
        const answered = await abortable(this.connection.requestKernelInfo(), attempt).then(
          (reply) => reply !== undefined,
          () => false,
        )
        if (answered) return
      }
      signal.throwIfAborted()
      await abortable(new Promise((resolve) => setTimeout(resolve, 20)), signal)
    }
  }

  /** False once the kernel is shut down, lost with its server, or dead for good. */
  get usable(): boolean {
    return !this.closed
  }

  /**
   * Subscribes to anything that cuts off the kernel's running work.
   * @returns a function that unsubscribes
   */
  onDisruption(listener: (disruption: KernelDisruption) => void): () => void {
    this.disruptionListeners.add(listener)
    return () => this.disruptionListeners.delete(listener)
  }

  /** Called by the runtime when the Jupyter Server that hosted this kernel is gone. */
  markLost(): void {
    if (this.closed) return
    this.closed = true
    this.emit('lost')
    this.connection.dispose()
  }

  /** Shuts the kernel down; idempotent, and "already gone" counts as success. */
  async shutdown(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.emit('shutdown')
    try {
      await this.shutdownOnServer()
    } finally {
      this.connection.dispose()
    }
  }

  /**
   * Closes the connection without asking the server to stop the kernel: for a runtime that removes
   * the whole Jupyter Server with it (a container). Idempotent.
   */
  detach(): void {
    if (this.closed) return
    this.closed = true
    this.emit('shutdown')
    this.connection.dispose()
  }

  /**
   * Asks the Jupyter Server to shut the kernel down. A kernel in the middle of an automatic
   * restart (it just died) cannot be shut down yet, and the server fails the request: ask again,
   * or the restarted kernel process would outlive its context. 404 (already gone) is success.
   */
  private async shutdownOnServer(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await KernelAPI.shutdownKernel(this.id, this.connection.serverSettings)
        return
      } catch (error) {
        if (attempt === SHUTDOWN_ATTEMPTS) {
          this.log.warn({ err: error }, 'kernel shutdown failed; giving up on it')
          return
        }
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }

  private emit(disruption: KernelDisruption): void {
    for (const listener of this.disruptionListeners) listener(disruption)
  }
}

/** Shutdown requests tried, a second apart, before a kernel is given up on. */
const SHUTDOWN_ATTEMPTS = 5

/** Resolves or rejects with `promise`, or rejects with the signal's reason when it aborts first. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

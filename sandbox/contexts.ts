import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type {
  Context,
  CreateContextBody,
  ExecuteBody,
  ExecutionEvent,
  ExecutionResult,
  OneShotExecuteBody,
  StoppedContext,
} from './api.js'
import type { Config } from './config.js'
import { ContextHandle, type ExecutionLimits } from './context.js'
import { SandboxError } from './errors.js'
import type { SandboxMetrics } from './metrics.js'
import { checkRelativePath } from './paths.js'
import {
  type AdoptedContext,
  type KernelRuntime,
  type Workspace,
  writeInlineFiles,
} from './runtimes/runtime.js'

export type ContextServiceDeps = {
  config: Config
  runtime: Pick<KernelRuntime, 'bind' | 'runOnce'>
  metrics: SandboxMetrics
  log: Logger
}

/**
 * Creates, finds, runs and removes contexts. Owns every ContextHandle; close() stops them all.
 * Knows nothing of HTTP: routes call it with validated values.
 */
export class ContextService implements AsyncDisposable {
  private readonly contexts = new Map<string, ContextHandle>()
  /** Contexts being created and one-shot runs in a runner: each holds a context's place. */
  private reserved = 0
  private readonly reaper: NodeJS.Timeout
  private closed = false

  constructor(private readonly deps: ContextServiceDeps) {
    const every = Math.min(deps.config.idleTimeoutMs / 2, 60_000)
    this.reaper = setInterval(() => void this.reapIdle(), every).unref()
  }

  /** Creates a context on a warm kernel. */
  async create(body: CreateContextBody): Promise<Context> {
    const { config } = this.deps
    this.reserve()
    try {
      const id = `ctx-${randomUUID()}`
      const createdAt = new Date()
      const name = body.name ?? id
      const description = body.description ?? ''
      const binding = await this.deps.runtime.bind({
        contextId: id,
        record: { name, description, sessionName: body.session_name, createdAt },
        language: body.language,
        limits: body.limits,
        workingDir: body.working_dir,
        env: body.env ?? {},
        signal: AbortSignal.timeout(config.startupTimeoutMs),
      })
      const handle = ContextHandle.open(
        {
          id,
          createdAt,
          language: body.language,
          name,
          description,
          sessionName: body.session_name,
        },
        binding,
      )
      this.contexts.set(id, handle)
      this.deps.log.info({ contextId: id, language: body.language }, 'context created')
      return handle.toJSON()
    } finally {
      this.reserved -= 1
    }
  }

  /** Takes over contexts a runtime adopted at startup (they keep their ids and created_at). */
  adopt(contexts: AdoptedContext[]): void {
    for (const { binding, ...init } of contexts.sort((a, b) => +a.createdAt - +b.createdAt)) {
      this.contexts.set(init.id, ContextHandle.open(init, binding))
      this.deps.log.info({ contextId: init.id }, 'context adopted')
    }
  }

  /** All live contexts, newest first. */
  list(): Context[] {
    return [...this.contexts.values()].reverse().map((handle) => handle.toJSON())
  }

  get(id: string): Context {
    return this.handle(id).toJSON()
  }

  /**
   * Runs code in a context, after any executes queued before it.
   * @param options.signal - the client's request signal: aborting it interrupts the cell
   */
  async execute(
    id: string,
    body: ExecuteBody,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult> {
    return this.run(this.handle(id), body.code, this.limits(body.timeout), options)
  }

  /**
   * Runs code once in the runtime's one-shot runner where it has one (process runtime, Python),
   * else in a fresh context from the warm pool, then throws the context away: no process, kernel
   * or working dir is ever shared by two one-shot runs.
   */
  async runOnce(
    body: OneShotExecuteBody,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult> {
    const limits = this.limits(body.timeout)
    for (const file of body.files ?? []) checkRelativePath(file.path)
    const ran = await this.runOnRunner(body, limits, options)
    if (ran) return ran
    this.deps.metrics.oneShot('kernel')
    const context = await this.create({
      type: 'jupyter',
      language: body.language,
      name: 'one-shot',
    })
    try {
      await writeInlineFiles(this.handle(context.context_id).workspace, body.files ?? [])
      return await this.run(this.handle(context.context_id), body.code, limits, options)
    } finally {
      // Answer at once; the kernel shuts down in the background, already out of the registry.
      this.remove(context.context_id).catch((error) =>
        this.deps.log.warn(
          { err: error, contextId: context.context_id },
          'one-shot cleanup failed',
        ),
      )
    }
  }

  /** The files of a live context, for the files API. */
  workspace(id: string): Workspace {
    const handle = this.handle(id)
    handle.lastUsed = new Date()
    return handle.workspace
  }

  async interrupt(id: string): Promise<Context> {
    const handle = this.handle(id)
    await handle.interrupt()
    return handle.toJSON()
  }

  async restart(id: string): Promise<Context> {
    const handle = this.handle(id)
    await handle.restart()
    return handle.toJSON()
  }

  /** Stops a context's kernel and forgets it. */
  async remove(id: string): Promise<StoppedContext> {
    const handle = this.handle(id)
    this.contexts.delete(id)
    await handle.close()
    this.deps.log.info({ contextId: id }, 'context stopped')
    return { context_id: id, status: 'stopped' }
  }

  /** Number of live contexts, for /metrics and tests. */
  get size(): number {
    return this.contexts.size
  }

  /** Stops every context. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.reaper)
    const handles = [...this.contexts.values()]
    this.contexts.clear()
    await Promise.allSettled(handles.map((handle) => handle.close()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private handle(id: string): ContextHandle {
    const handle = this.contexts.get(id)
    if (!handle)
      throw new SandboxError(
        'CONTEXT_NOT_FOUND',
        `No context with id ${JSON.stringify(id.slice(0, 100))}`,
      )
    return handle
  }

  /** Takes a context's place, or refuses when the sandbox is full or closing. */
  private reserve(): void {
    const { maxContexts } = this.deps.config
    if (this.closed) throw new SandboxError('UNAVAILABLE', 'The sandbox is shutting down')
    if (this.contexts.size + this.reserved >= maxContexts) {
      throw new SandboxError(
        'LIMIT_EXCEEDED',
        `At most ${maxContexts} contexts may be live (SANDBOX_MAX_CONTEXTS); delete one first`,
        { reason: 'contexts', retryAfterS: 5 },
      )
    }
    this.reserved += 1
  }

  /** @returns undefined when the runtime cannot run it so: the caller takes a context */
  private async runOnRunner(
    body: OneShotExecuteBody,
    limits: ExecutionLimits,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult | undefined> {
    const { runtime, metrics } = this.deps
    if (!runtime.runOnce) return undefined
    this.reserve()
    try {
      const { language, code, files = [] } = body
      const result = await runtime.runOnce({ language, code, files, ...limits, ...options })
      if (!result) return undefined
      metrics.oneShot('runner')
      metrics.execution(language, result)
      return result
    } finally {
      this.reserved -= 1
    }
  }

  private async run(
    handle: ContextHandle,
    code: string,
    limits: ExecutionLimits,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult> {
    const result = await handle.execute(code, limits, options)
    this.deps.metrics.execution(handle.init.language, result)
    return result
  }

  private limits(timeoutS: number | undefined): ExecutionLimits {
    const { config } = this.deps
    const timeoutMs = timeoutS === undefined ? config.defaultTimeoutMs : Math.round(timeoutS * 1000)
    if (timeoutMs > config.maxTimeoutMs) {
      throw new SandboxError(
        'INVALID_PARAMS',
        `timeout ${timeoutS} s is above the maximum of ${config.maxTimeoutMs / 1000} s (SANDBOX_MAX_TIMEOUT)`,
      )
    }
    return { timeoutMs, graceMs: config.interruptGraceMs, maxOutputChars: config.maxOutputChars }
  }

  private async reapIdle(): Promise<void> {
    const cutoff = Date.now() - this.deps.config.idleTimeoutMs
    for (const handle of this.contexts.values()) {
      if (handle.busy || handle.lastUsed.getTime() > cutoff) continue
      this.deps.log.info({ contextId: handle.id }, 'stopping idle context')
      await this.remove(handle.id).catch((error) =>
        this.deps.log.warn({ err: error }, 'idle stop failed'),
      )
    }
  }
}

import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, realpath } from 'node:fs/promises'
import path from 'node:path'
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
import { writeInlineFiles } from './files.js'
import type { KernelPool } from './kernels/pool.js'
import type { SandboxMetrics } from './metrics.js'
import { checkRelativePath } from './paths.js'

export type ContextServiceDeps = {
  config: Config
  pool: KernelPool
  metrics: SandboxMetrics
  log: Logger
}

/**
 * Creates, finds, runs and removes contexts. Owns every ContextHandle; close() stops them all.
 * Knows nothing of HTTP: routes call it with validated values.
 */
export class ContextService implements AsyncDisposable {
  private readonly contexts = new Map<string, ContextHandle>()
  private creating = 0
  private readonly reaper: NodeJS.Timeout
  private closed = false

  constructor(private readonly deps: ContextServiceDeps) {
    const every = Math.min(deps.config.idleTimeoutMs / 2, 60_000)
    this.reaper = setInterval(() => void this.reapIdle(), every).unref()
  }

  /** Creates a context on a warm kernel. */
  async create(body: CreateContextBody): Promise<Context> {
    const { config, pool } = this.deps
    if (this.closed) throw new SandboxError('UNAVAILABLE', 'The sandbox is shutting down')
    if (this.contexts.size + this.creating >= config.maxContexts) {
      throw new SandboxError(
        'LIMIT_EXCEEDED',
        `At most ${config.maxContexts} contexts may be live (SANDBOX_MAX_CONTEXTS); delete one first`,
        { reason: 'contexts', retryAfterS: 5 },
      )
    }
    this.creating += 1
    try {
      const id = `ctx-${randomUUID()}`
      const { dir, owned } = await resolveWorkingDir(config.workspaceRoot, id, body.working_dir)
      const kernel = await pool.acquire(body.language, AbortSignal.timeout(config.startupTimeoutMs))
      const handle = await ContextHandle.open(
        {
          id,
          language: body.language,
          name: body.name ?? id,
          description: body.description ?? '',
          sessionName: body.session_name,
          workingDir: dir,
          ownsWorkingDir: owned,
          env: body.env ?? {},
        },
        kernel,
        (language, signal) => pool.acquire(language, signal),
      )
      this.contexts.set(id, handle)
      this.deps.log.info({ contextId: id, language: body.language }, 'context created')
      return handle.toJSON()
    } finally {
      this.creating -= 1
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
   * Runs code once in a fresh context from the warm pool, then throws the context away: no kernel
   * or working dir is ever shared by two one-shot runs.
   */
  async runOnce(
    body: OneShotExecuteBody,
    options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<ExecutionResult> {
    const limits = this.limits(body.timeout)
    for (const file of body.files ?? []) checkRelativePath(file.path)
    const context = await this.create({
      type: 'jupyter',
      language: body.language,
      name: 'one-shot',
    })
    try {
      await writeInlineFiles(context.working_dir, body.files ?? [])
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

  /** The working directory of a live context, for the files API. */
  workingDir(id: string): string {
    const handle = this.handle(id)
    handle.lastUsed = new Date()
    return handle.init.workingDir
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

/**
 * Resolves a requested working dir inside the workspace root, following symlinks, and creates it.
 * @returns the directory and whether the service created it for this context alone
 */
async function resolveWorkingDir(
  root: string,
  id: string,
  requested: string | undefined,
): Promise<{ dir: string; owned: boolean }> {
  await mkdir(root, { recursive: true })
  const realRoot = await realpath(root)
  if (requested === undefined) {
    const dir = path.join(realRoot, id)
    await mkdir(dir, { mode: 0o700 })
    return { dir, owned: true }
  }
  const outside = () =>
    new SandboxError('INVALID_PARAMS', `working_dir must be inside the workspace root ${realRoot}`)
  if (requested.includes('\0')) throw outside()
  const wanted = path.resolve(realRoot, requested)
  if (isOutside(realRoot, wanted)) throw outside()
  // Check the deepest existing ancestor first: mkdir through a symlink would create dirs outside.
  if (isOutside(realRoot, await realpath(await existingAncestor(wanted)))) throw outside()
  await mkdir(wanted, { recursive: true })
  const real = await realpath(wanted)
  if (isOutside(realRoot, real)) throw outside()
  return { dir: real, owned: false }
}

function isOutside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate)
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)
}

async function existingAncestor(dir: string): Promise<string> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (existsSync(current) || current === path.dirname(current)) return current
  }
}

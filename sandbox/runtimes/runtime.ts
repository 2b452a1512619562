import path from 'node:path'
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type {
  AppliedLimits,
  ContextLimits,
  ExecutionResult,
  FileEntry,
  InlineFile,
  Language,
} from '../api.js'
import { SandboxError } from '../errors.js'
import type { JupyterKernel } from '../jupyter/kernel.js'
import type { RunOptions } from '../one-shot.js'
import { checkRelativePath } from '../paths.js'

/**
 * Where kernels run. The context service sees only this: one call binds a new context to a kernel
 * and a workspace; everything else (pooling, containers, limits, files) stays inside the runtime.
 */
export interface KernelRuntime {
  /**
   * Gives a new context a ready kernel, moved into its working dir and env, and its workspace.
   * @throws SandboxError INVALID_PARAMS for a working_dir or limits the runtime refuses,
   *   UNAVAILABLE when no kernel can be started before `signal` aborts
   */
  bind(request: BindRequest): Promise<Binding>
  /** Started kernels waiting per language, for /metrics, tests and benchmarks. */
  readonly pool: WarmPool
  /** True while new kernels can be started. */
  readonly healthy: boolean
  /** Stops every kernel this runtime started (bound or pooled) and what hosts them. Idempotent. */
  close(): Promise<void>
  /**
   * Runs code once in a fresh process of its own that is thrown away after, far cheaper than a
   * context's kernel (process runtime: Python with the kernel template). Files are written into a
   * fresh working dir first.
   * @returns the result, or undefined when it cannot run the code so now (another language, no
   *   template, template down): the caller runs it in a fresh context instead
   */
  runOnce?(request: OneShotRequest): Promise<ExecutionResult | undefined>
  /**
   * Contexts that an earlier instance of the service left running and this runtime took over
   * (swarm), once, at startup; the context service owns them from then on.
   */
  adopted?(): AdoptedContext[]
  /**
   * The service is stopping to be replaced: keep running what a later instance can adopt (swarm,
   * with SANDBOX_SWARM_TOKEN_KEY) instead of removing it when the contexts close.
   */
  handOver?(): void
}

/** A one-shot run: the code, its files and its limits, the client's signal and event sink. */
export type OneShotRequest = RunOptions & { language: Language; code: string; files: InlineFile[] }

/** A live context found by a runtime at startup, with what the context service needs to list it. */
export type AdoptedContext = {
  id: string
  language: Language
  name: string
  description: string
  sessionName: string | undefined
  createdAt: Date
  binding: Binding
}

/** What every runtime is started with, besides its own settings. */
export type RuntimeOptions = {
  /** Warm kernels kept per language. */
  poolSize: Readonly<Record<Language, number>>
  /** Output a Python kernel sends per execution before dropping the rest at the source. */
  kernelMaxOutputChars: number
  /** Deadline of one kernel start. */
  startupTimeoutMs: number
  log: Logger
}

export type BindRequest = {
  /** The new context's id: it names the runtime's resources (directory, container) and log lines. */
  contextId: string
  /** What a runtime that can hand contexts to a later instance (swarm) records of the context. */
  record?: { name: string; description: string; sessionName: string | undefined; createdAt: Date }
  language: Language
  /** The client's limits; a runtime without per-context limits refuses any. */
  limits: ContextLimits | undefined
  /** The client's working_dir: `/workspace`, a path under it, or relative to it. */
  workingDir: string | undefined
  env: Record<string, string>
  signal: AbortSignal
}

/** What a context holds of its runtime. The context owns it and closes it. */
export interface Binding {
  /** The kernel now serving the context; replaceKernel() swaps it. */
  readonly kernel: JupyterKernel
  readonly workspace: Workspace
  /** The resource limits in force, on runtimes with per-context limits. */
  readonly limits: AppliedLimits | undefined
  /** The machine (swarm: node) the kernel runs on, where the runtime knows it. */
  readonly node?: string | undefined
  /** Moves the kernel into the context's working dir and env: after bind and after restarts. */
  prepare(): Promise<void>
  /**
   * Binds a fresh kernel in place of a lost one (its Jupyter Server or container is gone). Files
   * that live with the kernel (docker) are gone too; the new kernel gets an empty workspace.
   */
  replaceKernel(signal: AbortSignal): Promise<void>
  /**
   * The limit that explains the kernel's death just now, if the runtime saw one (docker: the
   * memory cgroup's OOM killer). Reading it clears it.
   */
  takeLimitHit(): LimitHit | undefined
  /** Stops the kernel and removes the workspace and what hosts them. Idempotent. */
  close(): Promise<void>
}

/** A limit the runtime saw the kernel's environment hit. */
export type LimitHit = { reason: string; detail: string }

export interface WarmPool {
  depth(language: Language): number
  /** Resolves once every language has its target number of ready kernels (or a refill failed). */
  filled(): Promise<void>
}

/** A context's files, wherever its kernel runs. Paths are relative to the working directory. */
export interface Workspace {
  /** The working directory as the kernel sees it. */
  readonly dir: string
  list(
    relative: string | undefined,
    limit: number,
  ): Promise<{ entries: FileEntry[]; truncated: boolean }>
  /** Opens a regular file for streaming; the stream closes the file when done. */
  read(relative: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }>
  /** Streams `body` into a file, creating parent directories; more than `maxBytes` is refused. */
  write(relative: string, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<number>
  remove(relative: string): Promise<void>
  /** Removes what the service created for this context. Idempotent. */
  close(): Promise<void>
}

/** Writes request-supplied files into a fresh workspace, before any user code ran there. */
export async function writeInlineFiles(workspace: Workspace, files: InlineFile[]): Promise<void> {
  for (const file of files) {
    const content = Buffer.from(file.content, file.encoding === 'base64' ? 'base64' : 'utf8')
    await workspace.write(file.path, Readable.from([content]), Number.POSITIVE_INFINITY)
  }
}

/**
 * How a create request names the context's own workspace root, in every runtime: the process
 * runtime maps it to a directory of the context's on the host, the docker runtime to the
 * container's /workspace.
 */
export const VIRTUAL_WORKSPACE = '/workspace'

/**
 * A requested working_dir as a path relative to the context's workspace root: `/workspace` and
 * paths under it, or paths relative to it. Anything that leaves the root is refused.
 * @returns '' for the root itself
 * @throws SandboxError INVALID_PARAMS naming the working_dir
 */
export function workingDirInRoot(requested: string | undefined): string {
  if (requested === undefined) return ''
  const refuse = () =>
    new SandboxError(
      'INVALID_PARAMS',
      `working_dir must be ${VIRTUAL_WORKSPACE}, a path under it or relative to it: ${JSON.stringify(requested.slice(0, 200))}`,
    )
  const relative = requested.startsWith('/')
    ? path.posix.relative(VIRTUAL_WORKSPACE, path.posix.normalize(requested))
    : requested.replace(/\/+$/, '')
  if (relative === '' || relative === '.') return ''
  try {
    checkRelativePath(relative)
  } catch {
    throw refuse()
  }
  return relative
}

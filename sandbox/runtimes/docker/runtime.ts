import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises'
import path from 'node:path'
import type { AppliedLimits, ContextLimits, Language } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { ASSETS_DIR, KERNEL_SPEC, kernelSpecs, PACKAGE_ROOT } from '../../jupyter/kernelspecs.js'
import { ContextBinding, type HostedKernel } from '../binding.js'
import { KernelPool } from '../pool.js'
import {
  type Binding,
  type BindRequest,
  type KernelRuntime,
  type RuntimeOptions,
  workingDirInRoot,
} from '../runtime.js'
import type { DockerConfig } from './config.js'
import { KernelContainer } from './container.js'
import { DockerEngine, type EngineEvent } from './engine.js'
import { createLabels, instanceFilter, LABEL_INSTANCE, scopeFilter } from './labels.js'
import { ContainerWorkspace } from './workspace.js'

/** Paths in the sandbox image (Dockerfile.sandbox): the app with its kernel launchers, and node. */
const IMAGE_ASSETS_DIR = '/app/sandbox/jupyter/assets'
const IMAGE_NODE = '/usr/local/bin/node'
const IMAGE_PYTHON = '/usr/bin/python3'

export type DockerRuntimeOptions = RuntimeOptions & { config: DockerConfig }

/** A context's resource limits, and whether a warm container can take them. */
type LimitsPlan = {
  applied: AppliedLimits
  /** False when a warm container cannot take them (another network or /workspace size). */
  poolable: boolean
}

/**
 * The "docker" runtime: every kernel in a container of its own, started from the sandbox image,
 * with its own Jupyter Server reached over a UNIX socket (never a published port), so the
 * container's network can be "none". Containers carry labels (scope, instance): at startup those
 * a dead instance of the scope left are removed; at close(), all of this instance's.
 * A container that dies or is killed turns its kernel lost (Docker's event stream), never a hang.
 */
export class DockerKernelRuntime implements KernelRuntime, AsyncDisposable {
  readonly pool: KernelPool<ContainerKernel>
  private readonly containers = new Set<KernelContainer>()
  private readonly starting = new Set<Promise<unknown>>()
  private readonly controller = new AbortController()
  private engineUp = true
  private closing: Promise<void> | undefined

  private constructor(
    private readonly options: DockerRuntimeOptions,
    private readonly engine: DockerEngine,
    readonly instance: string,
    /** This instance's socket directories, as the service and as the engine see them. */
    private readonly dirs: { local: string; host: string },
    private readonly entrySource: string,
    private readonly specs: Record<string, unknown>,
  ) {
    this.pool = new KernelPool(
      (language, signal) => this.startKernel(language, signal, this.planLimits(undefined).applied),
      options.poolSize,
      options.log,
    )
  }

  /**
   * Connects to the engine, checks the image, removes what a crashed instance of the same scope
   * left behind, and starts watching container events.
   * @throws SandboxError UNAVAILABLE when the engine or the image is missing
   */
  static async start(options: DockerRuntimeOptions): Promise<DockerKernelRuntime> {
    const { config, log } = options
    const engine = DockerEngine.connect(config.dockerHost, log)
    await engine.ping()
    if (!(await engine.hasImage(config.image))) {
      throw new SandboxError(
        'UNAVAILABLE',
        `Image ${config.image} is not on the Docker engine; build it (scripts/test-docker.sh or docker compose build) or set SANDBOX_DOCKER_IMAGE`,
      )
    }
    const instance = randomBytes(6).toString('hex')
    const scopeDir = path.join(config.socketDir, config.scope)
    await mkdir(scopeDir, { recursive: true, mode: 0o700 })
    const hostScopeDir = config.socketHostDir
      ? path.join(config.socketHostDir, config.scope)
      : await engine.hostPathOf(scopeDir)
    const dirs = { local: path.join(scopeDir, instance), host: path.join(hostScopeDir, instance) }
    const runtime = new DockerKernelRuntime(
      options,
      engine,
      instance,
      dirs,
      await containerEntry(),
      imageKernelSpecs(options.kernelMaxOutputChars),
    )
    await runtime.reapOrphans(scopeDir)
    await mkdir(dirs.local, { mode: 0o700 })
    runtime.watchEvents()
    runtime.pool.fill()
    log.info({ instance, scope: config.scope, image: config.image }, 'docker runtime ready')
    return runtime
  }

  get healthy(): boolean {
    return !this.closing && this.engineUp
  }

  /**
   * A container of the context's own: a warm one when its limits allow (memory, CPUs and pids are
   * applied to it), else a fresh one. The container is renamed after the context, so that `docker
   * ps` tells which container serves which context.
   */
  async bind(request: BindRequest): Promise<Binding> {
    const { contextId, language, workingDir, env, signal } = request
    const plan = this.planLimits(request.limits)
    const base = workingDirInRoot(workingDir)
    const log = this.options.log.child({ contextId })
    const acquire = (acquireSignal: AbortSignal) =>
      plan.poolable
        ? this.pool.acquire(language, acquireSignal)
        : this.startKernel(language, acquireSignal, plan.applied)
    let generation = 0
    /** Limits, name and (for a replacement) the workspace: what makes a container the context's. */
    const adopt = async (hosted: ContainerKernel) => {
      await hosted.container.applyLimits(plan.applied)
      generation += 1
      const name = generation === 1 ? `sci-${contextId}` : `sci-${contextId}-${generation}`
      await hosted.container.rename(name)
      log.info({ container: name, kernelId: hosted.kernel.id }, 'context bound to container')
    }
    const hosted = await acquire(signal)
    let binding: ContextBinding<ContainerKernel> | undefined
    try {
      await adopt(hosted)
      const workspace = await ContainerWorkspace.open(hosted.container, base)
      binding = new ContextBinding({
        hosted,
        workspace,
        language,
        env,
        limits: plan.applied,
        log,
        replace: async (replaceSignal) => {
          const next = await acquire(replaceSignal).finally(() => this.pool.fill())
          try {
            await adopt(next)
            await workspace.attach(next.container)
            return next
          } catch (error) {
            await next.shutdown()
            throw error
          }
        },
        limitHit: (current) => current.container.takeLimitHit(),
      })
      await binding.prepare()
      return binding
    } catch (error) {
      await (binding ? binding.close() : hosted.shutdown())
      throw error
    } finally {
      this.pool.fill()
    }
  }

  /** Checks a create request's limits against the maxima; fills the rest from the defaults. */
  private planLimits(requested: ContextLimits | undefined): LimitsPlan {
    const { defaults, max, networks } = this.options.config
    const applied: AppliedLimits = {
      memory_mb: requested?.memory_mb ?? defaults.memoryMb,
      cpus: requested?.cpus ?? defaults.cpus,
      pids: requested?.pids ?? defaults.pids,
      workspace_mb: requested?.workspace_mb ?? defaults.workspaceMb,
      network: requested?.network ?? defaults.network,
    }
    const over = (field: string, value: number, limit: number, variable: string) =>
      new SandboxError(
        'INVALID_PARAMS',
        `limits.${field} ${value} is above the maximum of ${limit} (${variable})`,
      )
    if (applied.memory_mb > max.memoryMb)
      throw over('memory_mb', applied.memory_mb, max.memoryMb, 'SANDBOX_DOCKER_MAX_MEMORY_MB')
    if (applied.cpus > max.cpus)
      throw over('cpus', applied.cpus, max.cpus, 'SANDBOX_DOCKER_MAX_CPUS')
    if (applied.pids > max.pids)
      throw over('pids', applied.pids, max.pids, 'SANDBOX_DOCKER_MAX_PIDS')
    if (applied.workspace_mb > max.workspaceMb)
      throw over(
        'workspace_mb',
        applied.workspace_mb,
        max.workspaceMb,
        'SANDBOX_DOCKER_MAX_WORKSPACE_MB',
      )
    if (!networks.includes(applied.network)) {
      throw new SandboxError(
        'INVALID_PARAMS',
        `limits.network ${JSON.stringify(applied.network)} is not allowed; allowed: ${networks.join(', ')} (SANDBOX_DOCKER_ALLOWED_NETWORKS)`,
      )
    }
    // Memory, CPUs and pids can be changed on a warm container; its network and tmpfs cannot.
    const poolable =
      applied.network === defaults.network && applied.workspace_mb === defaults.workspaceMb
    return { applied, poolable }
  }

  private async startKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ContainerKernel> {
    if (this.closing) throw new SandboxError('UNAVAILABLE', 'The sandbox is shutting down')
    const start = this.startContainerKernel(
      language,
      AbortSignal.any([
        signal,
        this.controller.signal,
        AbortSignal.timeout(this.options.startupTimeoutMs),
      ]),
      limits,
    )
    this.starting.add(start)
    try {
      return await start
    } finally {
      this.starting.delete(start)
    }
  }

  /** Removes every container of this instance, then its directory. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // The pool first: its refill in flight then ends quietly instead of as a failure.
      const poolClosed = this.pool.close()
      this.controller.abort()
      try {
        await Promise.allSettled(this.starting)
        await poolClosed
        await Promise.allSettled([...this.containers].map((c) => c.remove()))
        // Anything created but never tracked (a start cut short at the wrong moment).
        const left = await this.engine.list(
          instanceFilter(this.options.config.scope, this.instance),
        )
        await Promise.allSettled(left.map((c) => this.engine.remove(c.id)))
      } finally {
        await rm(this.dirs.local, { recursive: true, force: true })
        // The scope's directory too, unless another instance of it still runs.
        await rmdir(path.dirname(this.dirs.local)).catch(() => undefined)
        this.options.log.info({ instance: this.instance }, 'docker runtime closed')
      }
    })()
    return this.closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private async startContainerKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ContainerKernel> {
    const { config, log } = this.options
    const suffix = randomBytes(4).toString('hex')
    const container = new KernelContainer({
      engine: this.engine,
      dir: path.join(this.dirs.local, suffix),
      hostDir: path.join(this.dirs.host, suffix),
      name: `sci-kernel-${this.instance}-${suffix}`,
      image: config.image,
      uid: config.uid,
      gid: config.gid,
      labels: createLabels({ scope: config.scope, instance: this.instance, language }),
      limits,
      entrySource: this.entrySource,
      kernelSpecs: this.specs,
    })
    this.containers.add(container)
    const kernelLog = log.child({ container: container.name })
    try {
      await container.start(signal)
      await container.waitReady(signal)
      const kernel = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        settings: container.client.settings(),
        log: kernelLog,
        signal,
      })
      container.kernel = kernel
      kernelLog.debug({ language }, 'container kernel ready')
      return new ContainerKernel(kernel, container, () => this.removeContainer(container))
    } catch (error) {
      await this.removeContainer(container).catch(() => undefined)
      if (error instanceof SandboxError) throw error
      throw new SandboxError('UNAVAILABLE', `Could not start a ${language} kernel container`, {
        cause: error,
      })
    }
  }

  private async removeContainer(container: KernelContainer): Promise<void> {
    try {
      await container.remove()
    } finally {
      this.containers.delete(container)
    }
  }

  /** Removes the containers and directories that earlier instances of this scope left behind. */
  private async reapOrphans(scopeDir: string): Promise<void> {
    const { scope } = this.options.config
    const orphans = (await this.engine.list(scopeFilter(scope))).filter(
      (c) => c.labels[LABEL_INSTANCE] !== this.instance,
    )
    await Promise.all(orphans.map((c) => this.engine.remove(c.id)))
    const dirs = (await readdir(scopeDir)).filter((name) => name !== this.instance)
    await Promise.all(
      dirs.map((name) => rm(path.join(scopeDir, name), { recursive: true, force: true })),
    )
    if (orphans.length > 0 || dirs.length > 0) {
      this.options.log.warn(
        { scope, containers: orphans.map((c) => c.name), dirs: dirs.length },
        'removed containers left by an earlier instance',
      )
    }
  }

  /**
   * Follows `die` and `oom` events of this instance's containers, reconnecting (and checking every
   * container) when the stream breaks, for as long as the runtime is open.
   */
  private watchEvents(): void {
    const { log, config } = this.options
    const signal = this.controller.signal
    let since: number | undefined
    const loop = async () => {
      for (let failures = 0; !signal.aborted; ) {
        // Resolves when the stream ends: the engine stopped, or the connection broke.
        await this.engine
          .events({
            labels: instanceFilter(config.scope, this.instance),
            actions: ['die', 'oom'],
            since,
            signal,
            onEvent: (event) => {
              since = event.timeNano
              this.onEvent(event)
            },
          })
          .catch(() => undefined)
        if (signal.aborted) return
        if (this.engineUp) log.error({ dockerHost: config.dockerHost }, 'docker engine unreachable')
        this.engineUp = false
        failures += 1
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** failures, 5000)))
        if (await this.reconcile().catch(() => false)) {
          log.info('docker engine reachable again')
          failures = 0
        }
      }
    }
    void loop()
  }

  private onEvent(event: EngineEvent): void {
    const container = [...this.containers].find((c) => c.id === event.containerId)
    if (!container) return
    if (event.action === 'oom') {
      container.oomKilled = true
      container.noteLimitHit(
        'memory',
        `${container.limits.memory_mb} MiB: SANDBOX_DOCKER_MEMORY_MB, or limits.memory_mb up to SANDBOX_DOCKER_MAX_MEMORY_MB`,
      )
      this.options.log.warn({ container: container.name }, 'memory limit reached in a container')
      return
    }
    if (event.action === 'die') this.onContainerDied(container, event.attributes.exitCode)
  }

  private onContainerDied(container: KernelContainer, exitCode: string | undefined): void {
    if (container.gone) return
    container.markDied()
    this.options.log.warn(
      { container: container.name, exitCode, oomKilled: container.oomKilled },
      'kernel container died; its context has lost its kernel',
    )
    container.kernel?.markLost()
    void this.removeContainer(container).catch((error) =>
      this.options.log.warn(
        { err: error, container: container.name },
        'removing a dead container failed',
      ),
    )
  }

  /**
   * After the event stream was down: any container no longer running died meanwhile.
   * @returns true once the engine answers again
   */
  private async reconcile(): Promise<boolean> {
    await this.engine.ping(AbortSignal.timeout(2000))
    for (const container of [...this.containers]) {
      if (!container.id || container.gone) continue
      const state = await this.engine.state(container.id)
      if (!state?.running) this.onContainerDied(container, String(state?.exitCode ?? ''))
    }
    this.engineUp = true
    return true
  }
}

/**
 * The service's kernelspecs with the image's paths: the launchers shipped in the image, its node
 * and Debian's python. No per-kernel memory cap: the container's memory limit is the cap.
 */
function imageKernelSpecs(maxOutputChars: number): Record<string, unknown> {
  const relocate = (arg: string) =>
    arg === process.execPath
      ? IMAGE_NODE
      : arg.startsWith(`${ASSETS_DIR}/`)
        ? IMAGE_ASSETS_DIR + arg.slice(ASSETS_DIR.length)
        : arg
  const specs = kernelSpecs(IMAGE_PYTHON, 0, maxOutputChars)
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, { ...spec, argv: spec.argv.map(relocate) }]),
  )
}

/** The container's `python3 -c` program: the shared Jupyter settings, then the entry itself. */
async function containerEntry(): Promise<string> {
  const [tuning, entry] = await Promise.all([
    readFile(path.join(ASSETS_DIR, 'jupyter_tuning.py'), 'utf8'),
    readFile(path.join(PACKAGE_ROOT, 'sandbox/runtimes/docker/assets/container_entry.py'), 'utf8'),
  ])
  return `${tuning}\n${entry}`
}

/** A kernel and the container that hosts it: shutting it down removes the container. */
class ContainerKernel implements HostedKernel {
  constructor(
    readonly kernel: JupyterKernel,
    readonly container: KernelContainer,
    private readonly remove: () => Promise<void>,
  ) {}

  get usable(): boolean {
    return this.kernel.usable
  }

  /** No graceful shutdown through Jupyter: the whole container goes. */
  async shutdown(): Promise<void> {
    this.kernel.detach()
    await this.remove()
  }
}

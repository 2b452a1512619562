import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises'
import path from 'node:path'
import type { AppliedLimits, Language } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { KERNEL_SPEC } from '../../jupyter/kernelspecs.js'
import { ContextBinding } from '../binding.js'
import { KernelPool } from '../pool.js'
import {
  type Binding,
  type BindRequest,
  type KernelRuntime,
  type RuntimeOptions,
  workingDirInRoot,
} from '../runtime.js'
import { InFlightStarts } from '../starts.js'
import type { DockerConfig } from './config.js'
import { ContainerKernel, KernelContainer } from './container.js'
import { DockerEngine } from './engine.js'
import { containerEntry, imageKernelSpecs, relaySource } from './image.js'
import { createLabels, instanceFilter, LABEL_INSTANCE, scopeFilter } from './labels.js'
import { planLimits } from './limits.js'
import { ContainerWatch } from './watch.js'
import { ContainerWorkspace } from './workspace.js'

export type DockerRuntimeOptions = RuntimeOptions & { config: DockerConfig }

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
  private readonly controller = new AbortController()
  private readonly starts: InFlightStarts
  private readonly watch: ContainerWatch
  private closing: Promise<void> | undefined

  private constructor(
    private readonly options: DockerRuntimeOptions,
    private readonly engine: DockerEngine,
    readonly instance: string,
    /** This instance's socket directories, as the service and as the engine see them. */
    private readonly dirs: { local: string; host: string },
    private readonly sources: { entry: string; relay: string },
    private readonly specs: Record<string, unknown>,
  ) {
    this.starts = new InFlightStarts(options.startupTimeoutMs, this.controller.signal)
    this.pool = new KernelPool(
      (language, signal) =>
        this.startKernel(language, signal, planLimits(this.options.config, undefined).applied),
      options.poolSize,
      options.log,
    )
    this.watch = new ContainerWatch({
      engine,
      labels: instanceFilter(options.config.scope, instance),
      dockerHost: options.config.dockerHost,
      containers: this.containers,
      signal: this.controller.signal,
      log: options.log,
      onDied: (container, exitCode) => this.onContainerDied(container, exitCode),
    })
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
    const runtimes = await engine.runtimes()
    if (!runtimes.includes(config.ociRuntime)) {
      throw new SandboxError(
        'UNAVAILABLE',
        `The Docker engine at ${config.dockerHost} has no "${config.ociRuntime}" runtime (it has: ${runtimes.join(', ')}); install gVisor and add runsc to /etc/docker/daemon.json (scripts/gvisor.sh does both), or set SANDBOX_DOCKER_OCI_RUNTIME=runc`,
      )
    }
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
      { entry: await containerEntry(), relay: await relaySource() },
      imageKernelSpecs(options.kernelMaxOutputChars),
    )
    await runtime.reapOrphans(scopeDir)
    await mkdir(dirs.local, { mode: 0o700 })
    runtime.watch.start()
    runtime.pool.fill()
    log.info(
      { instance, scope: config.scope, image: config.image, ociRuntime: config.ociRuntime },
      'docker runtime ready',
    )
    return runtime
  }

  get healthy(): boolean {
    return !this.closing && this.watch.engineUp
  }

  /**
   * A container of the context's own: a warm one when its limits allow (memory, CPUs and pids are
   * applied to it), else a fresh one. The container is renamed after the context, so that `docker
   * ps` tells which container serves which context.
   */
  async bind(request: BindRequest): Promise<Binding> {
    const { contextId, language, workingDir, env, signal } = request
    const plan = planLimits(this.options.config, request.limits)
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

  private startKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ContainerKernel> {
    return this.starts.run(signal, (bounded) =>
      this.startContainerKernel(language, bounded, limits),
    )
  }

  /** Removes every container of this instance, then its directory. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // The pool first: its refill in flight then ends quietly instead of as a failure.
      const poolClosed = this.pool.close()
      this.controller.abort()
      try {
        await this.starts.settled()
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
      entrySource: this.sources.entry,
      relaySource: this.sources.relay,
      kernelSpecs: this.specs,
      ociRuntime: config.ociRuntime,
      log,
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
}

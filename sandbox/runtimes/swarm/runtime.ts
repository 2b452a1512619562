import { randomBytes } from 'node:crypto'
import type { AppliedLimits, ContextLimits, Language } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { KERNEL_SPEC } from '../../jupyter/kernelspecs.js'
import { ContextBinding } from '../binding.js'
import type { DockerConfig } from '../docker/config.js'
import { containerEntry, imageKernelSpecs } from '../docker/image.js'
import { LABEL_INSTANCE } from '../docker/labels.js'
import { planLimits } from '../docker/limits.js'
import { ContainerWorkspace } from '../docker/workspace.js'
import { KernelPool } from '../pool.js'
import {
  type AdoptedContext,
  type Binding,
  type BindRequest,
  type KernelRuntime,
  type RuntimeOptions,
  workingDirInRoot,
} from '../runtime.js'
import { InFlightStarts } from '../starts.js'
import { orphanOf, reconnect } from './adopt.js'
import type { SwarmConfig } from './config.js'
import { type NetworkSummary, type ServiceSummary, SwarmEngine } from './engine.js'
import {
  type ContextRecord,
  contextLabels,
  recordOf,
  scopeFilter,
  serviceLabels,
} from './labels.js'
import { reapServices } from './reap.js'
import { sealEnv } from './sealed-env.js'
import { KernelService, ServiceKernel } from './service.js'
import { checkNetwork, tokenFor } from './setup.js'
import { serviceSpec } from './spec.js'
import { TaskWatch } from './watch.js'

export type SwarmRuntimeOptions = RuntimeOptions & { docker: DockerConfig; swarm: SwarmConfig }

/**
 * The "swarm" runtime: every kernel in a one-replica Swarm service of its own, placed on a node by
 * Swarm's scheduler, its Jupyter Server reached over an internal overlay network with a token of
 * its own. Services carry labels (scope, instance, role, context): at startup those of a dead
 * instance of the scope are removed; at close(), all of this instance's. A task that ends or a
 * node that dies or leaves turns its kernel lost (TaskWatch), never a hang or a silent re-run.
 */
export class SwarmKernelRuntime implements KernelRuntime, AsyncDisposable {
  readonly pool: KernelPool<ServiceKernel>
  private readonly services = new Set<KernelService>()
  private readonly adoptions: AdoptedContext[] = []
  private handingOver = false
  private readonly controller = new AbortController()
  private readonly starts: InFlightStarts
  private readonly watch: TaskWatch
  private closing: Promise<void> | undefined

  private constructor(
    private readonly options: SwarmRuntimeOptions,
    private readonly engine: SwarmEngine,
    readonly instance: string,
    private readonly network: NetworkSummary,
    private readonly entrySource: string,
    private readonly specs: Record<string, unknown>,
  ) {
    this.starts = new InFlightStarts(options.startupTimeoutMs, this.controller.signal)
    this.pool = new KernelPool(
      (language, signal) => this.startKernel(language, signal, this.plan(undefined).applied),
      options.poolSize,
      options.log,
    )
    this.watch = new TaskWatch({
      engine,
      // The scope's, not the instance's: an adopted task keeps the labels it was created with.
      labels: scopeFilter(options.docker.scope),
      services: this.services,
      intervalMs: options.swarm.pollIntervalMs,
      signal: this.controller.signal,
      log: options.log,
      onLost: (service, why) => this.onLost(service, why),
    })
  }

  /**
   * Connects to the manager, checks the network, removes what a dead instance of the scope left,
   * and starts watching tasks and nodes.
   * @throws SandboxError UNAVAILABLE when the engine is no Swarm manager or the network is unfit
   */
  static async start(options: SwarmRuntimeOptions): Promise<SwarmKernelRuntime> {
    const { docker, swarm, log } = options
    const engine = new SwarmEngine(docker.dockerHost, log.child({ component: 'swarm' }))
    try {
      await engine.ping()
      if (!(await engine.info()).manager) {
        throw new SandboxError(
          'UNAVAILABLE',
          `The Docker engine at ${docker.dockerHost} is not a Swarm manager (DOCKER_HOST)`,
        )
      }
      const network = await checkNetwork(engine, swarm)
      const instance = randomBytes(6).toString('hex')
      const runtime = new SwarmKernelRuntime(
        options,
        engine,
        instance,
        network,
        await containerEntry(),
        imageKernelSpecs(options.kernelMaxOutputChars),
      )
      // With a token key, the live contexts of a dead instance are adopted; all else is removed.
      const adoptable = (service: ServiceSummary) =>
        swarm.tokenKey !== undefined && recordOf(service.labels) !== undefined
      const kept = await reapServices({
        engine,
        scope: docker.scope,
        keep: (service) => service.labels[LABEL_INSTANCE] === instance || adoptable(service),
        log,
      })
      await runtime.watch.look()
      await runtime.adoptAll(kept.filter(adoptable))
      runtime.watch.start()
      runtime.pool.fill()
      log.info(
        {
          instance,
          scope: docker.scope,
          image: docker.image,
          network: swarm.network,
          encrypted: network.encrypted,
        },
        'swarm runtime ready',
      )
      return runtime
    } catch (error) {
      await engine.close()
      throw error
    }
  }

  get healthy(): boolean {
    return !this.closing && this.watch.managerUp
  }

  /** A service of the context's own: a warm one when its limits are the defaults, else a fresh one. */
  async bind(request: BindRequest): Promise<Binding> {
    const { contextId, language, workingDir, env, signal } = request
    const plan = this.plan(request.limits)
    const record: ContextRecord = {
      id: contextId,
      name: request.record?.name ?? contextId,
      description: request.record?.description ?? '',
      ...(request.record?.sessionName ? { sessionName: request.record.sessionName } : {}),
      createdAt: (request.record?.createdAt ?? new Date()).toISOString(),
      base: workingDirInRoot(workingDir),
      limits: plan.applied,
    }
    const hosted = await this.acquire(language, plan, signal)
    let binding: ContextBinding<ServiceKernel> | undefined
    try {
      await this.claim(hosted, record, env)
      const workspace = await ContainerWorkspace.open(hosted.service, record.base)
      binding = this.binding(hosted, workspace, language, env, record)
      await binding.prepare()
      return binding
    } catch (error) {
      await (binding ? binding.close() : hosted.shutdown())
      throw error
    } finally {
      this.pool.fill()
    }
  }

  adopted(): AdoptedContext[] {
    return this.adoptions.splice(0)
  }

  handOver(): void {
    if (this.options.swarm.tokenKey) this.handingOver = true
  }

  /** A warm service when the limits allow, else a fresh one with them. */
  private acquire(
    language: Language,
    plan: { applied: AppliedLimits; poolable: boolean },
    signal: AbortSignal,
  ): Promise<ServiceKernel> {
    return plan.poolable
      ? this.pool.acquire(language, signal)
      : this.startKernel(language, signal, plan.applied)
  }

  /** Labels the service as the context's, with what a later instance adopts it by. */
  private async claim(
    hosted: ServiceKernel,
    record: ContextRecord,
    env: Record<string, string>,
  ): Promise<void> {
    const { service } = hosted
    const { tokenKey } = this.options.swarm
    const sealed = tokenKey ? sealEnv(tokenKey, service.name, env) : undefined
    await this.engine.updateLabels(
      service.id as string,
      contextLabels(this.instance, record, sealed),
    )
    service.bound = true
    this.options.log.info(
      {
        contextId: record.id,
        service: service.name,
        node: this.watch.hostname(service.nodeId),
        kernelId: hosted.kernel.id,
      },
      'context bound to service',
    )
  }

  private binding(
    hosted: ServiceKernel,
    workspace: ContainerWorkspace,
    language: Language,
    env: Record<string, string>,
    record: ContextRecord,
  ): ContextBinding<ServiceKernel> {
    const plan = { applied: record.limits, poolable: this.plan(record.limits).poolable }
    return new ContextBinding({
      hosted,
      workspace,
      language,
      env,
      limits: record.limits,
      log: this.options.log.child({ contextId: record.id }),
      node: (current) => this.watch.hostname(current.service.nodeId),
      replace: async (signal) => {
        const next = await this.acquire(language, plan, signal).finally(() => this.pool.fill())
        try {
          await this.claim(next, record, env)
          await workspace.attach(next.service)
          return next
        } catch (error) {
          await next.shutdown()
          throw error
        }
      },
    })
  }

  /**
   * Takes over the context services a dead instance of the scope left running (same
   * SANDBOX_SWARM_TOKEN_KEY): its kernel, as it is, with its state. One that cannot be reached is
   * removed.
   */
  private async adoptAll(services: ServiceSummary[]): Promise<void> {
    const { log, startupTimeoutMs } = this.options
    for (const found of services) {
      const service = this.newService(found.name)
      this.services.add(service)
      const orphan = orphanOf(found, this.options.swarm.tokenKey as string)
      try {
        if (!orphan) throw new Error('its labels cannot be read with this token key')
        const { record, language, env } = orphan
        const kernel = await reconnect({
          engine: this.engine,
          service,
          found,
          language,
          timeoutMs: startupTimeoutMs,
          log,
        })
        const hosted = new ServiceKernel(kernel, service, () => this.removeService(service))
        await this.claim(hosted, record, env)
        const workspace = await ContainerWorkspace.open(service, record.base)
        this.adoptions.push({
          id: record.id,
          language,
          name: record.name,
          description: record.description,
          sessionName: record.sessionName,
          createdAt: new Date(record.createdAt),
          binding: this.binding(hosted, workspace, language, env, record),
        })
      } catch (error) {
        log.warn(
          { err: error, service: found.name, contextId: orphan?.record.id },
          'could not adopt a context; removing it',
        )
        await this.removeService(service).catch(() => undefined)
      }
    }
  }

  private newService(name: string): KernelService {
    return new KernelService({
      engine: this.engine,
      name,
      networkId: this.network.id,
      port: this.options.swarm.port,
      token: tokenFor(this.options.swarm.tokenKey, name),
      log: this.options.log,
    })
  }

  /** Removes every service of this instance. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const poolClosed = this.pool.close()
      this.controller.abort()
      try {
        await this.starts.settled()
        await poolClosed
        await Promise.allSettled([...this.services].map((s) => s.remove()))
        // Anything created but never tracked (a start cut short at the wrong moment).
        await reapServices({
          engine: this.engine,
          scope: this.options.docker.scope,
          // Handing over: the contexts' services stay for the next instance to adopt.
          keep: (service) => this.handingOver && recordOf(service.labels) !== undefined,
          only: this.instance,
          log: this.options.log,
        })
      } finally {
        await this.engine.close()
        this.options.log.info({ instance: this.instance }, 'swarm runtime closed')
      }
    })()
    return this.closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** The docker runtime's limits, on the swarm's network; a warm service takes only the defaults. */
  private plan(requested: ContextLimits | undefined): {
    applied: AppliedLimits
    poolable: boolean
  } {
    const { docker, swarm } = this.options
    const config: DockerConfig = {
      ...docker,
      defaults: { ...docker.defaults, network: swarm.network },
      networks: [swarm.network],
    }
    const { applied } = planLimits(config, requested)
    const d = config.defaults
    // A service's resources cannot change without re-running its task (a new container).
    const poolable =
      applied.memory_mb === d.memoryMb &&
      applied.cpus === d.cpus &&
      applied.pids === d.pids &&
      applied.workspace_mb === d.workspaceMb
    return { applied, poolable }
  }

  private startKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ServiceKernel> {
    return this.starts.run(signal, (bounded) => this.startServiceKernel(language, bounded, limits))
  }

  private async startServiceKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ServiceKernel> {
    const { docker, swarm, log } = this.options
    const name = `sci-${this.instance}-${randomBytes(4).toString('hex')}`
    const labels = serviceLabels({ scope: docker.scope, instance: this.instance, language })
    const service = this.newService(name)
    this.services.add(service)
    const kernelLog = log.child({ service: name })
    // Phase times in the log: a start that is slow on a busy cluster says where it waited.
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    const phases: Record<string, number> = {}
    try {
      const makeSpec = (secret: { id: string; name: string }) =>
        serviceSpec({
          name,
          image: docker.image,
          uid: docker.uid,
          gid: docker.gid,
          labels,
          limits,
          reserve: swarm.reserve,
          networkId: this.network.id,
          port: swarm.port,
          secret,
          constraints: swarm.constraints,
          spreadOver: swarm.spreadOver,
          entrySource: this.entrySource,
          kernelSpecs: this.specs,
        })
      await service.create(makeSpec, labels, swarm.pendingTimeoutMs, signal)
      phases.runningMs = elapsed()
      await service.waitReady(signal)
      phases.serverMs = elapsed()
      const kernel = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        settings: service.client.settings(),
        log: kernelLog,
        signal,
      })
      service.kernel = kernel
      kernelLog.info(
        { language, node: this.watch.hostname(service.nodeId), ...phases, readyMs: elapsed() },
        'kernel service started',
      )
      return new ServiceKernel(kernel, service, () => this.removeService(service))
    } catch (error) {
      if (!this.controller.signal.aborted) {
        kernelLog.warn(
          { err: error, language, ...phases, failedMs: elapsed() },
          'kernel service start failed',
        )
      }
      await this.removeService(service).catch(() => undefined)
      if (error instanceof SandboxError) throw error
      throw new SandboxError('UNAVAILABLE', `Could not start a ${language} kernel service`, {
        cause: error,
      })
    }
  }

  private async removeService(service: KernelService): Promise<void> {
    try {
      if (this.handingOver && service.bound && !service.gone) service.release()
      else await service.remove()
    } finally {
      this.services.delete(service)
    }
  }

  private onLost(service: KernelService, why: string): void {
    if (service.gone) return
    service.markLost()
    this.options.log.warn(
      { service: service.name, node: this.watch.hostname(service.nodeId), why },
      'kernel service lost; its context has lost its kernel',
    )
    service.kernel?.markLost()
    void this.removeService(service).catch((error) =>
      this.options.log.warn(
        { err: error, service: service.name },
        'removing a lost service failed',
      ),
    )
  }
}

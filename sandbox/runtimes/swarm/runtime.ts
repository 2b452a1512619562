import { createHmac, randomBytes } from 'node:crypto'
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
  type Binding,
  type BindRequest,
  type KernelRuntime,
  type RuntimeOptions,
  workingDirInRoot,
} from '../runtime.js'
import type { SwarmConfig } from './config.js'
import { type NetworkSummary, SwarmEngine } from './engine.js'
import { contextLabels, instanceFilter, serviceLabels } from './labels.js'
import { reapServices } from './reap.js'
import { KernelService, ServiceKernel } from './service.js'
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
  private readonly starting = new Set<Promise<unknown>>()
  private readonly controller = new AbortController()
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
    this.pool = new KernelPool(
      (language, signal) => this.startKernel(language, signal, this.plan(undefined).applied),
      options.poolSize,
      options.log,
    )
    this.watch = new TaskWatch({
      engine,
      labels: instanceFilter(options.docker.scope, instance),
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
      await reapServices({
        engine,
        scope: docker.scope,
        keep: (service) => service.labels[LABEL_INSTANCE] === instance,
        log,
      })
      await runtime.watch.look()
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
    const base = workingDirInRoot(workingDir)
    const log = this.options.log.child({ contextId })
    const acquire = (acquireSignal: AbortSignal) =>
      plan.poolable
        ? this.pool.acquire(language, acquireSignal)
        : this.startKernel(language, acquireSignal, plan.applied)
    const adopt = async (hosted: ServiceKernel) => {
      const { service } = hosted
      await this.engine.updateLabels(
        service.id as string,
        contextLabels(this.instance, {
          id: contextId,
          name: contextId,
          description: '',
          createdAt: new Date().toISOString(),
          base,
        }),
      )
      log.info(
        {
          service: service.name,
          node: this.watch.hostname(service.nodeId),
          kernelId: hosted.kernel.id,
        },
        'context bound to service',
      )
    }
    const hosted = await acquire(signal)
    let binding: ContextBinding<ServiceKernel> | undefined
    try {
      await adopt(hosted)
      const workspace = await ContainerWorkspace.open(hosted.service, base)
      binding = new ContextBinding({
        hosted,
        workspace,
        language,
        env,
        limits: plan.applied,
        log,
        node: (current) => this.watch.hostname(current.service.nodeId),
        replace: async (replaceSignal) => {
          const next = await acquire(replaceSignal).finally(() => this.pool.fill())
          try {
            await adopt(next)
            await workspace.attach(next.service)
            return next
          } catch (error) {
            await next.shutdown()
            throw error
          }
        },
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

  /** Removes every service of this instance. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const poolClosed = this.pool.close()
      this.controller.abort()
      try {
        await Promise.allSettled(this.starting)
        await poolClosed
        await Promise.allSettled([...this.services].map((s) => s.remove()))
        // Anything created but never tracked (a start cut short at the wrong moment).
        await reapServices({
          engine: this.engine,
          scope: this.options.docker.scope,
          keep: () => false,
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

  private async startKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ServiceKernel> {
    if (this.closing) throw new SandboxError('UNAVAILABLE', 'The sandbox is shutting down')
    const start = this.startServiceKernel(
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

  private async startServiceKernel(
    language: Language,
    signal: AbortSignal,
    limits: AppliedLimits,
  ): Promise<ServiceKernel> {
    const { docker, swarm, log } = this.options
    const name = `sci-${this.instance}-${randomBytes(4).toString('hex')}`
    const labels = serviceLabels({ scope: docker.scope, instance: this.instance, language })
    const service = new KernelService({
      engine: this.engine,
      name,
      networkId: this.network.id,
      port: swarm.port,
      token: tokenFor(swarm.tokenKey, name),
      log,
    })
    this.services.add(service)
    const kernelLog = log.child({ service: name })
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
      await service.waitReady(signal)
      const kernel = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        settings: service.client.settings(),
        log: kernelLog,
        signal,
      })
      service.kernel = kernel
      kernelLog.debug(
        { language, node: this.watch.hostname(service.nodeId) },
        'service kernel ready',
      )
      return new ServiceKernel(kernel, service, () => this.removeService(service))
    } catch (error) {
      await this.removeService(service).catch(() => undefined)
      if (error instanceof SandboxError) throw error
      throw new SandboxError('UNAVAILABLE', `Could not start a ${language} kernel service`, {
        cause: error,
      })
    }
  }

  private async removeService(service: KernelService): Promise<void> {
    try {
      await service.remove()
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

/**
 * A context's Jupyter token: derived from SANDBOX_SWARM_TOKEN_KEY and the service's name when a key
 * is set (so a restarted service can reach the contexts it adopts), else random.
 */
export function tokenFor(key: string | undefined, serviceName: string): string {
  return key
    ? createHmac('sha256', key).update(serviceName).digest('hex')
    : randomBytes(24).toString('hex')
}

async function checkNetwork(engine: SwarmEngine, swarm: SwarmConfig): Promise<NetworkSummary> {
  const network = await engine.network(swarm.network)
  const fix = `create it with: docker network create -d overlay --attachable --internal [--opt encrypted] ${swarm.network} (SANDBOX_SWARM_NETWORK)`
  if (!network) throw new SandboxError('UNAVAILABLE', `No network ${swarm.network}; ${fix}`)
  if (network.driver !== 'overlay' || !network.attachable || !network.internal)
    throw new SandboxError(
      'UNAVAILABLE',
      `Network ${swarm.network} must be an attachable, internal overlay network (contexts must have no route out); ${fix}`,
    )
  if (swarm.requireEncrypted && !network.encrypted)
    throw new SandboxError(
      'UNAVAILABLE',
      `Network ${swarm.network} is not encrypted and SANDBOX_SWARM_REQUIRE_ENCRYPTED is set; ${fix}`,
    )
  return network
}

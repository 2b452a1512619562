import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { type ExecutionResult, LANGUAGES, type Language } from './api.js'
import type { KernelStarts } from './jupyter/server.js'

/** What the metrics read from the live service when scraped. */
export type MetricsSources = {
  liveContexts: () => number
  poolDepth: (language: Language) => number
  /** Python kernel starts per path, from the Jupyter Server; absent where no template runs. */
  kernelStarts?: () => Promise<KernelStarts | undefined>
  /**
   * What keeps contexts apart at OS level: `uid` (process runtime, a uid per context),
   * `shared-uid` (process runtime, kernels share the service's uid), `container` (docker runtime).
   */
  isolation?: string
}

/**
 * Prometheus metrics of one sandbox, on their own registry (so two sandboxes in one process, as in
 * tests, do not collide). Served at /metrics.
 */
export class SandboxMetrics {
  readonly registry = new Registry()
  private readonly executions = new Counter({
    name: 'sandbox_executions_total',
    help: 'Executions by language and outcome (success, error, timeout, kernel_died, …)',
    labelNames: ['language', 'outcome'] as const,
    registers: [this.registry],
  })
  private readonly duration = new Histogram({
    name: 'sandbox_execution_duration_seconds',
    help: 'Wall time of executions',
    labelNames: ['language'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  })
  private readonly restarts = new Counter({
    name: 'sandbox_kernel_restarts_total',
    help: 'Kernels restarted under a running cell, by reason (timeout, kernel_died, …)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  private readonly limits = new Counter({
    name: 'sandbox_limits_hit_total',
    help: 'Limits that stopped or cut something, by reason (output, timeout, contexts, request_size, file_size)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  private readonly oneShots = new Counter({
    name: 'sandbox_one_shot_runs_total',
    help: 'One-shot runs (POST /api/v1/execute) by path: a forked runner process, or a fresh context’s kernel',
    labelNames: ['path'] as const,
    registers: [this.registry],
  })

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'sandbox_process_' })
    new Gauge({
      name: 'sandbox_contexts',
      help: 'Live contexts',
      registers: [this.registry],
      collect() {
        this.set(sources.liveContexts())
      },
    })
    new Gauge({
      name: 'sandbox_pool_ready_kernels',
      help: 'Started kernels waiting in the warm pool',
      labelNames: ['language'] as const,
      registers: [this.registry],
      collect() {
        for (const language of LANGUAGES) this.set({ language }, sources.poolDepth(language))
      },
    })
    const { isolation } = sources
    if (isolation) {
      new Gauge({
        name: 'sandbox_isolation_level',
        help: 'What keeps contexts apart: 1 on the label of this service’s level (uid, shared-uid, container)',
        labelNames: ['level'] as const,
        registers: [this.registry],
      }).set({ level: isolation }, 1)
    }
    const { kernelStarts } = sources
    if (kernelStarts) {
      // Counted in the Jupyter Server: they restart from 0 with it, as a counter may.
      new Counter({
        name: 'sandbox_python_kernel_starts_total',
        help: "Python kernel starts by path: the kernel template's spare kernel, forked from the template, or cold (a new interpreter)",
        labelNames: ['path'] as const,
        registers: [this.registry],
        async collect() {
          const starts = await kernelStarts()
          this.reset()
          this.inc({ path: 'spare' }, starts?.spare ?? 0)
          this.inc({ path: 'template' }, starts?.template ?? 0)
          this.inc({ path: 'cold' }, starts?.cold ?? 0)
        },
      })
      new Gauge({
        name: 'sandbox_kernel_template_up',
        help: '1 while the Python kernel template runs',
        registers: [this.registry],
        async collect() {
          this.set((await kernelStarts())?.templatePid ? 1 : 0)
        },
      })
    }
  }

  /** Records one finished execution. */
  execution(language: Language, result: ExecutionResult): void {
    const verdict = result.error?.code ? (result.error.reason ?? result.error.code) : undefined
    const outcome = result.success
      ? 'success'
      : verdict === 'EXECUTION_TIMEOUT'
        ? 'timeout'
        : (verdict ?? 'error')
    this.executions.inc({ language, outcome })
    this.duration.observe({ language }, result.execution_time)
    if (result.context_restarted) this.restarts.inc({ reason: outcome })
    if (result.output.truncated) this.limits.inc({ reason: 'output' })
    if (outcome === 'timeout') this.limits.inc({ reason: 'timeout' })
  }

  /** Records the path a one-shot run took. */
  oneShot(path: 'runner' | 'kernel'): void {
    this.oneShots.inc({ path })
  }

  /** Records a request refused by a limit. */
  limitHit(reason: string): void {
    this.limits.inc({ reason })
  }
}

import { mkdir } from 'node:fs/promises'
import type { Logger } from 'pino'
import { createApp } from './app.js'
import type { Config } from './config.js'
import { ContextService } from './contexts.js'
import { SandboxMetrics } from './metrics.js'
import { DockerKernelRuntime } from './runtimes/docker/runtime.js'
import { ProcessKernelRuntime } from './runtimes/process/runtime.js'
import type { KernelRuntime, WarmPool } from './runtimes/runtime.js'
import { SwarmKernelRuntime } from './runtimes/swarm/runtime.js'

/** The whole sandbox, assembled: what main.ts serves and the MCP server embeds. */
export type Sandbox = AsyncDisposable & {
  app: ReturnType<typeof createApp>
  contexts: ContextService
  /** The runtime's warm kernels. */
  pool: WarmPool
  runtime: KernelRuntime
  /** Stops every context, the pool's kernels and the Jupyter Server (or containers). Idempotent. */
  close(): Promise<void>
}

/**
 * Starts the kernel runtime (its warm pool filling in the background) and builds the app.
 * @param config - from loadConfig()
 * @example
 * await using sandbox = await createSandbox(loadConfig(), logger)
 * const res = await sandbox.app.request('/health')
 */
export async function createSandbox(config: Config, log: Logger): Promise<Sandbox> {
  if (config.runtime === 'process') await mkdir(config.workspaceRoot, { recursive: true })
  // Twice the service's limit: the service still sees enough to cut and mark the output itself.
  const kernelMaxOutputChars = config.maxOutputChars * 2
  const common = {
    poolSize: config.poolSize,
    kernelMaxOutputChars,
    startupTimeoutMs: config.startupTimeoutMs,
    log,
  }
  const runtime: KernelRuntime =
    config.runtime === 'docker'
      ? await DockerKernelRuntime.start({ ...common, config: config.docker })
      : config.runtime === 'swarm'
        ? await SwarmKernelRuntime.start({ ...common, docker: config.docker, swarm: config.swarm })
        : await ProcessKernelRuntime.start({
            ...common,
            python: config.python,
            kernelTemplate: config.kernelTemplate,
            kernelUids: config.kernelUids,
            kernelMemoryMb: config.kernelMemoryMb,
            workspaceRoot: config.workspaceRoot,
          })
  const { pool } = runtime
  const metrics: SandboxMetrics = new SandboxMetrics({
    liveContexts: (): number => contexts.size,
    poolDepth: (language) => pool.depth(language),
    isolation: runtime instanceof ProcessKernelRuntime ? runtime.isolation : 'container',
    ...(runtime instanceof ProcessKernelRuntime && { kernelStarts: () => runtime.kernelStarts() }),
  })
  const contexts = new ContextService({ config, runtime, metrics, log })
  contexts.adopt(runtime.adopted?.() ?? [])
  const app = createApp({ config, contexts, runtime, metrics, log })
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      runtime.handOver?.()
      try {
        await contexts.close()
      } finally {
        await runtime.close()
      }
    })()
    return closing
  }
  return { app, contexts, pool, runtime, close, [Symbol.asyncDispose]: close }
}

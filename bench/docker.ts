/**
 * The docker runtime (a container per context) under runc and under gVisor (runsc), next to the
 * process runtime, in one run: context creation with a warm pool and with a fresh container,
 * execute `1+1` through the REST API, and memory per idle context (docker: `docker stats` of its
 * container, Jupyter Server included, and under gVisor its kernel, the Sentry; process: the
 * kernel's RSS). Needs a Docker engine and the sandbox image; the gVisor rows need runsc as an
 * engine runtime (scripts/gvisor.sh). Runnable alone: `npx tsx bench/docker.ts`.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import type { Language } from '../sandbox/api.js'
import { type Config, loadConfig } from '../sandbox/config.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { sample } from './sandbox.js'
import { type Row, summarize, table } from './stats.js'

const DOCKER = process.env.DOCKER ?? 'docker'
const log = createLogger('warn')

// biome-ignore lint/suspicious/noExplicitAny: the bench reads loosely-typed JSON bodies
type Api = (method: string, route: string, body?: unknown) => Promise<any>

/** Starts a sandbox with `config` behind a real HTTP listener; runs `fn`; tears it all down. */
async function withService<T>(
  config: Config,
  fn: (api: Api, waitPool: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const sandbox = await createSandbox(config, log)
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const api: Api = async (method, route, body) => {
    const response = await fetch(baseUrl + route, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return response.json()
  }
  try {
    await sandbox.pool.filled()
    return await fn(api, () => sandbox.pool.filled())
  } finally {
    server.close()
    await sandbox.close()
  }
}

/**
 * Creation (warm pool, refilled before each; and a fresh container: a /workspace size of its own
 * keeps the pool out) and execute `1+1` latency, over REST.
 */
async function latency(label: string, config: Config, n: number): Promise<Row[]> {
  return withService(config, async (api, waitPool) => {
    const creations: number[] = []
    for (let i = 0; i < Math.min(30, n); i++) {
      await waitPool()
      const started = performance.now()
      const context = await api('POST', '/api/v1/contexts', { language: 'python' })
      creations.push(performance.now() - started)
      await api('DELETE', `/api/v1/contexts/${context.context_id}`)
    }
    const fresh: number[] = []
    if (config.runtime === 'docker') {
      const limits = { workspace_mb: config.docker.defaults.workspaceMb + 1 }
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        const context = await api('POST', '/api/v1/contexts', { language: 'python', limits })
        fresh.push(performance.now() - started)
        await api('DELETE', `/api/v1/contexts/${context.context_id}`)
      }
    }
    await waitPool()
    const { context_id } = await api('POST', '/api/v1/contexts', { language: 'python' })
    // Let the pool refill first, so its kernel start does not compete with the measurement.
    await waitPool()
    const route = `/api/v1/contexts/${context_id}/execute`
    const executes = await sample(n, () => api('POST', route, { code: '1+1' }))
    const restarts: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      await api('POST', `/api/v1/contexts/${context_id}/restart`)
      restarts.push(performance.now() - started)
    }
    return [
      summarize(`${label}: create context (warm pool)`, creations),
      ...(fresh.length ? [summarize(`${label}: create context (fresh container)`, fresh)] : []),
      summarize(`${label}: execute 1+1, REST`, executes),
      summarize(`${label}: restart the kernel`, restarts),
    ]
  })
}

const PID_CODE: Record<Language, string> = {
  python: 'import os; print(os.getpid())',
  javascript: 'console.log(process.pid)',
  typescript: 'console.log(process.pid)',
}

/**
 * Memory of idle contexts, in MiB (reported in the table's ms columns): per container from
 * `docker stats`, per kernel process (RSS) in the process runtime.
 */
async function idleMemory(label: string, config: Config, language: Language): Promise<Row> {
  return withService(config, async (api) => {
    const samples: number[] = []
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const { context_id } = await api('POST', '/api/v1/contexts', { language })
      ids.push(context_id)
      // One execute, so the kernel has run code once, as any context in use has.
      await api('POST', `/api/v1/contexts/${context_id}/execute`, { code: '1+1' })
    }
    await new Promise((resolve) => setTimeout(resolve, 3000))
    for (const id of ids) {
      if (config.runtime === 'docker') {
        const hostname = await api('POST', `/api/v1/contexts/${id}/execute`, {
          code:
            language === 'python'
              ? 'print(open("/etc/hostname").read().strip())'
              : 'console.log(require("fs").readFileSync("/etc/hostname", "utf8").trim())',
        })
        samples.push(dockerStatsMiB(hostname.output.stdout.trim()))
      } else {
        const pid = await api('POST', `/api/v1/contexts/${id}/execute`, {
          code: PID_CODE[language],
        })
        const status = await readFile(`/proc/${pid.output.stdout.trim()}/status`, 'utf8')
        samples.push(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024)
      }
    }
    return summarize(`${label}: memory per idle ${language} context, MiB (not ms)`, samples)
  })
}

/** The memory `docker stats` shows for a container, in MiB. */
function dockerStatsMiB(container: string): number {
  const usage = execFileSync(DOCKER, [
    'stats',
    '--no-stream',
    '--format',
    '{{.MemUsage}}',
    container,
  ]).toString()
  const match = /^([\d.]+)\s*([KMG]i?B)/.exec(usage.trim())
  if (!match) throw new Error(`unexpected docker stats output: ${usage}`)
  const unit = { KiB: 1 / 1024, MiB: 1, GiB: 1024, kB: 1 / 1024, MB: 1, GB: 1024 }[
    match[2] as 'MiB'
  ]
  return Number(match[1]) * (unit ?? Number.NaN)
}

/** True when the engine has gVisor's runsc runtime (scripts/gvisor.sh). */
function hasRunsc(): boolean {
  const runtimes = execFileSync(DOCKER, ['info', '--format', '{{json .Runtimes}}']).toString()
  return runtimes.includes('"runsc"')
}

/**
 * Every row of the docker-vs-process table: the process runtime, the docker runtime under runc
 * and, when the engine has it, under gVisor (runsc), side by side.
 * @param n - executes per runtime
 */
export async function benchDocker(n = 500): Promise<Row[]> {
  const scope = `bench-${randomBytes(3).toString('hex')}`
  const env = {
    LOG_LEVEL: 'warn',
    SANDBOX_POOL_PYTHON: '2',
    SANDBOX_POOL_JAVASCRIPT: '0',
    SANDBOX_POOL_TYPESCRIPT: '0',
    SANDBOX_DOCKER_SCOPE: scope,
  }
  const configs: [string, Config][] = [
    ['process', loadConfig({ ...env, SANDBOX_RUNTIME: 'process' })],
    ['docker runc', loadConfig({ ...env, SANDBOX_RUNTIME: 'docker' })],
  ]
  if (hasRunsc()) {
    configs.push([
      'docker runsc',
      loadConfig({ ...env, SANDBOX_RUNTIME: 'docker', SANDBOX_DOCKER_OCI_RUNTIME: 'runsc' }),
    ])
  } else {
    console.error('no runsc runtime on the engine (scripts/gvisor.sh): gVisor rows left out')
  }
  const rows: Row[] = []
  const latencies: Row[][] = []
  for (const [label, config] of configs) latencies.push(await latency(label, config, n))
  // Row by row, the runtimes side by side (the process runtime has no fresh-container row).
  const names = [...new Set(latencies.flat().map((row) => row.name.split(': ')[1]))]
  for (const name of names)
    rows.push(...latencies.flat().filter((row) => row.name.endsWith(`: ${name}`)))
  for (const language of ['python', 'javascript'] as const) {
    for (const [label, config] of configs) rows.push(await idleMemory(label, config, language))
  }
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.env.BENCH_N ?? 500)
  console.error(`docker vs process runtime (n=${n}) …`)
  process.stdout.write(
    `## Docker runtime (runc, gVisor) vs process runtime\n\n${table(await benchDocker(n))}\n`,
  )
  process.exit(0)
}

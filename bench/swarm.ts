/**
 * The swarm runtime on a real Swarm of Docker-in-Docker nodes next to the docker runtime on this
 * host's engine, in one run: context creation with a warm pool and execute `1+1` over REST; how
 * 60 contexts spread over the workers; how long after a worker's death its contexts report lost.
 * bench/swarm.sh brings up the cluster (three workers), deploys the stack, runs this with the
 * variables of test/swarm/cluster.ts set, and takes everything down. It kills a worker.
 * Environment: BENCH_N (executes per runtime, default 300), BENCH_CONTEXTS (default 60),
 * BENCH_POOL (the deployed python pool size, default 2).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { serve } from '@hono/node-server'
import { createSandboxClient, type SandboxClient } from '../client/index.js'
import type { Context } from '../sandbox/api.js'
import { loadConfig } from '../sandbox/config.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { sample } from './sandbox.js'
import { type Row, summarize, table } from './stats.js'

const env = process.env
const DOCKER = env.DOCKER ?? 'docker'
const MANAGER = env.SCI_SWARM_MANAGER ?? 'sci-cluster-manager'
const SCOPE = env.SCI_SWARM_SCOPE ?? 'sci-swarm-test'
const POOL = Number(env.BENCH_POOL ?? 2)
const run = promisify(execFile)

async function onManager(...args: string[]): Promise<string> {
  const { stdout } = await run(DOCKER, ['exec', MANAGER, 'docker', ...args])
  return stdout.trim()
}

/** Resolves once the deployed service's python pool holds POOL running services. */
async function swarmPoolFilled(): Promise<void> {
  for (;;) {
    const replicas = await onManager(
      'service',
      'ls',
      '--filter',
      `label=sci.scope=${SCOPE}`,
      '--filter',
      'label=sci.role=pool',
      '--format',
      '{{.Replicas}}',
    )
    if (replicas.split('\n').filter((r) => r === '1/1').length >= POOL) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Creation with a full warm pool (refilled before each) and execute `1+1`, over REST. */
async function latency(
  label: string,
  client: SandboxClient,
  poolFilled: () => Promise<void>,
  n: number,
): Promise<Row[]> {
  const creations: number[] = []
  for (let i = 0; i < 10; i++) {
    await poolFilled()
    const started = performance.now()
    const { context_id } = await client.createContext({ language: 'python' })
    creations.push(performance.now() - started)
    await client.stopContext(context_id)
  }
  await poolFilled()
  const { context_id } = await client.createContext({ language: 'python' })
  await poolFilled()
  const executes = await sample(n, () => client.execute(context_id, { code: '1+1' }), 20)
  await client.stopContext(context_id)
  return [
    summarize(`${label}: create context (warm pool)`, creations),
    summarize(`${label}: execute 1+1, REST`, executes),
  ]
}

/** The docker runtime on this host's engine, in this process, behind a real HTTP listener. */
async function dockerLatency(n: number): Promise<Row[]> {
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    SANDBOX_RUNTIME: 'docker',
    SANDBOX_DOCKER_SCOPE: `bench-${randomBytes(3).toString('hex')}`,
    // The image the cluster serves, as this host's engine names it.
    SANDBOX_DOCKER_IMAGE: env.SCI_SANDBOX_IMAGE ?? 'sandbox-code-interpreter/sandbox:latest',
    SANDBOX_POOL_PYTHON: String(POOL),
    SANDBOX_POOL_JAVASCRIPT: '0',
    SANDBOX_POOL_TYPESCRIPT: '0',
  })
  const sandbox = await createSandbox(config, createLogger('warn'))
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  try {
    const client = createSandboxClient({ baseUrl: `http://127.0.0.1:${port}` })
    return await latency('docker', client, () => sandbox.pool.filled(), n)
  } finally {
    server.close()
    await sandbox.close()
  }
}

/** Creates `count` contexts, a few at a time; returns them as the service reports them. */
async function spread(client: SandboxClient, count: number): Promise<Context[]> {
  const contexts: Context[] = []
  let issued = 0
  const next = async (): Promise<void> => {
    while (issued < count) {
      issued += 1
      contexts.push(await client.createContext({ language: 'python' }))
    }
  }
  await Promise.all([next(), next(), next()])
  return contexts
}

/**
 * Kills the worker that holds the most of `contexts`; returns the ms until the first and until the
 * last of its contexts reports status `error`, polling GET /api/v1/contexts every 100 ms.
 */
async function timeToLost(
  client: SandboxClient,
  contexts: Context[],
): Promise<{ node: string; count: number; first: number; last: number }> {
  const byNode = countByNode(contexts)
  const [node = '', count = 0] = [...byNode].sort((a, b) => b[1] - a[1])[0] ?? []
  const ids = new Set(contexts.filter((c) => c.node === node).map((c) => c.context_id))
  await run(DOCKER, ['kill', node])
  const killed = performance.now()
  let first = Number.NaN
  for (;;) {
    const { contexts: listed } = await client.listContexts()
    const lost = listed.filter((c) => ids.has(c.context_id) && c.status === 'error').length
    if (lost > 0 && Number.isNaN(first)) first = performance.now() - killed
    if (lost === ids.size) return { node, count, first, last: performance.now() - killed }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function countByNode(contexts: Context[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const c of contexts) counts.set(c.node ?? '?', (counts.get(c.node ?? '?') ?? 0) + 1)
  return counts
}

const n = Number(env.BENCH_N ?? 300)
const count = Number(env.BENCH_CONTEXTS ?? 60)
const swarm = createSandboxClient({
  baseUrl: env.SCI_SWARM_URL ?? 'http://127.0.0.1:8080',
  apiKey: env.SANDBOX_API_KEY || undefined,
  requestTimeoutMs: 300_000,
})
process.stderr.write(`swarm vs docker runtime (n=${n}) …\n`)
const swarmRows = await latency('swarm', swarm, swarmPoolFilled, n)
const dockerRows = await dockerLatency(n)
const rows = [swarmRows[0], dockerRows[0], swarmRows[1], dockerRows[1]] as Row[]
process.stdout.write(`## Swarm runtime vs docker runtime\n\n${table(rows)}\n\n`)

process.stderr.write(`${count} contexts …\n`)
let started = performance.now()
const contexts = await spread(swarm, count)
const spreadS = (performance.now() - started) / 1000
const lines = [...countByNode(contexts)].sort().map(([node, k]) => `| ${node} | ${k} |`)
process.stdout.write(
  `## ${count} contexts over the nodes (created in ${spreadS.toFixed(0)} s, 3 at a time)\n\n| node | contexts |\n| --- | ---: |\n${lines.join('\n')}\n\n`,
)

process.stderr.write('killing a worker …\n')
const lost = await timeToLost(swarm, contexts)
process.stdout.write(
  `## A worker's death\n\n${lost.node} (${lost.count} contexts) killed: first reported lost after ${(lost.first / 1000).toFixed(1)} s, all after ${(lost.last / 1000).toFixed(1)} s\n`,
)
started = performance.now()
for (const c of contexts) await swarm.stopContext(c.context_id)
process.stderr.write(
  `stopped ${count} contexts in ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
)
process.exit(0)

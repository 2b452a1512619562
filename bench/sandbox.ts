/**
 * Sandbox latency, measured side by side in one run: context creation with a warm pool, execute
 * `1+1` through the REST API, the same through the Jupyter WebSocket alone (with and without
 * TCP_NODELAY), and the kernel's floor over raw ZMQ with no Jupyter Server.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { serve } from '@hono/node-server'
import type { Logger } from 'pino'
import { loadConfig } from '../sandbox/config.js'
import { JupyterKernel } from '../sandbox/jupyter/kernel.js'
import { ASSETS_DIR, KERNEL_SPEC } from '../sandbox/jupyter/kernelspecs.js'
import { JupyterServer } from '../sandbox/jupyter/server.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { type Row, summarize } from './stats.js'
import { startRawKernel } from './zmq-floor.js'

const log = createLogger('warn')
const config = loadConfig({
  LOG_LEVEL: 'warn',
  SANDBOX_POOL_PYTHON: '2',
  SANDBOX_POOL_JAVASCRIPT: '0',
  SANDBOX_POOL_TYPESCRIPT: '0',
})

/** Runs `fn` `warmup` times unmeasured, then `n` times measured; returns milliseconds. */
export async function sample(
  n: number,
  fn: () => Promise<unknown>,
  warmup = Math.min(50, n),
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    await fn()
    times.push(performance.now() - started)
  }
  return times
}

/** Creates a REST client bound to a running sandbox; returns it with its base URL. */
export async function withSandbox<T>(
  run: (
    api: (path: string, body?: unknown) => Promise<any>,
    baseUrl: string,
    waitPool: () => Promise<void>,
  ) => Promise<T>,
): Promise<T> {
  const sandbox = await createSandbox(config, log)
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const api = async (route: string, body?: unknown) => {
    const response = await fetch(baseUrl + route, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return response.json()
  }
  const waitPool = async () => {
    while (sandbox.pool.depth('python') < config.poolSize.python)
      await new Promise((r) => setTimeout(r, 20))
  }
  try {
    await waitPool()
    return await run(api, baseUrl, waitPool)
  } finally {
    server.close()
    await sandbox.close()
  }
}

/** Starts one Python kernel on `server` through Jupyter, as the service does. */
export function startPythonKernel(server: JupyterServer, log: Logger): Promise<JupyterKernel> {
  return JupyterKernel.start({
    language: 'python',
    spec: KERNEL_SPEC.python,
    settings: server.settings,
    log,
    signal: AbortSignal.timeout(60_000),
  })
}

async function jupyterRoundTrip(nodelay: boolean, n: number): Promise<number[]> {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'sci-bench-'))
  const server = await JupyterServer.start({
    python: config.python,
    runDir,
    rootDir: runDir,
    startupTimeoutMs: 60_000,
    nodelay,
    kernelMemoryMb: config.kernelMemoryMb,
    kernelMaxOutputChars: config.maxOutputChars * 2,
    log,
    onUnexpectedExit: () => {},
  })
  try {
    const kernel = await startPythonKernel(server, log)
    try {
      return await sample(n, () => kernel.execute('1+1', () => {}))
    } finally {
      await kernel.shutdown()
    }
  } finally {
    await server.close()
    await rm(runDir, { recursive: true, force: true })
  }
}

/** Execute round trips of a kernel started from `argv`, driven over raw ZMQ. */
async function zmqFloor(argv: [string, ...string[]], n: number): Promise<number[]> {
  const kernel = await startRawKernel(argv)
  try {
    return await sample(n, () => kernel.execute('1+1'))
  } finally {
    await kernel.close()
  }
}

const keepAlive = new http.Agent({ keepAlive: true })

/**
 * POSTs JSON with node:http on a kept-alive socket: the client a lean SDK uses. Node's fetch
 * (undici) costs about 1 ms more per call on the same event loop as the service.
 */
function postJson(url: string, body: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => resolve(JSON.parse(text)))
      },
    )
    request.on('error', reject)
    request.end(JSON.stringify(body))
  })
}

/** Measures every row of the sandbox table. */
export async function benchSandbox(n = 500): Promise<Row[]> {
  const rows: Row[] = []
  await withSandbox(async (api, baseUrl, waitPool) => {
    const creations: number[] = []
    for (let i = 0; i < 30; i++) {
      await waitPool()
      const started = performance.now()
      const context = await api('/api/v1/contexts', { language: 'python' })
      creations.push(performance.now() - started)
      await fetch(`${baseUrl}/api/v1/contexts/${context.context_id}`, { method: 'DELETE' })
    }
    rows.push(summarize('create context (warm pool), REST', creations))
    const { context_id } = await api('/api/v1/contexts', { language: 'python' })
    const route = `/api/v1/contexts/${context_id}/execute`
    rows.push(
      summarize(
        'execute 1+1, REST API (node:http client)',
        await sample(n, () => postJson(baseUrl + route, { code: '1+1' })),
      ),
      summarize(
        'execute 1+1, REST API (fetch client)',
        await sample(n, () => api(route, { code: '1+1' })),
      ),
    )
  })
  rows.push(summarize('execute 1+1, Jupyter WebSocket (nodelay)', await jupyterRoundTrip(true, n)))
  rows.push(
    summarize(
      'execute 1+1, Jupyter WebSocket (no nodelay)',
      await jupyterRoundTrip(false, Math.min(n, 200)),
    ),
  )
  const ours: [string, ...string[]] = [
    config.python,
    path.join(ASSETS_DIR, 'python_kernel.py'),
    '-f',
    '{connection_file}',
  ]
  const stock: [string, ...string[]] = [
    config.python,
    '-m',
    'ipykernel_launcher',
    '-f',
    '{connection_file}',
  ]
  rows.push(summarize('floor: raw ZMQ from Node, our kernel launcher', await zmqFloor(ours, n)))
  rows.push(summarize('floor: raw ZMQ from Node, stock ipykernel', await zmqFloor(stock, n)))
  return rows
}

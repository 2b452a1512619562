/**
 * A burst of context creations beyond the warm pool: `size` POST /api/v1/contexts at once over
 * real HTTP against an in-process service with the default pool (Python 2, JavaScript 1,
 * TypeScript 1; the kernel template on), every pool full before each round. Each request's time
 * is one sample. Run alone with `npx tsx bench/burst.ts` (BENCH_ROUNDS rounds, default 5).
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { loadConfig } from '../sandbox/config.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { type Row, summarize, table } from './stats.js'

/** Milliseconds of each creation in `rounds` bursts of `size` Python contexts. */
export async function measureBurst(size = 20, rounds = 5): Promise<number[]> {
  const config = loadConfig({ LOG_LEVEL: 'warn' })
  await using sandbox = await createSandbox(config, createLogger('warn'))
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/contexts`
  const create = async () => {
    const started = performance.now()
    const response = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python' }),
    })
    const body = (await response.json()) as { context_id?: string }
    if (response.status !== 201 || !body.context_id)
      throw new Error(`create: ${response.status} ${JSON.stringify(body)}`)
    return { id: body.context_id, ms: performance.now() - started }
  }
  const samples: number[] = []
  try {
    for (let round = 0; round < rounds; round++) {
      await sandbox.pool.filled()
      const created = await Promise.all(Array.from({ length: size }, create))
      samples.push(...created.map((c) => c.ms))
      await Promise.all(created.map(({ id }) => fetch(`${base}/${id}`, { method: 'DELETE' })))
    }
  } finally {
    server.close()
  }
  return samples
}

/** The burst row of `npm run bench`. */
export async function benchBurst(size = 20, rounds = 5): Promise<Row[]> {
  const samples = await measureBurst(size, rounds)
  return [summarize(`create ${size} Python contexts at once (default pool), REST`, samples)]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  process.stdout.write(`## Burst\n\n${table(await benchBurst(20, rounds))}\n`)
  process.exit(0)
}

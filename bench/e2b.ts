/**
 * The E2B front door's cost, in one run: `runCode('1+1')` through the unmodified E2B SDK (debug
 * mode, port 49999) against `1+1` through our REST execute, both on the same service.
 * Usage: npx tsx bench/e2b.ts [n]   (ports 49999 and 49983 must be free)
 */
import type { AddressInfo } from 'node:net'
import { Sandbox } from '@e2b/code-interpreter'
import { serve } from '@hono/node-server'
import { loadConfig } from '../sandbox/config.js'
import { startE2bServers } from '../sandbox/e2b/server.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { sample } from './sandbox.js'
import { type Row, summarize, table } from './stats.js'

async function main(n: number): Promise<Row[]> {
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    SANDBOX_POOL_PYTHON: '2',
    SANDBOX_POOL_JAVASCRIPT: '0',
    SANDBOX_POOL_TYPESCRIPT: '0',
  })
  const log = createLogger(config.logLevel)
  const sandbox = await createSandbox(config, log)
  const server = serve({ fetch: sandbox.app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const e2b = await startE2bServers({ config, contexts: sandbox.contexts, log })
  try {
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`
    const post = async (route: string, body: unknown) => {
      const response = await fetch(baseUrl + route, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return (await response.json()) as { context_id: string }
    }
    const { context_id: id } = await post('/contexts', { language: 'python' })
    const sbx = await Sandbox.create({ debug: true })
    const context = await sbx.createCodeContext({ language: 'python' })
    const rows: Row[] = []
    const measure = async (name: string, run: () => Promise<unknown>) => {
      console.error(`${name} …`)
      rows.push(summarize(name, await sample(n, run)))
    }
    await measure('REST execute 1+1', () => post(`/contexts/${id}/execute`, { code: '1+1' }))
    await measure('E2B SDK runCode 1+1, default context', () => sbx.runCode('1+1'))
    await measure('E2B SDK runCode 1+1, own context', () => sbx.runCode('1+1', { context }))
    return rows
  } finally {
    server.close()
    await e2b.close()
    await sandbox.close()
  }
}

main(Number(process.argv[2] ?? 300)).then(
  (rows) => {
    // createLogger routes console.log to the log: write the table to stdout directly.
    process.stdout.write(`${table(rows)}\n`)
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  },
)

/**
 * What kernel uids cost in the process runtime, off and on side by side in one run: context
 * creation from the warm pool, a context whose kernel starts on the spot (empty pool: the kernel
 * start plus, with uids, taking a uid and making its home), `1+1`, and stopping a context (with
 * uids: killing what runs as its uid and removing its files). Needs root, as kernel uids do. Run
 * alone with `npx tsx bench/kernel-uids.ts` (BENCH_N per measurement, default 20).
 */
import { type Config, loadConfig } from '../sandbox/config.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import { type Row, summarize, table } from './stats.js'

const log = createLogger('warn')

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

async function measure(mode: 'on' | 'off', n: number): Promise<Row[]> {
  const base = loadConfig({ LOG_LEVEL: 'warn', SANDBOX_KERNEL_UIDS: mode })
  const rows: Row[] = []
  for (const pool of [2, 0]) {
    const config: Config = {
      ...base,
      poolSize: { python: pool, javascript: 0, typescript: 0 },
    }
    const sandbox = await createSandbox(config, log)
    const { contexts } = sandbox
    const waitPool = async () => {
      while (sandbox.pool.depth('python') < pool) await new Promise((r) => setTimeout(r, 20))
    }
    try {
      const create: number[] = []
      const execute: number[] = []
      const stop: number[] = []
      for (let i = 0; i < n; i++) {
        await waitPool()
        let id = ''
        create.push(
          await timed(
            async () =>
              (id = (await contexts.create({ type: 'jupyter', language: 'python' })).context_id),
          ),
        )
        execute.push(
          await timed(() =>
            contexts.execute(id, { code: '1+1' }, { signal: AbortSignal.timeout(60_000) }),
          ),
        )
        stop.push(await timed(() => contexts.remove(id)))
      }
      const where = pool ? 'warm pool' : 'kernel started on the spot'
      rows.push(summarize(`create context (${where}), uids ${mode}`, create))
      if (!pool) {
        // tslab under another uid: a few, it takes seconds each.
        const js: number[] = []
        for (let i = 0; i < Math.min(n, 3); i++) {
          let id = ''
          const body = { type: 'jupyter', language: 'javascript' } as const
          js.push(await timed(async () => (id = (await contexts.create(body)).context_id)))
          await contexts.remove(id)
        }
        rows.push(summarize(`create JavaScript context (kernel on the spot), uids ${mode}`, js))
      }
      if (pool) {
        rows.push(summarize(`first execute 1+1, uids ${mode}`, execute))
        rows.push(summarize(`stop context, uids ${mode}`, stop))
      }
    } finally {
      await sandbox.close()
    }
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 20)
  const rows = [...(await measure('off', n)), ...(await measure('on', n))]
  process.stdout.write(`## Kernel uids\n\n${table(rows)}\n`)
}

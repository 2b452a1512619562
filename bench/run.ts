/**
 * `npm run bench`: every benchmark, printed as one Markdown table per area. Not a test: numbers
 * depend on the machine; read them side by side.
 */
import { benchSandbox } from './sandbox.js'
import { table } from './stats.js'

const n = Number(process.env.BENCH_N ?? 500)
console.error(`sandbox latency (n=${n}) …`)
process.stdout.write(`## Sandbox\n\n${table(await benchSandbox(n))}\n`)
process.exit(0)

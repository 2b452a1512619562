/**
 * `npm run bench`: every benchmark, printed as one Markdown table per area. Not a test: numbers
 * depend on the machine; read them side by side. BENCH_N sets the samples per latency row.
 */
import { benchBurst } from './burst.js'
import { evalTable, measureEval } from './eval.js'
import { benchKernelStart } from './kernel-start.js'
import { benchMachine } from './machine.js'
import { benchMcp } from './mcp.js'
import { benchSandbox } from './sandbox.js'
import { table } from './stats.js'
import { benchTslabStart } from './tslab-start.js'

const n = Number(process.env.BENCH_N ?? 500)
console.error('machine: page faults, a bare interpreter …')
process.stdout.write(`## Machine\n\n${table(benchMachine())}\n\n`)
console.error(`sandbox latency (n=${n}) …`)
process.stdout.write(`## Sandbox\n\n${table(await benchSandbox(n))}\n\n`)
console.error('Python kernel start, spare vs template vs cold …')
process.stdout.write(`## Kernel start\n\n${table(await benchKernelStart(Math.min(n, 40)))}\n\n`)
console.error('JavaScript kernel start …')
process.stdout.write(
  `## JavaScript kernel start\n\n${table(await benchTslabStart(Math.min(n, 10)))}\n\n`,
)
console.error('20 Python contexts created at once …')
process.stdout.write(`## Burst\n\n${table(await benchBurst(20, 5))}\n\n`)
console.error('MCP round trip …')
process.stdout.write(`## MCP\n\n${table(await benchMcp(n))}\n\n`)
console.error('CI evaluation throughput …')
process.stdout.write(`## CI evaluation\n\n${evalTable(await measureEval())}\n`)
process.exit(0)

/**
 * `npm run soak`: create → execute → delete, SOAK_CYCLES times (default 1000) against the real
 * service process, with a flood (A13) and a kernel crash (B1) mixed into 10% of the cycles each.
 * Every SOAK_EVERY cycles (default 100) it samples what would leak: service RSS and file
 * descriptors, kernel processes, live contexts and entries in the temp dir. Not a test: it prints
 * the table and the growth from the first sample to the last.
 */
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { SandboxApiError } from '../client/index.js'
import { descendants } from '../test/helpers/processes.js'
import { spawnService } from '../test/helpers/service.js'

const cycles = Number(process.env.SOAK_CYCLES ?? 1000)
const every = Number(process.env.SOAK_EVERY ?? 100)

const service = await spawnService({
  SANDBOX_MAX_OUTPUT_CHARS: '100000',
  SANDBOX_POOL_PYTHON: '2',
  SANDBOX_POOL_JAVASCRIPT: '0',
  SANDBOX_POOL_TYPESCRIPT: '0',
  LOG_LEVEL: 'warn',
})
const pid = service.child.pid ?? 0

type Sample = {
  cycle: number
  rssMiB: number
  fds: number
  kernels: number
  contexts: number
  tmp: number
  failures: number
}
const samples: Sample[] = []
let failures = 0

async function sample(cycle: number): Promise<void> {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
  samples.push({
    cycle,
    rssMiB: Math.round(rss),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    kernels: descendants(pid).filter((p) => /python_kernel|tslab_kernel/.test(p.cmdline)).length,
    contexts: (await service.client.listContexts()).total,
    tmp: readdirSync(os.tmpdir()).length,
    failures,
  })
  const last = samples.at(-1)
  process.stderr.write(`${JSON.stringify(last)}\n`)
}

/** The call's result, or undefined when the service answered with an error status. */
function answered<T>(call: Promise<T>): Promise<T | undefined> {
  return call.catch((error: unknown) => {
    if (error instanceof SandboxApiError && error.status !== undefined) return undefined
    throw error
  })
}

function codeFor(cycle: number): { code: string; timeout?: number } {
  if (cycle % 10 === 3) return { code: 'while True:\n    print("x" * 1000)', timeout: 2 }
  if (cycle % 10 === 7) return { code: 'import os; os._exit(1)' }
  return { code: '1+1' }
}

try {
  await sample(0)
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const created = await answered(service.client.createContext({}))
    if (created === undefined) {
      failures += 1
      continue
    }
    if ((await answered(service.client.execute(created.context_id, codeFor(cycle)))) === undefined)
      failures += 1
    if ((await answered(service.client.stopContext(created.context_id))) === undefined)
      failures += 1
    if (cycle % every === 0) await sample(cycle)
  }
} finally {
  service.child.kill('SIGTERM')
  await service.exited
}

const lines = [
  '| cycle | service RSS MiB | fds | kernel processes | contexts | temp entries | failures |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
]
for (const s of samples)
  lines.push(
    `| ${s.cycle} | ${s.rssMiB} | ${s.fds} | ${s.kernels} | ${s.contexts} | ${s.tmp} | ${s.failures} |`,
  )
const first = samples[1] ?? samples[0]
const last = samples.at(-1)
if (first && last) {
  lines.push(
    '',
    `growth from cycle ${first.cycle} to ${last.cycle}: RSS ${last.rssMiB - first.rssMiB} MiB, fds ${last.fds - first.fds}, temp entries ${last.tmp - first.tmp}`,
  )
}
process.stdout.write(`## Soak (${cycles} cycles)\n\n${lines.join('\n')}\n`)

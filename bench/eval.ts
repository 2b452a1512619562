/**
 * CI evaluation throughput: jobs per second through sandbox-eval's path (embedded sandbox, the
 * one-shot route: a one-shot run forked from the kernel template per job) at concurrency 1, 2, 4
 * and 8, on a trivial case and on a pandas case, side by side in one run with the floor of a fresh
 * `/usr/bin/python3 -c <same code>` process per job.
 * Each point also reports CPU seconds per job over the whole process tree (this process, the
 * Jupyter Server and every kernel or run), which bounds jobs/s on a machine of N cores at N / CPU,
 * and how it splits between the service (this process and its helpers, the uid reaper included),
 * the Jupyter Server and the kernels (the kernel template and every kernel and run it forked).
 *
 * Rates are steady state: the clock starts when the first `concurrency` jobs have finished, and
 * the sandbox has its templates ready (the stdlib one, which forks runs of stdlib-only code, is
 * started once the scientific one is: about 0.8 CPU-seconds, once per sandbox, not counted).
 *
 * Alone: `npx tsx bench/eval.ts` (BENCH_EVAL_N jobs per point, default 40; BENCH_EVAL_CONCURRENCY
 * and BENCH_EVAL_WORKLOAD, e.g. `1,8` and `trivial`, to measure some points only).
 * From bench/run.ts: `table(await benchEval(n))`.
 */
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { startEmbeddedSandbox } from '../client/embedded.js'
import type { SandboxClient } from '../client/sandbox-client.js'
import { parseCases } from '../eval/cases.js'
import { embeddedDefaults, RETRY_LIMIT_MS } from '../eval/evaluate.js'
import { runAll } from '../eval/runner.js'
import { ProcessKernelRuntime } from '../sandbox/runtimes/process/runtime.js'
import type { KernelRuntime } from '../sandbox/runtimes/runtime.js'
import { descendants } from '../test/helpers/processes.js'
import { type Row, summarize } from './stats.js'

const WORKLOADS = [
  { name: 'trivial', code: 'print(1)', expected: '1' },
  {
    name: 'pandas',
    code: "import pandas as pd; print(pd.DataFrame({'a':[1,2]}).sum().a)",
    expected: '3',
  },
] as const
const CONCURRENCY = process.env.BENCH_EVAL_CONCURRENCY?.split(',').map(Number) ?? [1, 2, 4, 8]
/** The bare interpreter every floor is measured with: Debian's, which the kernels run on. */
export const PYTHON = '/usr/bin/python3'

/** One point of the table. */
export type EvalPoint = {
  workload: string
  concurrency: number
  sandbox: { jobsPerS: number; cpuPerJobS: number; cpuSplitMs: CpuSplit; latencyMs: number[] }
  floor: { jobsPerS: number; cpuPerJobS: number }
}

/** Measures every point: per concurrency, one embedded sandbox for both workloads, then the floor. */
export async function measureEval(n = 40): Promise<EvalPoint[]> {
  const points: EvalPoint[] = []
  for (const concurrency of CONCURRENCY) {
    // Exactly what sandbox-eval runs without --url (and without SANDBOX_* variables).
    const embedded = await startEmbeddedSandbox({
      env: {},
      defaults: embeddedDefaults(new Set(['python']), concurrency),
      retryLimitMs: RETRY_LIMIT_MS,
    })
    const { client, sandbox } = embedded
    try {
      await templatesReady(client, sandbox.runtime)
      for (const workload of WORKLOADS.filter(
        (w) => (process.env.BENCH_EVAL_WORKLOAD ?? w.name) === w.name,
      )) {
        await sandbox.pool.filled()
        const cases = Array.from({ length: n }, (_, i) =>
          JSON.stringify({
            id: `job-${i}`,
            code: workload.code,
            expected_stdout: workload.expected,
          }),
        ).join('\n')
        const finishedAt: number[] = []
        const latencyMs: number[] = []
        const cpu = startCpu()
        await runAll(parseCases(cases), {
          client,
          concurrency,
          signal: new AbortController().signal,
          onResult(result) {
            if (result.status !== 'pass')
              throw new Error(`bench job failed: ${JSON.stringify(result)}`)
            finishedAt.push(performance.now())
            latencyMs.push(result.time * 1000)
          },
        })
        // Count the CPU of what goes on after the answers (the last runs' cleanup, any pool refill
        // after a fallback to a kernel): from full pool to full pool.
        await sandbox.pool.filled()
        await new Promise((resolve) => setTimeout(resolve, 1000))
        const used = cpu()
        const sandboxPoint = {
          ...steadyRate(finishedAt, concurrency),
          cpuPerJobS: (used.service + used.jupyter + used.kernels) / n,
          cpuSplitMs: {
            service: (used.service * 1000) / n,
            jupyter: (used.jupyter * 1000) / n,
            kernels: (used.kernels * 1000) / n,
          },
          latencyMs,
        }
        points.push({
          workload: workload.name,
          concurrency,
          sandbox: sandboxPoint,
          floor: await floor(workload.code, concurrency, n),
        })
        console.error(`eval bench: ${workload.name} c=${concurrency} done`)
      }
    } finally {
      await embedded.close()
    }
  }
  return points
}

/**
 * The bench as rows of bench/stats.ts (per-job latency in ms), jobs/s and CPU/job in the name.
 * @param n - jobs per point
 */
export async function benchEval(n = 40): Promise<Row[]> {
  return (await measureEval(n)).map((point) => {
    const { sandbox, floor: base } = point
    const name = `eval ${point.workload} c=${point.concurrency}: ${sandbox.jobsPerS.toFixed(2)} jobs/s (${sandbox.cpuPerJobS.toFixed(2)} CPU s/job); python3 -c floor ${base.jobsPerS.toFixed(1)} jobs/s (${base.cpuPerJobS.toFixed(3)} CPU s/job)`
    return summarize(name, sandbox.latencyMs)
  })
}

/** A Markdown table of the points, sandbox and floor side by side. */
export function evalTable(points: EvalPoint[]): string {
  const lines = [
    '| workload | concurrency | sandbox jobs/s | sandbox CPU s/job | CPU ms/job: service / Jupyter / kernels | job p50 ms | job p95 ms | `python3 -c` jobs/s | `python3 -c` CPU s/job |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const { workload, concurrency, sandbox, floor: base } of points) {
    const { p50, p95 } = summarize(workload, sandbox.latencyMs)
    const split = [
      sandbox.cpuSplitMs.service,
      sandbox.cpuSplitMs.jupyter,
      sandbox.cpuSplitMs.kernels,
    ]
    lines.push(
      `| ${workload} | ${concurrency} | ${sandbox.jobsPerS.toFixed(2)} | ${sandbox.cpuPerJobS.toFixed(2)} | ${split.map((ms) => ms.toFixed(0)).join(' / ')} | ${p50.toFixed(0)} | ${p95.toFixed(0)} | ${base.jobsPerS.toFixed(1)} | ${base.cpuPerJobS.toFixed(3)} |`,
    )
  }
  return lines.join('\n')
}

/** Waits until a run of stdlib-only code forks from the stdlib template (when templates are on). */
async function templatesReady(client: SandboxClient, runtime: KernelRuntime): Promise<void> {
  if (!(runtime instanceof ProcessKernelRuntime)) return
  const deadline = Date.now() + 60_000
  for (;;) {
    const { templatePid, stdlibTemplatePid } = (await runtime.kernelStarts()) ?? {}
    if (templatePid === undefined) return // templates off (SANDBOX_KERNEL_TEMPLATE)
    const run = await client.runOnce({ code: 'import os\nprint(os.getppid())' })
    if (stdlibTemplatePid !== undefined && Number(run.output.stdout) === stdlibTemplatePid) return
    if (Date.now() > deadline) throw new Error('the stdlib kernel template did not start')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Jobs/s from completion times, after the first `skip` completions (the warm pool's burst). */
function steadyRate(finishedAt: number[], skip: number): { jobsPerS: number } {
  const from = finishedAt[skip - 1] ?? Number.NaN
  const to = finishedAt[finishedAt.length - 1] ?? Number.NaN
  return { jobsPerS: ((finishedAt.length - skip) * 1000) / (to - from) }
}

const execFileAsync = promisify(execFile)

/** The floor: `n` fresh `python3 -c code` processes, `concurrency` at a time. */
async function floor(code: string, concurrency: number, n: number) {
  const finishedAt: number[] = []
  const cpu = startCpu()
  let next = 0
  const worker = async () => {
    while (next++ < n) {
      await execFileAsync(PYTHON, ['-c', code])
      finishedAt.push(performance.now())
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const used = cpu()
  return {
    ...steadyRate(finishedAt, concurrency),
    cpuPerJobS: (used.service + used.jupyter + used.kernels) / n,
  }
}

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())

/** CPU seconds of the service (this process and its helpers), the Jupyter Server and the kernels. */
type CpuSplit = { service: number; jupyter: number; kernels: number }

function component(cmdline: string): keyof CpuSplit {
  if (cmdline.includes('jupyter_server')) return 'jupyter'
  if (/kernel_template|python_kernel|sci_one_shot|tslab/.test(cmdline)) return 'kernels'
  return 'service'
}

/**
 * CPU seconds used by this process and everything below it, exited children included (a waited-for
 * child's time moves into its parent's cutime/cstime, so nothing is counted twice; a forked kernel's
 * goes to the kernel template).
 * @returns a function giving the CPU seconds spent since the call, per component
 */
function startCpu(): () => CpuSplit {
  const total = (): CpuSplit => {
    const split = { service: cpuTicks(process.pid), jupyter: 0, kernels: 0 }
    for (const proc of descendants(process.pid))
      split[component(proc.cmdline)] += cpuTicks(proc.pid)
    return split
  }
  const before = total()
  return () => {
    const after = total()
    return {
      service: (after.service - before.service) / TICKS_PER_S,
      jupyter: (after.jupyter - before.jupyter) / TICKS_PER_S,
      kernels: (after.kernels - before.kernels) / TICKS_PER_S,
    }
  }
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After the parenthesised name: state is field 3; utime, stime, cutime, cstime are 14–17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0)
  } catch {
    return 0 // exited meanwhile; its time is now its parent's
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.env.BENCH_EVAL_N ?? 40)
  process.stdout.write(`${evalTable(await measureEval(n))}\n`)
  process.exit(0)
}

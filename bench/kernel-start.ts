/**
 * Python kernel start, a spare kernel of the template's vs forked from the template vs started
 * cold, side by side in one run:
 * from Jupyter's start request (POST /api/kernels) to the kernel's kernel_info reply over its
 * WebSocket (what JupyterKernel.start waits for), the unique memory of an idle kernel (USS and PSS
 * from /proc/<pid>/smaps_rollup), and `1+1` through the Jupyter WebSocket. Run alone with
 * `npx tsx bench/kernel-start.ts` (BENCH_N starts per path, default 40).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { KernelAPI } from '@jupyterlab/services'
import { loadConfig } from '../sandbox/config.js'
import { KERNEL_SPEC } from '../sandbox/jupyter/kernelspecs.js'
import { JupyterServer } from '../sandbox/jupyter/server.js'
import { createLogger } from '../sandbox/logger.js'
import { descendants } from '../test/helpers/processes.js'
import { startPythonKernel } from './sandbox.js'
import { type Row, summarize, table } from './stats.js'

const log = createLogger('warn')
const config = loadConfig({ LOG_LEVEL: 'warn' })

/** Unique (private) and proportional memory of a process, in MiB. */
async function memoryMiB(pid: number): Promise<{ uss: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1])
  return {
    uss: (kib('Private_Clean') + kib('Private_Dirty')) / 1024,
    pss: kib('Pss') / 1024,
  }
}

/** CPU time of a process's main thread so far, in ms: load-independent, unlike wall time. */
export async function cpuMs(pid: number): Promise<number> {
  const [runNs] = (await readFile(`/proc/${pid}/schedstat`, 'utf8')).split(' ')
  return Number(runNs) / 1e6
}

/**
 * CPU time a process has used so far, all its threads, in ms: a kernel spends part of its start on
 * helper threads (ZMQ's, IOPub's; V8's for Node), which its main thread's schedstat leaves out.
 */
export async function allThreadsCpuMs(pid: number): Promise<number> {
  let total = 0
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8').catch(() => '0')
    total += Number(stat.split(' ')[0]) / 1e6
  }
  return total
}

/** The pid of a kernel the server started (its command line names its connection file). */
export function kernelPid(serverPid: number, kernelId: string): number {
  const found = descendants(serverPid).find((p) => p.cmdline.includes(kernelId))
  if (!found) throw new Error(`no process for kernel ${kernelId}`)
  return found.pid
}

const median = (values: number[]) => summarize('', values).p50

/**
 * How a server starts its Python kernels: the template's spare (readied before the request), a
 * fork of the template on request, or a new interpreter.
 */
type StartPath = 'spare' | 'template' | 'cold'

/** Starts `n` kernels one after another on one server; returns the rows of one path. */
async function measure(name: StartPath, n: number, executes: number): Promise<Row[]> {
  const template = name !== 'cold'
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'sci-bench-start-'))
  const server = await JupyterServer.start({
    python: config.python,
    runDir,
    rootDir: runDir,
    startupTimeoutMs: 60_000,
    kernelMemoryMb: config.kernelMemoryMb,
    kernelMaxOutputChars: config.maxOutputChars * 2,
    kernelTemplate: template,
    kernelSpares: name === 'spare',
    log,
    onUnexpectedExit: () => {},
  })
  const start = () => startPythonKernel(server, log)
  try {
    // The first start waits for the template's imports (or warms the page cache): not counted.
    await (await start()).shutdown()
    const starts: number[] = []
    const cpu: number[] = []
    const uss: number[] = []
    const pss: number[] = []
    const serverCpu: number[] = []
    for (let i = 0; i < n; i++) {
      const serverBefore = await allThreadsCpuMs(server.pid ?? 0)
      const started = performance.now()
      const kernel = await start()
      starts.push(performance.now() - started)
      serverCpu.push((await allThreadsCpuMs(server.pid ?? 0)) - serverBefore)
      const pid = kernelPid(server.pid ?? 0, kernel.id)
      cpu.push(await allThreadsCpuMs(pid))
      // Idle, as a warm-pool kernel waits: after its first answer has settled.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const memory = await memoryMiB(pid)
      uss.push(memory.uss)
      pss.push(memory.pss)
      await kernel.shutdown()
    }
    // The start request alone: Jupyter Server answers it once the provisioner has launched the
    // kernel, before the kernel is ready.
    const posts: number[] = []
    for (let i = 0; template && i < n; i++) {
      const started = performance.now()
      const model = await KernelAPI.startNew({ name: KERNEL_SPEC.python }, server.settings)
      posts.push(performance.now() - started)
      await (await start()).shutdown() // a ready kernel in between: this one's start is over
      await KernelAPI.shutdownKernel(model.id, server.settings)
    }
    const kernel = await start()
    const rounds: number[] = []
    try {
      for (let i = 0; i < executes + 50; i++) {
        const started = performance.now()
        await kernel.execute('1+1', () => {})
        if (i >= 50) rounds.push(performance.now() - started)
      }
    } finally {
      await kernel.shutdown()
    }
    const stats = await server.kernelStarts()
    console.error(`${name}: starts by path ${JSON.stringify(stats)}`)
    return [
      summarize(`python kernel start → ready, ${name}`, starts),
      summarize(`kernel process CPU ms until ready, ${name}`, cpu),
      summarize(`Jupyter Server CPU ms per start, ${name}`, serverCpu),
      ...(template ? [summarize(`POST /api/kernels → 201, ${name}`, posts)] : []),
      { name: `idle kernel USS MiB (median), ${name}`, p50: median(uss), p95: Number.NaN, n },
      { name: `idle kernel PSS MiB (median), ${name}`, p50: median(pss), p95: Number.NaN, n },
      summarize(`execute 1+1 Jupyter WebSocket, ${name}`, rounds),
    ]
  } finally {
    await server.close()
    await rm(runDir, { recursive: true, force: true })
  }
}

/** Every row, of each path. */
export async function benchKernelStart(n = 40, executes = 200): Promise<Row[]> {
  const rows: Row[] = []
  for (const path of ['spare', 'template', 'cold'] as const) {
    rows.push(...(await measure(path, n, executes)))
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 40)
  process.stdout.write(`## Kernel start\n\n${table(await benchKernelStart(n))}\n`)
  process.exit(0)
}

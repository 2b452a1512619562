/**
 * JavaScript (tslab) kernel start. Through Jupyter: from the start request (POST /api/kernels) to
 * the kernel_info reply (what JupyterKernel.start waits for), the CPU time of the kernel process
 * until then (/proc/<pid>/schedstat), and where the time goes, from the kernel's start phases
 * (tslab_start.cjs: each phase's wall and CPU ms since the one before). Then the compile-cache
 * experiment, side by side in one run: the launcher started directly with the kernel's flags, up
 * to its first TypeScript program (the converter phase), with TypeScript compiled from source or
 * from V8 code cache (tslab-code-cache.cjs). Run alone with `npx tsx bench/tslab-start.ts`
 * (BENCH_N starts per row, default 10).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { loadConfig } from '../sandbox/config.js'
import { JupyterKernel } from '../sandbox/jupyter/kernel.js'
import { KERNEL_SPEC, kernelSpecs } from '../sandbox/jupyter/kernelspecs.js'
import { freePort, JupyterServer } from '../sandbox/jupyter/server.js'
import { allThreadsCpuMs, cpuMs, kernelPid } from './kernel-start.js'
import { type Row, summarize, table } from './stats.js'

const config = loadConfig({ LOG_LEVEL: 'warn' })
const PHASES = ['node', 'zeromq', 'typescript', 'tslab', 'bound', 'links', 'converter', 'ready']
const CACHE_PRELOAD = path.join(import.meta.dirname, 'tslab-code-cache.cjs')

type Phase = { kernel: string; phase: string; ms: number; cpu: number }

/** A logger at debug whose tslab start phases land in `phases`. */
function phaseLogger(phases: Phase[]) {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      const entry = JSON.parse(String(chunk))
      if (entry.phase && entry.kernel) {
        phases.push({ ...entry, ms: Number(entry.ms), cpu: Number(entry.cpu) })
      }
      done()
    },
  })
  return pino({ level: 'debug' }, sink)
}

/** Per phase, its wall and CPU ms since the phase before, over every kernel. */
function phaseRows(phases: Phase[], kernels: string[]): Row[] {
  const rows: Row[] = []
  for (const [i, name] of PHASES.entries()) {
    const wall: number[] = []
    const cpu: number[] = []
    for (const kernel of kernels) {
      const of = (phase: string | undefined) =>
        phases.find((p) => p.kernel === kernel && p.phase === phase)
      const at = of(name)
      const before = of(PHASES[i - 1])
      if (!at) continue
      wall.push(at.ms - (before?.ms ?? 0))
      cpu.push(at.cpu - (before?.cpu ?? 0))
    }
    const what = i === 0 ? 'process start → node' : `${PHASES[i - 1]} → ${name}`
    rows.push(summarize(`phase ${what}, wall`, wall), summarize(`phase ${what}, CPU`, cpu))
  }
  return rows
}

/** `n` JavaScript kernel starts one after another through a Jupyter Server. */
async function throughJupyter(n: number): Promise<Row[]> {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'sci-bench-tslab-'))
  const phases: Phase[] = []
  const log = phaseLogger(phases)
  const server = await JupyterServer.start({
    python: config.python,
    runDir,
    rootDir: runDir,
    startupTimeoutMs: 60_000,
    kernelMemoryMb: config.kernelMemoryMb,
    kernelMaxOutputChars: config.maxOutputChars,
    log,
    onUnexpectedExit: () => {},
  })
  const start = () =>
    JupyterKernel.start({
      language: 'javascript',
      spec: KERNEL_SPEC.javascript,
      settings: server.settings,
      log,
      signal: AbortSignal.timeout(120_000),
    })
  try {
    // The first start warms the page cache: not counted.
    await (await start()).shutdown()
    const wall: number[] = []
    const mainThread: number[] = []
    const cpu: number[] = []
    const kernels: string[] = []
    for (let i = 0; i < n; i++) {
      const started = performance.now()
      const kernel = await start()
      wall.push(performance.now() - started)
      const pid = kernelPid(server.pid ?? 0, kernel.id)
      mainThread.push(await cpuMs(pid))
      cpu.push(await allThreadsCpuMs(pid))
      kernels.push(kernel.id)
      await kernel.shutdown()
    }
    return [
      summarize('javascript kernel start → ready (Jupyter)', wall),
      summarize('kernel process CPU ms until ready, main thread (schedstat)', mainThread),
      summarize('kernel process CPU ms until ready, all threads', cpu),
      ...phaseRows(phases, kernels),
    ]
  } finally {
    await server.close()
    await rm(runDir, { recursive: true, force: true })
  }
}

/**
 * Starts the launcher directly, as the kernelspec does, and resolves with its converter phase
 * (all of the start but binding and the first reply), then kills it.
 */
async function launchToConverter(
  argv: string[],
  dir: string,
  env: Record<string, string>,
): Promise<Phase> {
  const connectionFile = path.join(dir, 'kernel-bench.json')
  const ports = Object.fromEntries(
    await Promise.all(
      ['shell', 'iopub', 'stdin', 'control', 'hb'].map(async (name) => [
        `${name}_port`,
        await freePort(),
      ]),
    ),
  )
  const info = { ...ports, ip: '127.0.0.1', transport: 'tcp', key: 'bench' }
  await writeFile(connectionFile, JSON.stringify({ ...info, signature_scheme: 'hmac-sha256' }))
  const [command, ...args] = argv.map((arg) => arg.replace('{connection_file}', connectionFile))
  const child = spawn(command ?? process.execPath, args, {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  try {
    return await new Promise<Phase>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
        if (stderr.includes('sci-bench-ts-cache rejected')) reject(new Error('cache rejected'))
        const line = /sci-tslab-start kernel=\S+ phase=converter ms=(\d+) cpu=(\d+)/.exec(stderr)
        if (line)
          resolve({ kernel: '', phase: 'converter', ms: Number(line[1]), cpu: Number(line[2]) })
      })
      child.once('exit', (code) => reject(new Error(`launcher exited ${code}: ${stderr}`)))
    })
  } finally {
    child.kill('SIGKILL')
  }
}

/** The compile-cache experiment: `n` starts each way, alternating. */
async function compileCache(n: number): Promise<Row[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-bench-ts-cache-'))
  const spec = kernelSpecs(config.python, config.kernelMemoryMb, 0)[KERNEL_SPEC.javascript]
  const [node, ...rest] = spec?.argv ?? []
  const flags = rest.filter((arg) => arg.startsWith('--max-old-space-size'))
  const launcher = rest.filter((arg) => !flags.includes(arg))
  const cache = path.join(dir, 'typescript.cache')
  try {
    await new Promise<void>((resolve, reject) => {
      const writer = spawn(node ?? process.execPath, [...flags, CACHE_PRELOAD, 'write', cache], {
        stdio: 'inherit',
      })
      writer.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${code}`))))
    })
    const plain = [node ?? process.execPath, ...flags, ...launcher]
    const cached = [node ?? process.execPath, ...flags, '-r', CACHE_PRELOAD, ...launcher]
    const runs = { source: [] as Phase[], cache: [] as Phase[] }
    await launchToConverter(plain, dir, {}) // page cache
    for (let i = 0; i < n; i++) {
      runs.source.push(await launchToConverter(plain, dir, {}))
      runs.cache.push(await launchToConverter(cached, dir, { SCI_BENCH_TS_CACHE: cache }))
    }
    return Object.entries(runs).flatMap(([way, phases]) => [
      summarize(
        `launcher start → converter, TypeScript from ${way}, wall`,
        phases.map((p) => p.ms),
      ),
      summarize(
        `launcher start → converter, TypeScript from ${way}, CPU`,
        phases.map((p) => p.cpu),
      ),
    ])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Every row: starts through Jupyter with their phases, then the compile-cache experiment. */
export async function benchTslabStart(n = 10): Promise<Row[]> {
  return [...(await throughJupyter(n)), ...(await compileCache(n))]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 10)
  process.stdout.write(`## JavaScript kernel start\n\n${table(await benchTslabStart(n))}\n`)
  process.exit(0)
}

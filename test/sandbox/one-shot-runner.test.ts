/**
 * One-shot Python runs through a runner the kernel template forks (process runtime), against a
 * real Jupyter Server, template and kernels: the same results as a context, the same limits, no
 * process or file left behind, the fallback to a context's kernel when the template is down or
 * off, no way from a run to the template, and runs without kernel uids.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExecutionEvent, ExecutionResult } from '../../sandbox/api.js'
import { loadConfig } from '../../sandbox/config.js'
import type { ProcessKernelRuntime } from '../../sandbox/runtimes/process/runtime.js'
import { descendants, isAlive, until } from '../helpers/processes.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

const MAX_OUTPUT_CHARS = 100_000

let s: RunningSandbox

beforeAll(async () => {
  s = await startSandbox({
    kernelTemplate: true,
    kernelMemoryMb: 1024,
    interruptGraceMs: 1000,
    maxOutputChars: MAX_OUTPUT_CHARS,
    poolSize: { python: 1, javascript: 0, typescript: 0 },
  })
})
afterAll(() => s?.close())

const once = (code: string, timeout?: number) => s.client.runOnce({ code, timeout })
const exploit = (file: string) => readFileSync(path.resolve('test/exploits', file), 'utf8')

/** One-shot runs per path so far, from /metrics. */
const runs = async () => {
  const text = await (await fetch(`${s.baseUrl}/metrics`)).text()
  const count = (p: string) =>
    Number(new RegExp(`sandbox_one_shot_runs_total\\{path="${p}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
  return { runner: count('runner'), kernel: count('kernel') }
}

const templatePids = async () => {
  const starts = await (s.sandbox.runtime as ProcessKernelRuntime).kernelStarts()
  return { scientific: starts?.templatePid, stdlib: starts?.stdlibTemplatePid }
}

/** The pid of the template that forked the run of `code`. */
const forkedBy = async (code: string) =>
  Number((await once(`${code}\nimport os\nprint(os.getppid())`)).output.stdout.trim())

/**
 * Waits for the stdlib template: it starts once the scientific one is ready; until then, the
 * scientific one serves stdlib-only runs.
 */
const stdlibTemplateReady = () =>
  until(async () => (await forkedBy('')) === (await templatePids()).stdlib, 30_000)

/** A result without what differs between two runs of the same code: timings and counts. */
const comparable = ({ execution_time, execution_count, ...rest }: ExecutionResult) =>
  JSON.parse(JSON.stringify(rest).replace(/In ?\[\d+\]/g, 'In[N]'))

describe('one-shot runner', () => {
  it('runs Python in a forked runner, not a kernel', async () => {
    const before = await runs()
    expect((await once('print(6 * 7)')).output.stdout).toBe('42\n')
    expect(await runs()).toEqual({ runner: before.runner + 1, kernel: before.kernel })
    expect((await s.client.listContexts()).total).toBe(0)
  })

  it('gives the same results as a context, but for timings and counts', async () => {
    const cells = [
      'import sys\nprint("out")\nprint("err", file=sys.stderr)\n{"answer": 6 * 7}',
      'from IPython.display import HTML, display\ndisplay(HTML("<b>bold</b>"))\nprint("after")',
      'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()',
      'def f():\n    return 1 / 0\n\nf()',
      'import sys\nsys.stderr.write("warning\\n")',
      '%%bash\necho "$((6 * 7))" from bash',
      '!echo bang',
      exploit('c09-stdin.py'),
    ]
    const id = (await s.client.createContext({ language: 'python' })).context_id
    for (const code of cells) {
      const inContext = await s.client.execute(id, { code })
      const oneShot = await once(code)
      expect(comparable(oneShot), code).toEqual(comparable(inContext))
    }
    await s.client.stopContext(id)
    const figure = await once(cells[2] ?? '')
    expect(figure.results[0]?.['image/png']).toMatch(/^iVBOR/)
    expect((await once(cells[3] ?? '')).error?.traceback).toContain('ZeroDivisionError')
    expect((await once(cells[7] ?? '')).error?.name).toBe('StdinNotImplementedError')
    // The figure as its JSON, not the 8.6 MB of plotly.js first (sci_rich_output.py); its HTML
    // has a random id, so it is not in the list above.
    const plotly = await once('import plotly.graph_objects as go\ngo.Figure(go.Bar(y=[1, 3, 2]))')
    expect(plotly.output.truncated).toBe(false)
    expect(Object.keys(plotly.results[0] ?? {})).toContain('application/vnd.plotly.v1+json')
  })

  it('streams output as it comes (SSE), then the result', async () => {
    const events: ExecutionEvent[] = []
    const result = await s.client.runOnce(
      { code: 'import time\nprint("a", flush=True)\ntime.sleep(0.2)\nprint("b")' },
      { onEvent: (event) => void events.push(event) },
    )
    expect(events).toEqual([
      { type: 'stdout', text: 'a\n' },
      { type: 'stdout', text: 'b\n' },
    ])
    expect(result.output.stdout).toBe('a\nb\n')
  })

  it('stops a run past its timeout, keeps its output, and runs the next one', async () => {
    const result = await once('print("before", flush=True)\nwhile True:\n    pass', 1)
    expect(result.success).toBe(false)
    expect(result.error?.code).toBe('EXECUTION_TIMEOUT')
    expect(result.error?.value).toContain('the run was stopped')
    expect(result.output.stdout).toBe('before\n')
    expect(result.context_restarted).toBe(false)
    expect((await once('print("next")')).output.stdout).toBe('next\n')
  })

  it('kills a run that swallows the interrupt once the grace is over', async () => {
    const swallow =
      'while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass'
    for (const code of [swallow, exploit('a02-swallow-interrupt.py')]) {
      const result = await once(code, 1)
      expect(result.error?.code, code).toBe('EXECUTION_TIMEOUT')
    }
  })

  it('keeps the memory cap: growing and giant allocations raise MemoryError', async () => {
    for (const file of ['a05-memory-bomb.py', 'a06-giant-allocation.py']) {
      const result = await once(exploit(file), 30)
      expect(result.error?.name, file).toBe('MemoryError')
    }
  })

  it('reports a runner that exits under the code as EXECUTION_FAILED', async () => {
    const result = await once('print("last words", flush=True)\nimport os\nos._exit(3)')
    expect(result.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_died' })
    expect(result.error?.value).toContain('exited with status 3')
    expect(result.output.stdout).toBe('last words\n')
    expect(result.context_restarted).toBe(false)
  })

  it('cuts a stdout flood as a context does', async () => {
    const result = await once(exploit('a13-stdout-flood.py'), 3)
    expect(result.error?.code).toBe('EXECUTION_TIMEOUT')
    expect(result.output.truncated).toBe(true)
    expect(result.output.stdout.length).toBeLessThan(MAX_OUTPUT_CHARS + 500)
    expect(result.output.stdout).toContain('characters of stdout truncated')
  })

  it('leaves no process of a run behind, nor its files, nor its state', async () => {
    const started = await once(
      'import subprocess\np = subprocess.Popen(["sleep", "100"])\nprint(p.pid)\nleak = 1\nopen("left.txt", "w").write("x")',
    )
    const child = Number(started.output.stdout)
    expect(child).toBeGreaterThan(0)
    await until(() => !isAlive(child))
    const next = await once('import os\nprint(os.path.exists("left.txt"))\nleak')
    expect(next.output.stdout).toBe('False\n')
    expect(next.error?.name).toBe('NameError')
  })

  it('hands stdlib-only code to a spare run forked ahead, a new process each time', async () => {
    // The run's pid, parent and age in seconds (from its start time in /proc).
    const code = [
      'import os',
      'start = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])',
      'uptime = float(open("/proc/uptime").read().split()[0])',
      'print(os.getpid(), os.getppid(), uptime - start / os.sysconf("SC_CLK_TCK"))',
    ].join('\n')
    const run = async () => (await once(code)).output.stdout.trim().split(' ').map(Number)
    await stdlibTemplateReady()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const [pid, parent, age] = await run()
    expect(parent).toBe((await templatePids()).stdlib)
    expect(age).toBeGreaterThan(0.5)
    const [next] = await run()
    expect(next).not.toBe(pid)
  })

  it('seeds random (and numpy) afresh in every run of either template', async () => {
    for (const code of [
      'import random\nprint(random.getrandbits(64))',
      'import random, numpy\nprint(random.getrandbits(64), numpy.random.randint(1 << 30))',
    ]) {
      const [first, second] = (await Promise.all([once(code), once(code)])).map((result) =>
        result.output.stdout.trim().split(' '),
      )
      expect(first?.[0]).toMatch(/^\d+$/)
      for (const [i, value] of (first ?? []).entries()) expect(value).not.toBe(second?.[i])
    }
  })

  it('reads on after a run whose escaped process holds its output, without spinning the server', async () => {
    const server = descendants(process.pid).find((p) => p.cmdline.includes('jupyter_server'))?.pid
    const cpuMs = () =>
      Number(readFileSync(`/proc/${server}/schedstat`, 'utf8').split(' ')[0]) / 1e6
    await once('pass') // the templates are up
    const before = cpuMs()
    const started = performance.now()
    // The run exits at once; a process it left outside its group keeps the run's socket open, so
    // the server reads on for a second (sci_runs.py, DRAIN_S) before it answers.
    const result = await once(
      'import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(5)\n    os._exit(0)\nprint("done")',
    )
    const wall = performance.now() - started
    expect(result.output.stdout).toBe('done\n')
    expect(wall).toBeGreaterThanOrEqual(1000)
    // The exited run's pidfd stays readable: still watched, it woke the loop at every turn.
    expect(cpuMs() - before).toBeLessThan(wall / 4)
  })

  it('kills the run when the client goes away', async () => {
    const controller = new AbortController()
    let pid = 0
    const running = s.client.runOnce(
      { code: 'import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(100)' },
      {
        signal: controller.signal,
        onEvent: (event) => {
          if (event.type !== 'stdout') return
          pid = Number(event.text)
          controller.abort()
        },
      },
    )
    await expect(running).rejects.toThrow()
    expect(pid).toBeGreaterThan(0)
    await until(() => !isAlive(pid))
  })

  it('forks stdlib-only code from the stdlib template, other code from the scientific one', async () => {
    await stdlibTemplateReady()
    const { scientific, stdlib } = await templatePids()
    expect(scientific).not.toBe(stdlib)
    expect(await forkedBy('import json, os.path\nfrom collections import Counter')).toBe(stdlib)
    expect(await forkedBy('import pandas')).toBe(scientific)
    expect(await forkedBy('def f():\n    import numpy')).toBe(scientific)
    expect(await forkedBy('!true')).toBe(scientific) // IPython syntax
    // The stdlib template has not imported the scientific stack; a run may still import it.
    const imported = await once(
      'import sys\nprint("numpy" in sys.modules)\nimport importlib\nprint(importlib.import_module("numpy").arange(3).sum())',
    )
    expect(imported.output.stdout).toBe('False\n3\n')
  })

  it('copies into each run, in one go, the template pages that a rehearsal run wrote', async () => {
    const copied = async () =>
      (await (s.sandbox.runtime as ProcessKernelRuntime).kernelStarts())?.copiedKib
    await until(async () => (await copied())?.stdlib !== undefined, 30_000)
    // Both templates rehearsed a run of print(1) (about 7 MiB copied here); the scientific one, which
    // also forks kernels, rehearsed a kernel's start. A failed rehearsal reports nothing copied.
    const { scientific, stdlib } = (await copied()) ?? {}
    expect(scientific?.run).toBeGreaterThan(1024)
    expect(stdlib?.run).toBeGreaterThan(1024)
    expect(scientific?.kernel).toBeGreaterThan(1024)
    expect(stdlib?.kernel).toBe(0)
    expect((await once('print(6 * 7)')).output.stdout).toBe('42\n')
    expect((await once('import pandas\nprint(6 * 7)')).output.stdout).toBe('42\n')
  })

  it('runs stdlib-only code from the scientific template while the stdlib one is down', async () => {
    const { scientific, stdlib } = await templatePids()
    if (stdlib === undefined) throw new Error('no stdlib template')
    const before = await runs()
    process.kill(stdlib, 'SIGKILL')
    await until(() => !isAlive(stdlib))
    expect(await forkedBy('x = "still"')).toBe(scientific)
    expect(await runs()).toEqual({ runner: before.runner + 1, kernel: before.kernel })
    // It is started again after a delay; runs of stdlib-only code fork from it again.
    await until(async () => ![undefined, stdlib].includes((await templatePids()).stdlib), 30_000)
    await until(async () => (await forkedBy('')) === (await templatePids()).stdlib, 30_000)
  })

  it('runs as a uid of its own that cannot signal either template', async () => {
    const { scientific, stdlib } = await templatePids()
    for (const template of [scientific, stdlib]) {
      expect(template).toBeGreaterThan(0)
      const result = await once(
        `import os\nprint(os.getuid())\nfor kill in (os.kill, os.killpg):\n    try:\n        kill(${template}, 9)\n    except PermissionError:\n        print("refused")`,
      )
      const [uid, ...refused] = result.output.stdout.trim().split('\n')
      expect(Number(uid)).toBeGreaterThan(0)
      expect(refused).toEqual(['refused', 'refused'])
      expect(isAlive(template ?? 0)).toBe(true)
    }
  })

  it('falls back to a context’s kernel while the templates are down', async () => {
    const { scientific, stdlib } = await templatePids()
    if (scientific === undefined || stdlib === undefined) throw new Error('no kernel template')
    const before = await runs()
    for (const pid of [scientific, stdlib]) process.kill(pid, 'SIGKILL')
    await until(() => !isAlive(scientific) && !isAlive(stdlib))
    expect((await once('print("still")')).output.stdout).toBe('still\n')
    expect((await runs()).kernel).toBe(before.kernel + 1)
    // Once a new template runs, runs fork from it again.
    await until(
      async () => ![undefined, scientific].includes((await templatePids()).scientific),
      30_000,
    )
    await until(async () => (await once('print(1)')) && (await runs()).runner > before.runner)
  })
  it('fails a run whose Jupyter Server dies under it, and runs the next on a new server', async () => {
    let pid = 0
    const result = await s.client.runOnce(
      { code: 'import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(100)' },
      {
        onEvent: (event) => {
          if (event.type !== 'stdout' || pid) return
          pid = Number(event.text)
          const server = descendants(process.pid).find((p) => p.cmdline.includes('jupyter_server'))
          process.kill(server?.pid ?? 0, 'SIGKILL')
        },
      },
    )
    expect(result.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_lost' })
    expect(result.output.stdout).toBe(`${pid}\n`)
    await until(() => !isAlive(pid))
    expect((await once('print("again")')).output.stdout).toBe('again\n')
  })
})

describe('one-shot runner without kernel uids (SANDBOX_KERNEL_UIDS=off)', () => {
  it('runs in a runner as the service’s uid, and kills what the run left in its group', async () => {
    await using off = await startSandbox({
      kernelTemplate: true,
      kernelUids: { ...loadConfig({}).kernelUids, mode: 'off' },
      poolSize: { python: 0, javascript: 0, typescript: 0 },
    })
    const result = await off.client.runOnce({
      code: 'import os, subprocess\np = subprocess.Popen(["sleep", "100"])\nprint(os.getuid(), p.pid)',
    })
    const [uid, child] = result.output.stdout.trim().split(' ').map(Number)
    expect(uid).toBe(process.getuid?.())
    await until(() => !isAlive(child ?? 0))
    const text = await (await fetch(`${off.baseUrl}/metrics`)).text()
    expect(text).toContain('sandbox_one_shot_runs_total{path="runner"} 1')
  })
})

describe('one-shot runs with the kernel template off (SANDBOX_KERNEL_TEMPLATE=0)', () => {
  it('runs Python in a fresh context’s kernel', async () => {
    await using off = await startSandbox({
      kernelTemplate: false,
      poolSize: { python: 0, javascript: 0, typescript: 0 },
    })
    expect((await off.client.runOnce({ code: 'print(6 * 7)' })).output.stdout).toBe('42\n')
    const text = await (await fetch(`${off.baseUrl}/metrics`)).text()
    expect(text).toContain('sandbox_one_shot_runs_total{path="kernel"} 1')
  })
})

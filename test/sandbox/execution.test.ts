import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { SandboxApiError } from '../../client/index.js'
import type { Language } from '../../sandbox/api.js'
import { descendants } from '../helpers/processes.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

async function create(language: Language = 'python'): Promise<string> {
  return (await s.client.createContext({ language })).context_id
}

function exec(id: string, code: string, extra: { timeout?: number } = {}) {
  return s.client.execute(id, { code, ...extra })
}

beforeAll(async () => {
  s = await startSandbox({ maxOutputChars: 20_000, interruptGraceMs: 1000, kernelMemoryMb: 1024 })
})
afterAll(() => s?.close())

describe('timeouts and interrupts', () => {
  it('interrupts a cell past its timeout, keeps partial output and the context state', async () => {
    const id = await create()
    await exec(id, 'x = 1')
    const result = await exec(id, 'import time\nprint("started", flush=True)\ntime.sleep(30)', {
      timeout: 1,
    })
    expect(result).toMatchObject({
      success: false,
      context_restarted: false,
      output: { stdout: 'started\n' },
      error: { name: 'EXECUTION_TIMEOUT', code: 'EXECUTION_TIMEOUT' },
    })
    expect((await exec(id, 'print(x)')).output.stdout).toBe('1\n')
  })

  it('interrupts a JavaScript busy loop', async () => {
    const id = await create('javascript')
    await exec(id, 'var kept = 7')
    const result = await exec(id, 'while (true) {}', { timeout: 1 })
    expect(result).toMatchObject({ success: false, error: { code: 'EXECUTION_TIMEOUT' } })
    expect((await exec(id, 'console.log(kept)')).output.stdout).toBe('7\n')
  })

  it('restarts a kernel that ignores the interrupt, and the context works after', async () => {
    const id = await create()
    const result = await exec(
      id,
      'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass',
      {
        timeout: 1,
      },
    )
    expect(result).toMatchObject({
      success: false,
      context_restarted: true,
      error: { code: 'EXECUTION_TIMEOUT' },
    })
    expect(result.error?.value).toContain('restarted')
    const after = await exec(id, 'import os\nprint(1 + 1, os.path.basename(os.getcwd()))')
    expect(after.output.stdout).toBe(`2 ${id}\n`)
    const body = await s.client.getContext(id)
    expect(body.status).toBe('active')
  })

  it('interrupts a running cell on request; interrupting an idle or unknown context', async () => {
    const id = await create()
    const running = exec(id, 'import time\ntime.sleep(60)')
    await new Promise((resolve) => setTimeout(resolve, 500))
    await s.client.interrupt(id)
    const result = await running
    expect(result.error?.name).toBe('KeyboardInterrupt')
    await s.client.interrupt(id)
    await expect(s.client.interrupt('ctx-nope')).rejects.toMatchObject({
      status: 404,
      code: 'CONTEXT_NOT_FOUND',
    })
  })

  it('restart clears state, and a cell running during the restart ends with an error', async () => {
    const id = await create()
    await exec(id, 'y = 5')
    const running = exec(id, 'import time\ntime.sleep(60)')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const restarted = await s.client.restart(id)
    expect(restarted.status).toBe('active')
    expect(await running).toMatchObject({
      success: false,
      context_restarted: true,
      error: { code: 'EXECUTION_FAILED' },
    })
    const after = await exec(id, 'print(y)')
    expect(after.error?.name).toBe('NameError')
    expect((await exec(id, 'import os; print(os.getcwd())')).output.stdout).toContain(id)
  })
})

describe('kernel death', () => {
  it.each([
    ['python', 'import os; os._exit(1)', 'z = 3', 'print(z)', 'print(1 + 1)'],
    ['javascript', 'process.exit(1)', 'var z = 3', 'console.log(z)', 'console.log(1 + 1)'],
  ] as const)(
    '%s: reports the death, restarts the kernel, and no other context notices',
    async (language, die, set, get, check) => {
      const victim = await create(language)
      const bystander = await create(language)
      await exec(bystander, set)
      const result = await exec(victim, die, { timeout: 30 })
      expect(result).toMatchObject({
        success: false,
        context_restarted: true,
        error: { name: 'EXECUTION_FAILED', code: 'EXECUTION_FAILED', reason: 'kernel_died' },
      })
      expect(result.execution_time).toBeLessThan(10)
      expect((await exec(victim, check)).output.stdout).toBe('2\n')
      expect((await exec(bystander, get)).output.stdout).toBe('3\n')
    },
  )
})

describe('delete after death', () => {
  it('deletes a context right after its kernel died, and the service stays up', async () => {
    for (const language of ['python', 'javascript'] as const) {
      const id = await create(language)
      const die = language === 'python' ? 'import os; os._exit(1)' : 'process.exit(1)'
      const kernelId: string = (s.sandbox.contexts as any).contexts.get(id).binding.kernel.id
      expect((await exec(id, die)).error?.reason).toBe('kernel_died')
      await s.client.stopContext(id)
      // The kernel Jupyter was restarting when the context went is shut down too, not leaked.
      const alive = () => descendants(process.pid).some((p) => p.cmdline.includes(kernelId))
      await vi.waitFor(
        () => expect(alive(), `${language} kernel process after DELETE`).toBe(false),
        { timeout: 10_000, interval: 100 },
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await s.client.health()
    expect((await exec(await create(), 'print(1)')).output.stdout).toBe('1\n')
  })
})

describe('crash loop', () => {
  it('gives up on a kernel that keeps dying, fails fast after, and recovers on restart', async () => {
    const id = await create()
    const bystander = await create()
    await exec(bystander, 'alive = "yes"')
    const reasons: string[] = []
    for (let i = 0; i < 8; i++) {
      try {
        const body = await s.client.execute(id, { code: 'import os; os._exit(1)' })
        reasons.push(String(body.error?.reason))
      } catch (error) {
        if (!(error instanceof SandboxApiError)) throw error
        reasons.push(`${error.status} ${error.code}`)
        if (error.status === 409) break
      }
    }
    expect(reasons.slice(0, 5)).toEqual(Array(5).fill('kernel_died'))
    expect(reasons).toContain('kernel_dead')
    expect(reasons.at(-1)).toBe('409 EXECUTION_FAILED')
    expect((await s.client.getContext(id)).status).toBe('error')
    expect((await s.client.restart(id)).status).toBe('active')
    expect((await exec(id, 'print(1)')).output.stdout).toBe('1\n')
    expect((await exec(bystander, 'print(alive)')).output.stdout).toBe('yes\n')
  })
})

describe('memory limits', () => {
  it('stops a Python memory bomb with a MemoryError; the kernel lives on', async () => {
    const id = await create()
    await exec(id, 'kept = 1')
    const bomb = await exec(id, 'a = []\nwhile True:\n    a.append(bytearray(50 * 1024 * 1024))')
    expect(bomb.error?.name).toBe('MemoryError')
    // At the limit even the kernel's own output thread cannot allocate: free the memory first.
    await exec(id, 'del a')
    expect((await exec(id, 'print(kept)')).output.stdout).toBe('1\n')
    expect((await exec(id, 'x = bytearray(64 * 1024**3)')).error?.name).toBe('MemoryError')
  })

  it('restarts a JavaScript kernel that runs out of heap', async () => {
    const id = await create('javascript')
    const bomb = await exec(id, 'const a = []\nwhile (true) a.push(new Array(1e6).fill(0))')
    expect(bomb).toMatchObject({
      success: false,
      context_restarted: true,
      error: { reason: 'kernel_died' },
    })
    expect((await exec(id, 'console.log(1 + 1)')).output.stdout).toBe('2\n')
  })
})

describe('output limits', () => {
  it('cuts a flood of output, marks it truncated and keeps its end', async () => {
    const id = await create()
    const result = await exec(id, 'for i in range(200_000):\n    print(i)')
    expect(result.success).toBe(true)
    expect(result.output.truncated).toBe(true)
    expect(result.output.truncated_chars).toBeGreaterThan(1_000_000)
    expect(result.output.stdout.length).toBeLessThanOrEqual(20_000 + 200)
    expect(result.output.stdout).toMatch(/^0\n1\n2\n/)
    expect(result.output.stdout).toContain('characters of stdout truncated')
    expect(result.output.stdout.endsWith('199999\n')).toBe(true)
    const next = await exec(id, 'print("clean")')
    expect(next.output).toEqual({
      stdout: 'clean\n',
      stderr: '',
      truncated: false,
      truncated_chars: 0,
    })
  })
})

describe('concurrency', () => {
  it('runs 10 contexts in parallel and queues 5 executes on one in arrival order', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => create()))
    const parallel = await Promise.all(
      ids.map((id, i) => exec(id, `import time; time.sleep(0.2); print(${i})`)),
    )
    expect(parallel.map((r) => r.output.stdout)).toEqual(ids.map((_, i) => `${i}\n`))

    const [first] = ids as [string]
    await exec(first, 'seen = []')
    const queued = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        exec(first, `import time; time.sleep(0.05); seen.append(${i}); print(seen)`),
      ),
    )
    expect(queued.map((r) => r.output.stdout)).toEqual([
      '[0]\n',
      '[0, 1]\n',
      '[0, 1, 2]\n',
      '[0, 1, 2, 3]\n',
      '[0, 1, 2, 3, 4]\n',
    ])
    await Promise.all(ids.map((id) => s.client.stopContext(id)))
  })
})

describe('debugpy', () => {
  it('the kernel starts without loading debugpy, and a cell can still import it', async () => {
    const id = await create()
    const result = await exec(
      id,
      'import sys\nprint("debugpy" in sys.modules)\nimport debugpy\nprint(debugpy.__name__)',
    )
    expect(result.output.stdout).toBe('False\ndebugpy\n')
  })
})

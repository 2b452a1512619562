/**
 * Issue 14's sandbox-side contract points, against real kernels over REST: tracebacks in stderr,
 * big figures, output attribution, JavaScript results like Python's, is_main_result, 404 for
 * unknown routes, non-empty context names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Language } from '../../sandbox/api.js'
import { errorOf, type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

async function create(language: Language = 'python'): Promise<string> {
  return (await s.client.createContext({ language })).context_id
}

function exec(id: string, code: string) {
  return s.client.execute(id, { code })
}

beforeAll(async () => {
  s = await startSandbox()
})
afterAll(() => s?.close())

// biome-ignore lint/suspicious/noControlCharactersInRegex: no ANSI escape may remain
const ANSI = /\u001b\[/

describe('tracebacks in stderr (point 4)', () => {
  it('Python: the traceback in stderr as plain text, and in error', async () => {
    const id = await create()
    const result = await exec(id, 'print("before")\n1/0')
    expect(result.success).toBe(false)
    expect(result.output.stdout).toBe('before\n')
    expect(result.error).toMatchObject({ name: 'ZeroDivisionError', value: 'division by zero' })
    expect(result.output.stderr).toContain('ZeroDivisionError: division by zero')
    expect(result.output.stderr).toContain('Traceback')
    expect(result.output.stderr).toBe(`${result.error?.traceback}\n`)
    expect(result.output.stderr).not.toMatch(ANSI)
  })

  it.each(['javascript', 'typescript'] as const)(
    '%s: a thrown error in stderr and in error',
    async (language) => {
      const id = await create(language)
      const result = await exec(id, 'throw new TypeError("bad input")')
      expect(result.error).toMatchObject({ name: 'TypeError', value: 'bad input' })
      expect(result.output.stderr).toContain('TypeError: bad input')
      expect(result.output.stderr).not.toMatch(ANSI)
    },
  )
})

describe('big figures (point 7)', () => {
  it('shrinks a figure over the image budget and says so', async () => {
    const id = await create()
    const result = await exec(
      id,
      [
        'import matplotlib.pyplot as plt, numpy as np',
        'rng = np.random.default_rng(0)',
        'plt.figure(figsize=(12, 12), dpi=150); plt.imshow(rng.random((800, 800))); plt.show()',
      ].join('\n'),
    )
    expect(result.success).toBe(true)
    expect(result.results).toHaveLength(1)
    const figure = result.results[0] ?? {}
    expect(typeof figure['image/png']).toBe('string')
    expect(String(figure['image/png']).length).toBeLessThanOrEqual(1 << 20)
    expect(figure['text/plain']).toMatch(/\[image\/png shrunk from \d+x\d+ px/)
  }, 60_000)

  it('drops an image it cannot shrink with a marker, never silently', async () => {
    const id = await create()
    // Not a decodable PNG: the kernel cannot shrink it, so the sandbox drops it past its budget.
    const result = await exec(
      id,
      'from IPython.display import display\ndisplay({"image/png": "A" * 3_000_000, "text/plain": "<big>"}, raw=True)',
    )
    expect(result.results).toHaveLength(1)
    expect(result.results[0]?.['image/png']).toBeUndefined()
    expect(result.results[0]?.['text/plain']).toMatch(
      /^<big>\n\[\.\.\. image\/png of 3000000 characters dropped: over the \d+-character image budget/,
    )
    expect(result.output).toMatchObject({ truncated: true, truncated_chars: 3_000_000 })
  })

  it('keeps images apart from the text budget', async () => {
    const id = await create()
    const result = await exec(
      id,
      'import matplotlib.pyplot as plt\nprint("x" * 900_000)\nplt.plot([1, 2]); plt.show()',
    )
    expect(result.output.stdout).toHaveLength(900_001)
    expect(typeof result.results[0]?.['image/png']).toBe('string')
  })
})

describe('output attribution (point 8)', () => {
  it('Python: a thread an earlier cell started does not print into the next cell', async () => {
    const id = await create()
    await exec(
      id,
      [
        'import threading, time',
        'def tick():',
        '    for _ in range(40):',
        '        print("tick", flush=True)',
        '        time.sleep(0.05)',
        'threading.Thread(target=tick, daemon=True).start()',
      ].join('\n'),
    )
    const later = await exec(id, 'import time\nprint("mine")\ntime.sleep(0.5)\nprint("still mine")')
    expect(later.output.stdout).toBe('mine\nstill mine\n')
  })

  it('Python: own threads, thread pools and tasks still print into their cell', async () => {
    const id = await create()
    await exec(
      id,
      'from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(2)',
    )
    const result = await exec(
      id,
      [
        'import threading, asyncio',
        't = threading.Thread(target=print, args=("thread",)); t.start(); t.join()',
        'pool.submit(print, "pool").result()',
        'await asyncio.create_task(asyncio.sleep(0, print("task")))',
      ].join('\n'),
    )
    expect(result.output.stdout).toBe('thread\npool\ntask\n')
  })

  it('JavaScript: a timer an earlier cell started does not print into the next cell', async () => {
    const id = await create('javascript')
    await exec(id, 'globalThis.timer = setInterval(() => console.log("tick"), 20)')
    const later = await exec(
      id,
      'console.log("mine"); await new Promise((r) => setTimeout(r, 300)); console.log("still mine")',
    )
    expect(later.output.stdout).toBe('mine\nstill mine\n')
    const own = await exec(
      id,
      'clearInterval(timer); await new Promise((r) => setTimeout(() => { console.log("own timer"); r(0) }, 10))',
    )
    expect(own.output.stdout).toBe('own timer\n')
  })
})

describe('JavaScript and TypeScript results like Python (points 9, 10)', () => {
  it.each(['javascript', 'typescript'] as const)(
    '%s: the last value is a main result with a count',
    async (language) => {
      const id = await create(language)
      await exec(id, 'const a = 20')
      const result = await exec(id, 'console.log("side")\na * 2 + 2')
      expect(result.output.stdout).toBe('side\n')
      expect(result.results).toEqual([{ 'text/plain': '42', is_main_result: true }])
      expect(result.execution_count).toBe(2)
      const none = await exec(id, 'let b = 1')
      expect([none.results, none.execution_count]).toEqual([[], 3])
      const failed = await exec(id, 'throw new Error("x")')
      expect(failed.execution_count).toBe(4)
    },
  )

  it('JavaScript: type errors do not stop a cell; syntax errors still do', async () => {
    const id = await create('javascript')
    expect((await exec(id, 'typeof notDeclared')).results).toEqual([
      { 'text/plain': "'undefined'", is_main_result: true },
    ])
    const expando = await exec(id, 'const o = {}\no.x = 1\nMath.max("3", 4)')
    expect(expando.results[0]?.['text/plain']).toBe('4')
    const thrown = await exec(id, 'notDeclared + 1')
    expect(thrown.error).toMatchObject({ name: 'ReferenceError' })
    const syntax = await exec(id, 'let = = 1')
    expect(syntax.error).toMatchObject({ name: 'CompileError' })
  })

  it('TypeScript still reports type errors', async () => {
    const id = await create('typescript')
    const result = await exec(id, 'const n: number = "text"')
    expect(result.error).toMatchObject({ name: 'CompileError' })
  })

  it('Python: the cell value is the main result, displays are not', async () => {
    const id = await create()
    const result = await exec(id, 'from IPython.display import display\ndisplay("shown")\n6 * 7')
    expect(result.results).toEqual([
      { 'text/plain': "'shown'" },
      { 'text/plain': '42', is_main_result: true },
    ])
  })
})

// Raw HTTP: routes the client has no call for, and the error envelope's validation issues.
describe('REST edges (points 12, 13)', () => {
  it('an unknown route is 404 NOT_FOUND', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/nope'],
      ['POST', '/api/v1/contexts/ctx-1/nope'],
      ['GET', '/nope'],
    ] as const) {
      const { status, body } = await s.rawRequest(method, path)
      expect([status, errorOf(body)?.code], path).toEqual([404, 'NOT_FOUND'])
    }
  })

  it('a context name must not be empty', async () => {
    const { status, body } = await s.rawRequest('POST', '/api/v1/contexts', { name: '' })
    expect([status, errorOf(body)?.code]).toEqual([400, 'INVALID_PARAMS'])
    expect(errorOf(body)?.issues?.[0]?.path).toBe('name')
  })

  it('the OpenAPI document declares is_main_result and NOT_FOUND', async () => {
    const { body } = await s.rawRequest('GET', '/openapi.json')
    const text = JSON.stringify(body)
    expect(text).toContain('is_main_result')
    expect(text).toContain('NOT_FOUND')
  })
})

// The official @e2b/code-interpreter SDK, unmodified, in debug mode against the real service.
import { Sandbox } from '@e2b/code-interpreter'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startE2bSandbox } from '../helpers/e2b.js'

let service: Awaited<ReturnType<typeof startE2bSandbox>>
let sbx: Sandbox

beforeAll(async () => {
  service = await startE2bSandbox()
  sbx = await Sandbox.create({ debug: true })
})
afterAll(async () => {
  await service?.close()
})

describe('runCode', () => {
  test('keeps state across calls and marks the main result', async () => {
    await sbx.runCode('x = 40')
    const execution = await sbx.runCode('x + 2')
    expect(execution.text).toBe('42')
    expect(execution.results[0]?.isMainResult).toBe(true)
    expect(execution.error).toBeUndefined()
    expect(execution.executionCount).toBeGreaterThan(0)
  })

  test('streams stdout, stderr and results to the callbacks', async () => {
    const stdout: string[] = []
    const stderr: string[] = []
    const results: unknown[] = []
    const execution = await sbx.runCode(
      'import sys\nprint("out")\nprint("err", file=sys.stderr)\ndisplay({"a": 1}, raw=False)\n"done"',
      {
        onStdout: (m) => void stdout.push(m.line),
        onStderr: (m) => void stderr.push(m.line),
        onResult: (r) => void results.push(r),
      },
    )
    expect(stdout.join('')).toBe('out\n')
    expect(stderr.join('')).toBe('err\n')
    expect(results).toHaveLength(2)
    expect(execution.logs).toEqual({ stdout: ['out\n'], stderr: ['err\n'] })
    expect(execution.text).toBe('done')
    expect(execution.results.filter((r) => r.isMainResult)).toHaveLength(1)
  })

  test('a matplotlib figure comes back as png', async () => {
    const execution = await sbx.runCode(
      'import matplotlib\nmatplotlib.use("module://matplotlib_inline.backend_inline")\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()',
    )
    const png = execution.results.find((r) => r.png)?.png
    expect(png).toBeDefined()
    expect(
      Buffer.from(png ?? '', 'base64')
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG')
  })

  test("a pandas DataFrame's html", async () => {
    const execution = await sbx.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2]})')
    expect(execution.results[0]?.html).toContain('<table')
    expect(execution.results[0]?.isMainResult).toBe(true)
  })

  test('an exception is execution.error', async () => {
    const errors: unknown[] = []
    const execution = await sbx.runCode('1 / 0', { onError: (e) => void errors.push(e) })
    expect(execution.error?.name).toBe('ZeroDivisionError')
    expect(execution.error?.value).toBe('division by zero')
    expect(execution.error?.traceback).toContain('ZeroDivisionError')
    expect(errors).toHaveLength(1)
  })

  test('env_vars hold for the one cell', async () => {
    const execution = await sbx.runCode('import os\nos.environ["SCI_E2B_VAR"]', {
      envs: { SCI_E2B_VAR: 'a "quoted" value' },
    })
    expect(execution.text).toBe('a "quoted" value')
    const after = await sbx.runCode('import os\nos.environ.get("SCI_E2B_VAR", "gone")')
    expect(after.text).toBe('gone')
  })

  test('JavaScript and TypeScript', async () => {
    const js = await sbx.runCode('const a = 20; a * 2 + 2', { language: 'js' })
    expect(js.text).toBe('42')
    expect(js.logs.stdout).toEqual([])
    expect(js.error).toBeUndefined()
    const ts = await sbx.runCode('const n: number = 41; console.log(n + 1)', {
      language: 'typescript',
    })
    expect(ts.logs.stdout.join('')).toBe('42\n')
    const typeError = await sbx.runCode("const s: number = 'text'", { language: 'ts' })
    expect(typeError.error?.name).toBe('CompileError')
    const thrown = await sbx.runCode('throw new RangeError("no")', { language: 'javascript' })
    expect(thrown.error).toMatchObject({ name: 'RangeError', value: 'no' })
    const html = await sbx.runCode('require("tslab").display.html("<b>hi</b>")', {
      language: 'javascript',
    })
    expect(html.results[0]?.html).toBe('<b>hi</b>')
  })

  test('a timeout ends the call with TimeoutError and interrupts the cell', async () => {
    const started = Date.now()
    await expect(sbx.runCode('import time\ntime.sleep(30)', { timeoutMs: 1_000 })).rejects.toThrow(
      /Execution timed out/,
    )
    // The disconnect interrupted the sleep: the next cell does not wait 30 s.
    const next = await sbx.runCode('"free"')
    expect(next.text).toBe('free')
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})

describe('contexts', () => {
  test('createContext, listContexts, restartContext, removeContext', async () => {
    const context = await sbx.createCodeContext({ language: 'python' })
    expect(context).toMatchObject({ id: expect.stringMatching(/^ctx-/), language: 'python' })
    await sbx.runCode('y = 1', { context })
    expect((await sbx.runCode('y', { context })).text).toBe('1')
    expect((await sbx.listCodeContexts()).map((c) => c.id)).toContain(context.id)
    await sbx.restartCodeContext(context)
    expect((await sbx.runCode('y', { context })).error?.name).toBe('NameError')
    await sbx.removeCodeContext(context.id)
    expect((await sbx.listCodeContexts()).map((c) => c.id)).not.toContain(context.id)
  })

  test('a JavaScript context', async () => {
    const context = await sbx.createCodeContext({ language: 'javascript' })
    expect(context.language).toBe('javascript')
    await sbx.runCode('let z = 5', { context })
    expect((await sbx.runCode('console.log(z)', { context })).logs.stdout).toEqual(['5\n'])
    await sbx.removeCodeContext(context)
  })
})

describe("bad input, with E2B's errors", () => {
  test('an unknown context is NotFoundError', async () => {
    const context = { id: 'ctx-nope', language: 'python', cwd: '/home/user' }
    await expect(sbx.runCode('1', { context })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: 'Context ctx-nope not found',
    })
    await expect(sbx.restartCodeContext('ctx-nope')).rejects.toMatchObject({
      name: 'NotFoundError',
    })
    await expect(sbx.removeCodeContext('ctx-nope')).rejects.toMatchObject({
      name: 'NotFoundError',
    })
  })

  test('an unknown language is the SDK SandboxError', async () => {
    await expect(sbx.runCode('1', { language: 'cobol' })).rejects.toMatchObject({
      name: 'SandboxError',
      message: '400 Bad Request',
    })
    await expect(sbx.createCodeContext({ language: 'cobol' })).rejects.toMatchObject({
      name: 'SandboxError',
    })
  })

  test('a malformed request is 422 with FastAPI detail, the SDK SandboxError', async () => {
    await expect(sbx.runCode(42 as unknown as string)).rejects.toMatchObject({
      name: 'SandboxError',
      message: '422 Unprocessable Entity',
    })
    const raw = await fetch(`${service.e2bUrl}/execute`, { method: 'POST', body: '{not json' })
    expect(raw.status).toBe(422)
    expect(await raw.json()).toMatchObject({ detail: [{ loc: ['body'] }] })
  })
})

describe('envd: files and commands', () => {
  test('files.write, then the code reads it', async () => {
    const info = await sbx.files.write('/home/user/data.txt', 'from the sdk')
    expect(info).toMatchObject({ name: 'data.txt', type: 'file' })
    const execution = await sbx.runCode('open("data.txt").read()')
    expect(execution.text).toBe('from the sdk')
  })

  test('a file the code wrote, read back', async () => {
    await sbx.runCode('open("out.csv", "w").write("a,b\\n1,2\\n")')
    expect(await sbx.files.read('out.csv')).toBe('a,b\n1,2\n')
    const bytes = await sbx.files.read('/home/user/out.csv', { format: 'bytes' })
    expect(Buffer.from(bytes).toString()).toBe('a,b\n1,2\n')
  })

  test('files.list, exists and a missing file', async () => {
    await sbx.files.write('sub/dir/f.txt', 'x')
    const names = (await sbx.files.list('/home/user')).map((e) => e.name)
    expect(names).toEqual(expect.arrayContaining(['data.txt', 'out.csv', 'sub']))
    expect(await sbx.files.exists('sub/dir/f.txt')).toBe(true)
    expect(await sbx.files.exists('nope.txt')).toBe(false)
    await expect(sbx.files.read('nope.txt')).rejects.toMatchObject({ name: 'FileNotFoundError' })
    await expect(sbx.files.read('/etc/passwd')).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    })
  })

  test("commands.run('ls') runs where the code runs", async () => {
    await sbx.files.write('listed.txt', 'x')
    const result = await sbx.commands.run('ls')
    expect(result.exitCode).toBe(0)
    expect(result.stdout.split('\n')).toContain('listed.txt')
    const failed = await sbx.commands.run('echo oops >&2; exit 3').catch((error) => error)
    expect(failed).toMatchObject({ name: 'CommandExitError', exitCode: 3, stderr: 'oops\n' })
    const env = await sbx.commands.run('echo $GREETING', { envs: { GREETING: 'hello' } })
    expect(env.stdout).toBe('hello\n')
  })

  test('writeFiles, read as blob and stream, getInfo, makeDir, remove', async () => {
    const written = await sbx.files.write([
      { path: 'many/a.txt', data: 'A' },
      { path: 'many/b.bin', data: new Uint8Array([0, 1, 2]).buffer },
    ])
    expect(written.map((entry) => entry.name)).toEqual(['a.txt', 'b.bin'])
    expect(await (await sbx.files.read('many/a.txt', { format: 'blob' })).text()).toBe('A')
    const stream = await sbx.files.read('many/b.bin', { format: 'stream' })
    expect([...new Uint8Array(await new Response(stream).arrayBuffer())]).toEqual([0, 1, 2])
    expect(await sbx.files.getInfo('many/a.txt')).toMatchObject({ name: 'a.txt', size: 1 })
    expect(await sbx.files.makeDir('made/deep')).toBe(true)
    expect(await sbx.files.makeDir('made/deep')).toBe(false)
    expect((await sbx.runCode('import os\nos.path.isdir("made/deep")')).text).toBe('True')
    await sbx.files.remove('many/a.txt')
    expect(await sbx.files.exists('many/a.txt')).toBe(false)
  })

  test('the README example', async () => {
    await sbx.files.write('/home/user/sales.csv', 'month,total\nJan,10\nFeb,14\n')
    const execution = await sbx.runCode(
      'import pandas as pd\ndf = pd.read_csv("sales.csv")\ndf.plot(x="month"); df',
    )
    expect(execution.results.map((r) => r.formats())).toEqual([['html'], ['png']])
    expect(execution.results[0]?.isMainResult).toBe(true)
    expect((await sbx.commands.run('ls')).stdout).toContain('sales.csv')
  })
})

test('E2B_DEBUG=true alone points the SDK here', async () => {
  const previous = process.env.E2B_DEBUG
  process.env.E2B_DEBUG = 'true'
  try {
    const viaEnv = await Sandbox.create()
    expect((await viaEnv.runCode('21 * 2')).text).toBe('42')
  } finally {
    if (previous === undefined) delete process.env.E2B_DEBUG
    else process.env.E2B_DEBUG = previous
  }
})

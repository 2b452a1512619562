/**
 * Docker runtime: the three languages run in their containers as they do in the process runtime
 * (state kept between executes, rich outputs, structured errors, interrupt and restart).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createContext,
  type DockerSandbox,
  exec,
  removeScope,
  skipDocker,
  startDockerSandbox,
} from './helpers.js'

describe.skipIf(skipDocker)('docker runtime: languages', () => {
  let s: DockerSandbox

  beforeAll(async () => {
    s = await startDockerSandbox({}, { poolSize: { python: 1, javascript: 1, typescript: 1 } })
  })
  afterAll(async () => {
    const scope = s?.scope
    await s?.close()
    if (scope) await removeScope(scope)
  })

  it('Python: state, a matplotlib PNG, an exception as data', async () => {
    const id = await createContext(s, { language: 'python' })
    await exec(s, id, 'x = 20')
    expect((await exec(s, id, 'x + 22')).results).toEqual([
      { 'text/plain': '42', is_main_result: true },
    ])
    const plot = await exec(
      s,
      id,
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()',
    )
    expect(plot.success).toBe(true)
    expect(plot.results.some((r: Record<string, unknown>) => 'image/png' in r)).toBe(true)
    const error = await exec(s, id, '1 / 0')
    expect(error.error.name).toBe('ZeroDivisionError')
  })

  it('JavaScript and TypeScript: state and structured errors', async () => {
    const js = await createContext(s, { language: 'javascript' })
    await exec(s, js, 'let n = 40')
    expect((await exec(s, js, 'console.log(n + 2)')).output.stdout).toBe('42\n')
    expect((await exec(s, js, 'JSON.parse("{")')).error.name).toBe('SyntaxError')
    const ts = await createContext(s, { language: 'typescript' })
    await exec(s, ts, 'const m: number = 41')
    expect((await exec(s, ts, 'console.log(m + 1)')).output.stdout).toBe('42\n')
    expect((await exec(s, ts, 'const bad: number = "x"')).error.name).toBe('CompileError')
  })

  it('A1/C1: a timeout interrupts the cell and keeps the state; restart clears it', async () => {
    const id = await createContext(s)
    await exec(s, id, 'kept = 1')
    const started = performance.now()
    const result = await exec(s, id, 'import time\ntime.sleep(30)', 1)
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(result.error.code).toBe('EXECUTION_TIMEOUT')
    expect(result.context_restarted).toBe(false)
    expect((await exec(s, id, 'print(kept)')).output.stdout).toBe('1\n')
    expect((await s.api('POST', `/api/v1/contexts/${id}/restart`)).status).toBe(200)
    expect((await exec(s, id, 'print(kept)')).error.name).toBe('NameError')
  })
})

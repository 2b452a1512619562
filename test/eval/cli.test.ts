import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { descendants } from '../helpers/processes.js'
import { type RunningSandbox, startSandbox, UNREACHABLE_SANDBOX_URL } from '../helpers/sandbox.js'
import { byId, runCli, spawnCli, writeCases } from './helpers.js'

describe('sandbox-eval, embedded sandbox (the default)', () => {
  it('gives each case of a mixed Python and JavaScript batch its status, and exits 1', async () => {
    const { dir, file } = await writeCases([
      { id: 'py-pass', code: 'print("42  ")', expected_stdout: '42' },
      { id: 'py-fail', code: 'print(41)', expected_stdout: '42\n' },
      { id: 'py-raise', code: 'raise ValueError("boom")' },
      { id: 'py-timeout', code: 'import time\ntime.sleep(60)' },
      { id: 'py-test-pass', setup: 'x = 21', code: 'y = x * 2', test: 'assert y == 42' },
      { id: 'py-test-fail', code: 'y = 1', test: 'assert y == 2, "y is wrong"' },
      {
        id: 'js-pass',
        language: 'javascript',
        code: 'console.log([1, 2].join())',
        expected_stdout: '1,2',
      },
      { id: 'js-fail', language: 'javascript', code: 'console.log(3)', expected_stdout: '4' },
      { id: 'js-raise', language: 'javascript', code: 'throw new TypeError("bad")' },
      {
        id: 'js-timeout',
        language: 'javascript',
        code: 'await new Promise((r) => setTimeout(r, 60000))',
      },
      'not json',
    ])
    const output = path.join(dir, 'results.jsonl')
    const run = await runCli([file, '--output', output, '--timeout', '2', '--concurrency', '3'])
    expect(run.code, run.stderr).toBe(1)
    const results = byId(await readFile(output, 'utf8'))
    const statuses = Object.fromEntries(Object.entries(results).map(([id, r]) => [id, r.status]))
    expect(statuses).toEqual({
      'py-pass': 'pass',
      'py-fail': 'fail',
      'py-raise': 'error',
      'py-timeout': 'timeout',
      'py-test-pass': 'pass',
      'py-test-fail': 'fail',
      'js-pass': 'pass',
      'js-fail': 'fail',
      'js-raise': 'error',
      'js-timeout': 'timeout',
      'line-11': 'error',
    })
    expect(results['py-pass']).toMatchObject({ stdout: '42  \n', stderr: '', error: null })
    expect(results['py-raise']?.error).toMatchObject({
      name: 'ValueError',
      value: 'boom',
      phase: 'code',
    })
    expect(results['py-test-fail']?.error).toMatchObject({ name: 'AssertionError', phase: 'test' })
    expect(results['js-raise']?.error).toMatchObject({ name: 'TypeError', value: 'bad' })
    expect(results['js-timeout']?.error).toMatchObject({ name: 'EXECUTION_TIMEOUT' })
    expect(results['line-11']?.error).toMatchObject({ name: 'InvalidCase', phase: 'input' })
    // Results go to the file, so the summary is what stdout carries.
    expect(run.stdout).toMatch(/\| \*\*all\*\* \| 3 \| 3 \| 3 \| 2 \| 11 \|/)
  })
})

describe('sandbox-eval, usage and sandbox errors', () => {
  it('exits 2 without running any case when the sandbox cannot be reached', async () => {
    const { file } = await writeCases([{ id: 'a', code: 'print(1)' }])
    const run = await runCli([file, '--url', UNREACHABLE_SANDBOX_URL])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('ECONNREFUSED')
  })
})

describe('sandbox-eval --url', () => {
  let s: RunningSandbox
  beforeAll(async () => {
    s = await startSandbox({ poolSize: { python: 2, javascript: 1, typescript: 0 } })
  })
  afterAll(() => s?.close())

  it("never lets one case's variables or files reach the next", async () => {
    const js = { language: 'javascript' }
    const { file } = await writeCases([
      { id: 'py-set', code: 'leak = 1\nopen("left.txt", "w").write("x")' },
      {
        id: 'py-check',
        code: 'import os\nprint("leak" in globals(), os.path.exists("left.txt"))',
        expected_stdout: 'False False',
      },
      {
        id: 'py-ctx-set',
        setup: 'leak = 1',
        code: 'open("left.txt", "w").write("x")',
        test: 'assert leak',
      },
      {
        id: 'py-ctx-check',
        code: 'import os',
        test: 'assert "leak" not in globals() and not os.path.exists("left.txt")',
      },
      {
        id: 'js-set',
        ...js,
        code: "globalThis.leak = 1\nrequire('fs').writeFileSync('left.txt', 'x')",
      },
      {
        id: 'js-check',
        ...js,
        code: "console.log(typeof globalThis.leak, require('fs').existsSync('left.txt'))",
        expected_stdout: 'undefined false',
      },
    ])
    // One at a time, so every "check" case runs after its "set" case.
    const run = await runCli([file, '--url', s.baseUrl, '--concurrency', '1'])
    expect(run.code, run.stderr).toBe(0)
    const results = byId(run.stdout)
    expect(Object.values(results).map((r) => [r.id, r.status])).toEqual(
      ['py-set', 'py-check', 'py-ctx-set', 'py-ctx-check', 'js-set', 'js-check'].map((id) => [
        id,
        'pass',
      ]),
    )
    expect((await s.client.listContexts()).total).toBe(0)
  })

  it('exits 0 with --no-fail although a case failed', async () => {
    const { file } = await writeCases([{ id: 'wrong', code: 'print(1)', expected_stdout: '2' }])
    const run = await runCli([file, '--url', s.baseUrl, '--no-fail'])
    expect(run.code, run.stderr).toBe(0)
    expect(byId(run.stdout).wrong?.status).toBe('fail')
  })

  /** One-shot cases running: Python ones in runner processes, the others in contexts. */
  const running = () =>
    s.sandbox.contexts.size +
    descendants(process.pid).filter((p) => p.cmdline.includes('sci_one_shot.py')).length

  it('on SIGINT keeps every finished case, cancels the running ones and exits 130', async () => {
    const quick = Array.from({ length: 4 }, (_, i) => ({ id: `quick-${i}`, code: `print(${i})` }))
    const slow = Array.from({ length: 4 }, (_, i) => ({
      id: `slow-${i}`,
      code: 'import time\ntime.sleep(60)',
    }))
    const { dir, file } = await writeCases([...quick, ...slow])
    const output = path.join(dir, 'results.jsonl')
    const cli = spawnCli([file, '--url', s.baseUrl, '--concurrency', '2', '--output', output])
    // Wait until the quick cases are in the file and the slow ones occupy both workers.
    const lines = async () =>
      (await readFile(output, 'utf8').catch(() => '')).split('\n').filter(Boolean)
    while ((await lines()).length < 4) await new Promise((r) => setTimeout(r, 50))
    while (running() < 2) await new Promise((r) => setTimeout(r, 50))
    const interruptedAt = Date.now()
    cli.kill('SIGINT')
    const run = await cli.done
    expect(run.code, run.stderr).toBe(130)
    expect(Date.now() - interruptedAt).toBeLessThan(15_000)
    const results = (await lines()).map((line) => JSON.parse(line))
    expect(results.map((r) => [r.id, r.status]).sort()).toEqual(quick.map((q) => [q.id, 'pass']))
    expect(run.stdout).toContain('4 of 8 cases finished')
    // The cancelled cells were stopped and their one-shot runners (or contexts) thrown away.
    for (let i = 0; running() > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50))
    expect(running()).toBe(0)
  })
})

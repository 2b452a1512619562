/**
 * The three languages on a real runtime: state kept between executes, errors as data, rich
 * outputs, top-level await and Node built-ins, TypeScript's type check, and a timeout that
 * interrupts the cell while a restart clears the state. One suite, run by
 * test/sandbox/languages.test.ts (process runtime) and test/docker/languages.test.ts.
 */
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Language } from '../../sandbox/api.js'
import type { RunningSandbox } from '../helpers/sandbox.js'
import { exec, type RuntimeTarget } from './runtime.js'

/** Per language: code that defines state, code that shows it, and what it shows. */
const LANGUAGES = [
  {
    language: 'python',
    define: 'x = 20',
    show: 'x + 22',
    shown: { results: [{ 'text/plain': '42', is_main_result: true }] },
    raise: 'import sys\nprint("warn", file=sys.stderr)\nraise TypeError("bad thing")',
  },
  {
    language: 'javascript',
    define: 'let x = 100',
    show: 'console.log(x + 1)',
    shown: { output: expect.objectContaining({ stdout: '101\n' }) },
    raise: "console.error('warn')\nthrow new TypeError('bad thing')",
  },
  {
    language: 'typescript',
    define: 'let x: number = 100',
    show: 'console.log(x + 1)',
    shown: { output: expect.objectContaining({ stdout: '101\n' }) },
    raise: "console.error('warn')\nthrow new TypeError('bad thing')",
  },
] as const

/**
 * Registers the languages suite for one runtime; it starts its own sandbox.
 * @param runtime - the runtime under test; skipped (loudly, by its helpers) when it cannot run
 */
export function describeLanguages(runtime: RuntimeTarget): void {
  describe.skipIf(runtime.skip)(`${runtime.name} runtime: languages`, () => {
    let s: RunningSandbox

    /** Creates a context and returns its id and working dir. */
    async function create(language: Language): Promise<{ id: string; workingDir: string }> {
      const body = await s.client.createContext({ language })
      expect(body.language).toBe(language)
      return { id: body.context_id, workingDir: body.working_dir }
    }

    beforeAll(async () => {
      s = await runtime.start({ poolSize: { python: 1, javascript: 1, typescript: 1 } })
    })
    afterAll(() => s?.close())

    for (const { language, define, show, shown, raise } of LANGUAGES) {
      describe(language, () => {
        let id: string
        let workingDir: string
        beforeAll(async () => {
          ;({ id, workingDir } = await create(language))
        })

        it('keeps state between executes', async () => {
          expect((await exec(s, id, define)).success).toBe(true)
          expect(await exec(s, id, show)).toMatchObject({ success: true, ...shown })
        })

        it('reports a thrown error with name, value and traceback, also after stderr', async () => {
          const result = await exec(s, id, raise)
          expect(result.success).toBe(false)
          expect(result.output.stderr).toBe(`warn\n${result.error?.traceback}\n`)
          expect(result.error).toMatchObject({
            name: 'TypeError',
            value: 'bad thing',
            traceback: expect.any(String),
          })
        })

        if (language === 'python') return
        it('supports top-level await', async () => {
          const result = await exec(s, id, 'await new Promise(r => setTimeout(() => r(5), 10))')
          expect(result.success).toBe(true)
          expect(result.results).toEqual([{ 'text/plain': '5', is_main_result: true }])
        })

        it('loads Node built-ins with require and import, in the context working dir', async () => {
          const result = await exec(
            s,
            id,
            "const os = require('os')\nimport * as path from 'path'\nconsole.log(typeof os.cpus(), path.basename(process.cwd()))",
          )
          expect(result.output.stdout).toBe(`object ${path.basename(workingDir)}\n`)
        })
      })
    }

    it('python: displays a matplotlib figure as image/png', async () => {
      const { id } = await create('python')
      const plot = await exec(
        s,
        id,
        'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()',
      )
      expect(plot.success).toBe(true)
      const png = plot.results.find((r) => r['image/png'])
      expect(Buffer.from(String(png?.['image/png']), 'base64').subarray(1, 4).toString()).toBe(
        'PNG',
      )
    })

    it('python: an exception is data (1 / 0 is ZeroDivisionError)', async () => {
      const { id } = await create('python')
      const result = await exec(s, id, '1 / 0')
      expect(result.success).toBe(false)
      expect(result.error?.name).toBe('ZeroDivisionError')
    })

    it('javascript: a syntax error in evaluated code is a SyntaxError', async () => {
      const { id } = await create('javascript')
      expect((await exec(s, id, 'JSON.parse("{")')).error?.name).toBe('SyntaxError')
    })

    it('typescript: reports a type error (CompileError) instead of running the code', async () => {
      const { id } = await create('typescript')
      const result = await exec(s, id, "const n: number = 'text'\nconsole.log('ran')")
      expect(result.success).toBe(false)
      expect(result.error?.name).toBe('CompileError')
      expect(result.output.stdout).not.toContain('ran')
      expect(JSON.stringify(result.error)).toContain('not assignable')
    })

    it('A1/C1: a timeout interrupts the cell and keeps the state; restart clears it', async () => {
      const { id } = await create('python')
      await exec(s, id, 'kept = 1')
      const started = performance.now()
      const result = await exec(s, id, 'import time\ntime.sleep(30)', 1)
      expect(performance.now() - started).toBeLessThan(10_000)
      expect(result.error?.code).toBe('EXECUTION_TIMEOUT')
      expect(result.context_restarted).toBe(false)
      expect((await exec(s, id, 'print(kept)')).output.stdout).toBe('1\n')
      await s.client.restart(id)
      expect((await exec(s, id, 'print(kept)')).error?.name).toBe('NameError')
    })
  })
}

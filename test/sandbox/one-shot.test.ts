import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf, type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

beforeAll(async () => {
  s = await startSandbox({ poolSize: { python: 2, javascript: 1, typescript: 0 } })
})
afterAll(() => s?.close())

const once: RunningSandbox['client']['runOnce'] = (body) => s.client.runOnce(body)
/** POST /api/v1/execute as is, for bodies the typed client cannot express. */
const rawOnce = (body: unknown) => s.rawRequest('POST', '/api/v1/execute', body)

describe('POST /api/v1/execute', () => {
  it('runs 20 parallel one-shot jobs, each with its own output, and leaves no context behind', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => once({ code: `print("Request #${i}")` })),
    )
    expect(results.map((r) => r.output.stdout)).toEqual(
      Array.from({ length: 20 }, (_, i) => `Request #${i}\n`),
    )
    expect((await s.client.listContexts()).total).toBe(0)
    // Each in a runner forked from the kernel template, none in a kernel.
    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
    expect(metrics).toContain('sandbox_one_shot_runs_total{path="runner"} 20')
    expect(metrics).not.toContain('sandbox_one_shot_runs_total{path="kernel"}')
  })

  it('never shares state or files between jobs', async () => {
    const first = await once({ code: 'leak = 1\nopen("left.txt", "w").write("x")' })
    expect(first.success).toBe(true)
    const second = await once({ code: 'import os\nprint(os.path.exists("left.txt"))\nleak' })
    expect(second.output.stdout).toBe('False\n')
    expect(second.error?.name).toBe('NameError')
  })

  it('writes the given files into the fresh working dir first', async () => {
    const csv = 'a,b\n1,2\n3,4\n'
    const body = await once({
      code: 'import pandas as pd\nprint(pd.read_csv("data/in.csv")["b"].sum(), open("blob.bin","rb").read())',
      files: [
        { path: 'data/in.csv', content: csv },
        {
          path: 'blob.bin',
          content: Buffer.from([0, 1, 2]).toString('base64'),
          encoding: 'base64',
        },
      ],
    })
    expect(body.output.stdout).toBe("6 b'\\x00\\x01\\x02'\n")
  })

  it('refuses file paths that leave the working dir', async () => {
    for (const path of ['../x', '/etc/passwd', 'a/../../x', '..\\x', 'a\u0000b']) {
      await expect(
        once({ code: '1', files: [{ path, content: 'x' }] }),
        path,
      ).rejects.toMatchObject({ status: 400, code: 'INVALID_PARAMS' })
    }
    expect((await s.client.listContexts()).total).toBe(0)
  })

  it('runs JavaScript and reports bad input like the context API', async () => {
    const body = await once({
      language: 'javascript',
      code: 'console.log([1, 2].map((x) => x * 2).join())',
    })
    expect(body.output.stdout).toBe('2,4\n')
    expect(errorOf((await rawOnce({ language: 'cobol', code: '1' })).body)?.code).toBe(
      'INVALID_LANGUAGE',
    )
    expect(errorOf((await rawOnce({ language: 'python' })).body)?.code).toBe('INVALID_PARAMS')
  })
})

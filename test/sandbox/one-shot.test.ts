import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

beforeAll(async () => {
  s = await startSandbox({ poolSize: { python: 2, javascript: 1, typescript: 0 } })
})
afterAll(() => s?.close())

const once = (body: unknown) => s.api('POST', '/api/v1/execute', body)

describe('POST /api/v1/execute', () => {
  it('runs 20 parallel one-shot jobs, each with its own output, and leaves no context behind', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => once({ code: `print("Request #${i}")` })),
    )
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(results.map((r) => r.body.output.stdout)).toEqual(
      Array.from({ length: 20 }, (_, i) => `Request #${i}\n`),
    )
    expect((await s.api('GET', '/api/v1/contexts')).body.total).toBe(0)
  })

  it('never shares state or files between jobs', async () => {
    const first = await once({ code: 'leak = 1\nopen("left.txt", "w").write("x")' })
    expect(first.body.success).toBe(true)
    const second = await once({ code: 'import os\nprint(os.path.exists("left.txt"))\nleak' })
    expect(second.body.output.stdout).toBe('False\n')
    expect(second.body.error.name).toBe('NameError')
  })

  it('writes the given files into the fresh working dir first', async () => {
    const csv = 'a,b\n1,2\n3,4\n'
    const { body } = await once({
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
      const { status, body } = await once({ code: '1', files: [{ path, content: 'x' }] })
      expect([status, body.error.code], path).toEqual([400, 'INVALID_PARAMS'])
    }
    expect((await s.api('GET', '/api/v1/contexts')).body.total).toBe(0)
  })

  it('runs JavaScript and reports bad input like the context API', async () => {
    const { body } = await once({
      language: 'javascript',
      code: 'console.log([1, 2].map((x) => x * 2).join())',
    })
    expect(body.output.stdout).toBe('2,4\n')
    expect((await once({ language: 'cobol', code: '1' })).body.error.code).toBe('INVALID_LANGUAGE')
    expect((await once({ language: 'python' })).body.error.code).toBe('INVALID_PARAMS')
  })
})

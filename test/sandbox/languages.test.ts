import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

async function create(language: string): Promise<string> {
  const { status, body } = await s.api('POST', '/api/v1/contexts', { language })
  expect(status).toBe(201)
  expect(body.language).toBe(language)
  return body.context_id
}

async function exec(id: string, code: string) {
  const { status, body } = await s.api('POST', `/api/v1/contexts/${id}/execute`, { code })
  expect(status).toBe(200)
  return body
}

beforeAll(async () => {
  s = await startSandbox()
})
afterAll(() => s?.close())

describe.each(['javascript', 'typescript'])('%s', (language) => {
  let id: string
  beforeAll(async () => {
    id = await create(language)
  })

  it('keeps state between executes', async () => {
    await exec(id, language === 'typescript' ? 'let x: number = 100' : 'let x = 100')
    expect((await exec(id, 'console.log(x + 1)')).output.stdout).toBe('101\n')
  })

  it('supports top-level await', async () => {
    const result = await exec(id, 'await new Promise(r => setTimeout(() => r(5), 10))')
    expect(result.success).toBe(true)
    expect(result.results).toEqual([{ 'text/plain': '5', is_main_result: true }])
  })

  it('loads Node built-ins with require and import, in the context working dir', async () => {
    const result = await exec(
      id,
      "const os = require('os')\nimport * as path from 'path'\nconsole.log(typeof os.cpus(), path.basename(process.cwd()))",
    )
    expect(result.output.stdout).toBe(`object ${id}\n`)
  })

  it('reports a thrown error with name, value and traceback; stderr stays separate', async () => {
    const result = await exec(id, "console.error('warn')\nthrow new TypeError('bad thing')")
    expect(result.success).toBe(false)
    expect(result.output.stderr).toBe(`warn\n${result.error.traceback}\n`)
    expect(result.error).toMatchObject({ name: 'TypeError', value: 'bad thing' })
  })
})

describe('typescript', () => {
  it('reports a type error instead of running the code', async () => {
    const id = await create('typescript')
    const result = await exec(id, "const n: number = 'text'\nconsole.log('ran')")
    expect(result.success).toBe(false)
    expect(result.output.stdout).not.toContain('ran')
    expect(JSON.stringify(result.error)).toContain('not assignable')
  })
})

import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

/** `/workspace` names the context's own workspace root, as in the docker runtime. */
describe('working_dir in the process runtime', () => {
  let s: RunningSandbox
  beforeAll(async () => {
    s = await startSandbox()
  })
  afterAll(async () => {
    await s?.close()
  })

  it("takes the migration guide's request word for word and runs in the context's own root", async () => {
    const { status, body } = await s.api('POST', '/api/v1/contexts', {
      type: 'jupyter',
      language: 'python',
      session_name: 'test-session',
      working_dir: '/workspace',
    })
    expect(status).toBe(201)
    expect(body).toMatchObject({ type: 'jupyter', status: 'active', session_name: 'test-session' })
    const root = s.sandbox.contexts.workspace(body.context_id).dir
    expect(path.basename(root)).toBe(body.context_id)
    expect(body.working_dir).toBe(root)
    const run = await s.api('POST', `/api/v1/contexts/${body.context_id}/execute`, {
      code: 'print("Hello from Local Sandbox")\nimport os\nprint(os.getcwd())',
      timeout: 30,
    })
    expect(run.body.output.stdout).toBe(`Hello from Local Sandbox\n${root}\n`)
    await s.api('DELETE', `/api/v1/contexts/${body.context_id}`)
    expect(existsSync(root)).toBe(false)
  })

  it('resolves /workspace/sub and sub alike, inside the context root, and never shares it', async () => {
    const a = await s.api('POST', '/api/v1/contexts', { working_dir: '/workspace/data/in' })
    const b = await s.api('POST', '/api/v1/contexts', { working_dir: 'data/in' })
    expect([a.status, b.status]).toEqual([201, 201])
    expect(a.body.working_dir.endsWith(`${a.body.context_id}/data/in`)).toBe(true)
    expect(b.body.working_dir.endsWith(`${b.body.context_id}/data/in`)).toBe(true)
    for (const ctx of [a.body, b.body]) await s.api('DELETE', `/api/v1/contexts/${ctx.context_id}`)
  })

  it('refuses what leaves the root: other absolute paths, .., NUL (400 INVALID_PARAMS)', async () => {
    for (const working_dir of [
      '/tmp',
      '/workspace/../etc',
      '/workspacex',
      'a/../../b',
      'a\u0000b',
    ]) {
      const { status, body } = await s.api('POST', '/api/v1/contexts', { working_dir })
      expect([status, body.error?.code], working_dir).toEqual([400, 'INVALID_PARAMS'])
      expect(body.error.message).toContain('/workspace')
    }
    expect((await s.api('GET', '/api/v1/contexts')).body.total).toBe(0)
  })
})

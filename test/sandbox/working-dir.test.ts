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
    const body = await s.client.createContext({
      type: 'jupyter',
      language: 'python',
      session_name: 'test-session',
      working_dir: '/workspace',
    })
    expect(body).toMatchObject({ type: 'jupyter', status: 'active', session_name: 'test-session' })
    const root = s.sandbox.contexts.workspace(body.context_id).dir
    expect(path.basename(root)).toBe(body.context_id)
    expect(body.working_dir).toBe(root)
    const run = await s.client.execute(body.context_id, {
      code: 'print("Hello from Local Sandbox")\nimport os\nprint(os.getcwd())',
      timeout: 30,
    })
    expect(run.output.stdout).toBe(`Hello from Local Sandbox\n${root}\n`)
    await s.client.stopContext(body.context_id)
    expect(existsSync(root)).toBe(false)
  })

  it('resolves /workspace/sub and sub alike, inside the context root, and never shares it', async () => {
    const a = await s.client.createContext({ working_dir: '/workspace/data/in' })
    const b = await s.client.createContext({ working_dir: 'data/in' })
    expect(a.working_dir.endsWith(`${a.context_id}/data/in`)).toBe(true)
    expect(b.working_dir.endsWith(`${b.context_id}/data/in`)).toBe(true)
    for (const ctx of [a, b]) await s.client.stopContext(ctx.context_id)
  })

  it('refuses what leaves the root: other absolute paths, .., NUL (400 INVALID_PARAMS)', async () => {
    for (const working_dir of [
      '/tmp',
      '/workspace/../etc',
      '/workspacex',
      'a/../../b',
      'a\u0000b',
    ]) {
      await expect(s.client.createContext({ working_dir }), working_dir).rejects.toMatchObject({
        status: 400,
        code: 'INVALID_PARAMS',
        message: expect.stringContaining('/workspace'),
      })
    }
    expect((await s.client.listContexts()).total).toBe(0)
  })
})

/**
 * The official E2B SDK, unmodified, against the stack's E2B ports (127.0.0.1:49999 and :49983,
 * published by docker-compose.yml): what a user coming from E2B runs after `docker compose up`.
 */
import { Sandbox } from '@e2b/code-interpreter'
import { beforeAll, describe, expect, it } from 'vitest'
import { stack, waitStackHealthy } from './stack.js'

/** In debug mode the SDK has no token of its own: hand it the stack's key (README, "Coming from E2B"). */
class StackSandbox extends Sandbox {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's constructor options are internal
  constructor(opts: any) {
    const token = stack.sandboxApiKey
    super(token ? { ...opts, envdAccessToken: token, trafficAccessToken: token } : opts)
  }
}

beforeAll(waitStackHealthy)

describe('E2B SDK against the stack', () => {
  it('runs code with state, a pandas table as html, files and a command', async () => {
    const sbx = await StackSandbox.create({ debug: true })
    await sbx.runCode('import pandas as pd\ndf = pd.DataFrame({"a": [1, 2]})')
    const table = await sbx.runCode('df')
    expect(table.results[0]?.html).toContain('<table')
    expect((await sbx.runCode('int(df.a.sum())')).text).toBe('3')
    await sbx.files.write('from-sdk.txt', 'hello')
    expect((await sbx.runCode('open("from-sdk.txt").read()')).text).toBe('hello')
    const ls = await sbx.commands.run('ls')
    expect(ls.exitCode).toBe(0)
    expect(ls.stdout).toContain('from-sdk.txt')
    const js = await sbx.runCode('[1, 2, 3].length * 14', { language: 'js' })
    expect(js.text).toBe('42')
  })

  it("raises the SDK's own errors: an exception in the cell, an unknown context", async () => {
    const sbx = await StackSandbox.create({ debug: true })
    const failed = await sbx.runCode('1 / 0')
    expect(failed.error?.name).toBe('ZeroDivisionError')
    const context = { id: 'ctx-nope', language: 'python', cwd: '/home/user' }
    await expect(sbx.runCode('1', { context })).rejects.toMatchObject({ name: 'NotFoundError' })
  })
})

// SANDBOX_API_KEY on the E2B ports: the SDK's access tokens carry it. In debug mode the SDK has
// no token of its own, so a subclass hands it one (the README's snippet).
import http from 'node:http'
import { Sandbox } from '@e2b/code-interpreter'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startE2bSandbox } from '../helpers/e2b.js'

const KEY = 'e2b-key-canary'

class KeyedSandbox extends Sandbox {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's constructor options are internal
  constructor(opts: any) {
    super({ ...opts, envdAccessToken: KEY, trafficAccessToken: KEY })
  }
}

let service: Awaited<ReturnType<typeof startE2bSandbox>>

beforeAll(async () => {
  service = await startE2bSandbox({ apiKey: KEY })
})
afterAll(async () => {
  await service?.close()
})

test('without the key every E2B call is refused', async () => {
  const sbx = await Sandbox.create({ debug: true })
  await expect(sbx.runCode('1')).rejects.toMatchObject({
    name: 'SandboxError',
    message: '401 Unauthorized',
  })
  await expect(sbx.listCodeContexts()).rejects.toMatchObject({ name: 'SandboxError' })
  await expect(sbx.files.read('x.txt')).rejects.toMatchObject({ name: 'AuthenticationError' })
  await expect(sbx.files.list('/home/user')).rejects.toMatchObject({
    name: 'AuthenticationError',
  })
  await expect(sbx.commands.run('ls')).rejects.toMatchObject({ name: 'AuthenticationError' })
})

test('with the key as access token, code, contexts, files and commands work', async () => {
  const sbx = await KeyedSandbox.create({ debug: true })
  expect((await sbx.runCode('6 * 7')).text).toBe('42')
  const context = await sbx.createCodeContext()
  expect((await sbx.listCodeContexts()).map((c) => c.id)).toContain(context.id)
  await sbx.removeCodeContext(context)
  await sbx.files.write('keyed.txt', 'ok')
  expect(await sbx.files.read('keyed.txt')).toBe('ok')
  expect((await sbx.commands.run('cat keyed.txt')).stdout).toBe('ok')
})

/** fetch drops a Host header: node:http sends it as given. */
function postWithHost(port: number, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          host: 'evil.example',
          'x-access-token': KEY,
          'content-type': 'application/json',
        },
      },
      (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      },
    )
    request.on('error', reject)
    request.end(JSON.stringify(body))
  })
}

test('a wrong Host is refused on both ports (DNS rebinding)', async () => {
  expect(await postWithHost(49_999, '/execute', { code: '1' })).toBe(403)
  expect(await postWithHost(49_983, '/filesystem.Filesystem/ListDir', { path: '/home/user' })).toBe(
    403,
  )
  expect(await postWithHost(49_983, '/files?path=x.txt', {})).toBe(403)
})

/** The client against the real sandbox (Jupyter, kernels), over HTTP and embedded. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbeddedSandbox } from '../../client/embedded.js'
import {
  createSandboxClient,
  type ExecuteOptions,
  SandboxApiError,
  type SandboxClient,
} from '../../client/index.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

const API_KEY = 'client-test-key'

describe('over HTTP', () => {
  let running: RunningSandbox
  let client: SandboxClient
  beforeAll(async () => {
    running = await startSandbox({ apiKey: API_KEY, maxContexts: 2 })
    client = createSandboxClient({ baseUrl: running.baseUrl, apiKey: API_KEY })
  })
  afterAll(() => running?.close())

  it('answers health, and maps error envelopes to typed errors with code and status', async () => {
    await client.health()
    const missing = await client.getContext('ctx-nope').catch((error: unknown) => error)
    expect(missing).toBeInstanceOf(SandboxApiError)
    expect(missing).toMatchObject({ code: 'CONTEXT_NOT_FOUND', status: 404 })
    await expect(client.execute('ctx-nope', { code: '1' })).rejects.toMatchObject({
      code: 'CONTEXT_NOT_FOUND',
      status: 404,
    })
    await expect(client.createContext({ name: 'n'.repeat(300) })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      status: 400,
    })
    const badFile = { path: 'x.bin', content: 'not base64!', encoding: 'base64' } as const
    const refused = await client.runOnce({ code: '1', files: [badFile] }).catch((e: unknown) => e)
    expect(refused).toMatchObject({ code: 'INVALID_PARAMS', status: 400 })
    expect((refused as Error).message).toMatch(
      /files\.0\.content.*base64|base64.*files\.0\.content/s,
    )
    const keyless = createSandboxClient({ baseUrl: running.baseUrl })
    await expect(keyless.listContexts()).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      status: 401,
    })
  })

  it('streams events as output arrives and returns the final result', async () => {
    const events: Parameters<NonNullable<ExecuteOptions['onEvent']>>[0][] = []
    const result = await client.runOnce(
      { code: 'import time\nprint("a", flush=True)\ntime.sleep(0.2)\nprint("b")\n6 * 7' },
      { onEvent: (event) => void events.push(event) },
    )
    expect(result).toMatchObject({ success: true, output: { stdout: 'a\nb\n' } })
    expect(result.results).toEqual([{ 'text/plain': '42', is_main_result: true }])
    // "a" arrives before the sleep ends; how the kernel cuts the rest into messages is its own
    // (print writes "b" and "\n" apart, and its output thread may flush between them).
    const chunks = events.filter((e) => e.type === 'stdout').map((e) => e.text)
    expect(chunks[0]).toBe('a\n')
    expect(chunks.join('')).toBe('a\nb\n')
    expect(events).toContainEqual({
      type: 'result',
      data: { 'text/plain': '42', is_main_result: true },
    })
    expect(events.some((e) => e.type === 'end')).toBe(false)
  })

  it('runs a context through interrupt, restart, files and stop', async () => {
    const { context_id: id } = await client.createContext({ name: 'calls' })
    try {
      await client.execute(id, { code: 'kept = 1' })
      expect((await client.interrupt(id)).status).toBe('active')
      await client.restart(id)
      const after = await client.execute(id, { code: 'kept' })
      expect(after.error?.name).toBe('NameError')
      await client.writeFile(id, 'd/a.txt', new TextEncoder().encode('hello'))
      expect((await client.listFiles(id, 'd')).entries).toMatchObject([{ name: 'a.txt', size: 5 }])
      const part = await client.readFile(id, 'd/a.txt', { offset: 1, length: 3 })
      expect(Buffer.from(part.bytes).toString()).toBe('ell')
      expect(part.size).toBe(5)
    } finally {
      await client.stopContext(id)
    }
    await expect(client.stopContext(id)).rejects.toMatchObject({ status: 404 })
  })

  it('retries 429 LIMIT_EXCEEDED after Retry-After when asked to, and throws it otherwise', async () => {
    const [a] = await Promise.all([
      client.createContext({ name: 'a' }),
      client.createContext({ name: 'b' }),
    ])
    const full = await client.createContext({ name: 'c' }).catch((error: unknown) => error)
    expect(full).toMatchObject({ code: 'LIMIT_EXCEEDED', status: 429, reason: 'contexts' })
    const waitS = (full as SandboxApiError).retryAfterS ?? 0
    expect(waitS).toBeGreaterThan(0)

    const patient = createSandboxClient({
      baseUrl: running.baseUrl,
      apiKey: API_KEY,
      retryLimitMs: 30_000,
    })
    const started = Date.now()
    setTimeout(() => void client.stopContext(a.context_id), 500)
    const created = await patient.createContext({ name: 'c' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(waitS * 1000 - 100)
    const { contexts } = await client.listContexts()
    for (const context of contexts) await client.stopContext(context.context_id)
    expect(contexts.map((c) => c.context_id)).toContain(created.context_id)
  }, 30_000)

  it('rejects an aborted execute with the abort, and the kernel is interrupted', async () => {
    const { context_id: id } = await client.createContext({ name: 'abort' })
    const started = Date.now()
    const running = client.execute(
      id,
      { code: 'import time\ntime.sleep(30)' },
      { signal: AbortSignal.timeout(500) },
    )
    await expect(running).rejects.toMatchObject({ name: 'TimeoutError' })
    const next = await client.execute(id, { code: '1 + 1' })
    expect(next.results).toEqual([{ 'text/plain': '2', is_main_result: true }])
    expect(Date.now() - started).toBeLessThan(25_000)
    await client.stopContext(id)
  })
})

describe('embedded', () => {
  it('rejects at once when the signal aborts, as a remote fetch does', async () => {
    await using embedded = await startEmbeddedSandbox({
      env: {},
      defaults: {
        LOG_LEVEL: 'warn',
        SANDBOX_POOL_PYTHON: '1',
        SANDBOX_POOL_JAVASCRIPT: '0',
        SANDBOX_POOL_TYPESCRIPT: '0',
      },
    })
    const controller = new AbortController()
    const run = embedded.client.runOnce(
      { code: 'import time\ntime.sleep(30)' },
      { signal: controller.signal, onEvent: () => undefined },
    )
    setTimeout(() => controller.abort(), 1000)
    const started = Date.now()
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
    expect(Date.now() - started).toBeLessThan(2000)
    await expect(embedded.client.getContext('ctx-nope')).rejects.toMatchObject({ status: 404 })
  })
})

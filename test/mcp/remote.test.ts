/**
 * Remote mode: the sandbox runs as its own service (here in the test process, on a random port,
 * with an API key) and `sandbox-mcp` reaches it through SANDBOX_BASE_URL, as in the Docker stack.
 */
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox, UNREACHABLE_SANDBOX_URL } from '../helpers/sandbox.js'
import {
  call,
  connectStdio,
  expectToolError,
  type HttpServerProcess,
  startHttpServer,
} from './helpers.js'
import { describeTools } from './tool-suite.js'

const SANDBOX_API_KEY = 'sandbox-test-key'
const MCP_API_KEY = 'mcp-test-key'
const auth = { authorization: `Bearer ${MCP_API_KEY}` }

let sandbox: RunningSandbox
beforeAll(async () => {
  sandbox = await startSandbox({ apiKey: SANDBOX_API_KEY })
})
afterAll(() => sandbox?.close())

describe('Streamable HTTP, remote sandbox', () => {
  let server: HttpServerProcess
  let session: Awaited<ReturnType<HttpServerProcess['connect']>>
  beforeAll(async () => {
    server = await startHttpServer({
      SANDBOX_BASE_URL: sandbox.baseUrl,
      SANDBOX_API_KEY,
      MCP_API_KEY,
    })
    session = await server.connect(auth)
  })
  afterAll(async () => {
    await session?.close()
    await server?.close()
  })

  describeTools(() => session.client)

  it('keeps two clients in separate sessions that share the default contexts', async () => {
    const [a, b] = await Promise.all([server.connect(auth), server.connect(auth)])
    expect(a.sessionId).not.toBe(b.sessionId)
    const progress: string[] = []
    const [fromA] = await Promise.all([
      call(
        a.client,
        'run_code',
        { code: 'shared = "set by a"\nprint("to a only")' },
        { onprogress: (p) => progress.push(p.message ?? '') },
      ),
      call(b.client, 'list_contexts'),
    ])
    expect(fromA.json.stdout).toBe('to a only\n')
    expect(progress.join('')).toBe('to a only\n')
    // Default contexts belong to the server: a client's new session still sees the state.
    expect((await call(b.client, 'run_code', { code: 'print(shared)' })).json.stdout).toBe(
      'set by a\n',
    )

    await a.close()
    expect((await postMcp(server.url, { ...auth, 'mcp-session-id': a.sessionId })).status).toBe(404)
    expect((await call(b.client, 'list_contexts')).result.isError).toBeFalsy()
    await b.close()
  })

  it('requires MCP_API_KEY and refuses foreign Host and Origin headers', async () => {
    expect((await postMcp(server.url, {})).status).toBe(401)
    expect((await postMcp(server.url, { authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await postMcp(server.url, { ...auth, origin: 'https://evil.example' })).status).toBe(
      403,
    )
    expect((await postMcp(server.url, { ...auth, host: 'evil.example:3000' })).status).toBe(403)
    // Past the guards, a request without a session that is not initialize is the transport's 400.
    expect((await postMcp(server.url, { ...auth, origin: 'http://localhost:5173' })).status).toBe(
      400,
    )
  })
})

describe('Streamable HTTP: health and logs', () => {
  it('answers /health with 503 and the reason while its sandbox is down, OK once it is up', async () => {
    await using down = await startHttpServer({ SANDBOX_BASE_URL: UNREACHABLE_SANDBOX_URL })
    const answer = await fetch(down.url.replace(/\/mcp$/, '/health'))
    expect(answer.status).toBe(503)
    expect(await answer.text()).toMatch(/^UNAVAILABLE: .*127\.0\.0\.1.*ECONNREFUSED/)
    await using up = await startHttpServer({ SANDBOX_BASE_URL: sandbox.baseUrl, SANDBOX_API_KEY })
    const ok = await fetch(up.url.replace(/\/mcp$/, '/health'))
    expect([ok.status, await ok.text()]).toEqual([200, 'OK'])
  })

  it('logs neither a cancelled call nor a request before initialize as a warning or an error', async () => {
    await using server = await startHttpServer({
      SANDBOX_BASE_URL: sandbox.baseUrl,
      SANDBOX_API_KEY,
      LOG_LEVEL: 'info',
    })
    // What the Python SDK sends first on a fresh HTTP session: refused with 400, a routine answer.
    expect((await postMcp(server.url, {})).status).toBe(400)
    await using session = await server.connect()
    const running = call(
      session.client,
      'run_code',
      { code: 'import time\ntime.sleep(30)' },
      { signal: AbortSignal.timeout(1500) },
    )
    await expect(running).rejects.toThrow()
    // The next call runs once the cancelled one is over, so its log lines are written by then.
    expect((await call(session.client, 'run_code', { code: '1' })).json.success).toBe(true)
    const lines = server
      .logs()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.filter((line) => line.level >= 40)).toEqual([])
  })
})

describe('stdio, remote sandbox', () => {
  it('passes SANDBOX_API_KEY on and keeps state across calls', async () => {
    await using connection = await connectStdio({
      SANDBOX_BASE_URL: sandbox.baseUrl,
      SANDBOX_API_KEY,
    })
    const { json: created } = await call(connection.client, 'create_context', { name: 'remote' })
    const id = created.context_id
    await call(connection.client, 'run_code', { code: 'x = 100', context_id: id })
    const { json } = await call(connection.client, 'run_code', { code: 'print(x)', context_id: id })
    expect(json.stdout).toBe('100\n')
    await call(connection.client, 'stop_context', { context_id: id })
  })

  it('reports an unreachable sandbox as UNAVAILABLE', async () => {
    await using connection = await connectStdio({ SANDBOX_BASE_URL: UNREACHABLE_SANDBOX_URL })
    await expectToolError(connection.client, 'run_code', { code: '1' }, 'UNAVAILABLE')
    await expectToolError(connection.client, 'list_contexts', {}, 'UNAVAILABLE')
  })
})

/** A raw tools/list POST to /mcp with the given headers (Host included), via node:http. */
function postMcp(url: string, headers: Record<string, string>): Promise<{ status: number }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (response) => {
        response.resume()
        resolve({ status: response.statusCode ?? 0 })
      },
    )
    request.once('error', reject)
    request.end(body)
  })
}

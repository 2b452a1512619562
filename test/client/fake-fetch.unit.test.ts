/**
 * The client against scripted answers, no sandbox: retry timing, byte-level stream parsing and
 * download limits, which a real sandbox cannot be made to produce on demand.
 */
import { describe, expect, it } from 'vitest'
import { createSandboxClient, type FetchLike, SandboxApiError } from '../../client/index.js'

const result = {
  success: true,
  output: { stdout: '1\n', stderr: '', truncated: false, truncated_chars: 0 },
  results: [],
  execution_count: 1,
  execution_time: 0.01,
  context_restarted: false,
}
const limit = (retryAfter: string) =>
  Response.json(
    { error: { code: 'LIMIT_EXCEEDED', message: 'At most 32 contexts', reason: 'contexts' } },
    { status: 429, headers: { 'retry-after': retryAfter } },
  )
const bytes = (...values: number[]) => Uint8Array.from(values)

/** A fake sandbox answering from a script, recording each call and when it came. */
function scripted(answers: ((url: URL, init: RequestInit) => Response)[]) {
  const calls: { at: number; url: URL; init: RequestInit }[] = []
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input)
    calls.push({ at: performance.now(), url, init })
    const answer = answers.shift()
    if (!answer) throw new Error('unexpected call')
    return answer(url, init)
  }
  return { fetch, calls }
}

describe('429 retry', () => {
  it('retries a 429 LIMIT_EXCEEDED after the Retry-After the sandbox sent', async () => {
    const { fetch, calls } = scripted([() => limit('1'), () => Response.json(result)])
    const client = createSandboxClient({ fetch, baseUrl: 'http://sandbox', retryLimitMs: 5000 })
    const answer = await client.runOnce({ language: 'python', code: 'print(1)' })
    expect(answer.output.stdout).toBe('1\n')
    expect(calls).toHaveLength(2)
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(990)
  })

  it('gives up once the waits would pass retryLimitMs, and never retries without it', async () => {
    const { fetch, calls } = scripted([() => limit('0'), () => limit('0'), () => limit('5')])
    const client = createSandboxClient({ fetch, baseUrl: 'http://sandbox', retryLimitMs: 1000 })
    await expect(client.runOnce({ code: '1' })).rejects.toMatchObject({
      name: 'SandboxApiError',
      code: 'LIMIT_EXCEEDED',
      status: 429,
      reason: 'contexts',
      retryAfterS: 5,
    })
    expect(calls).toHaveLength(3)
    const once = scripted([() => limit('0')])
    const noRetry = createSandboxClient({ fetch: once.fetch, baseUrl: 'http://sandbox' })
    await expect(noRetry.createContext({})).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' })
    expect(once.calls).toHaveLength(1)
  })

  it('does not retry other errors, and maps an unreachable sandbox to UNAVAILABLE', async () => {
    const notFound = () =>
      Response.json(
        { error: { code: 'CONTEXT_NOT_FOUND', message: 'No context' } },
        { status: 404 },
      )
    const client = createSandboxClient({
      fetch: scripted([notFound]).fetch,
      baseUrl: 'http://sandbox',
      retryLimitMs: 10_000,
    })
    await expect(client.execute('ctx-1', { code: '1' })).rejects.toMatchObject({
      code: 'CONTEXT_NOT_FOUND',
      status: 404,
    })
    const refused: FetchLike = async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
      })
    }
    const error = await createSandboxClient({ fetch: refused, baseUrl: 'http://127.0.0.1:9' })
      .createContext({ language: 'python' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SandboxApiError)
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    })
  })
})

describe('execute events', () => {
  it('parses events split anywhere, inside a UTF-8 character and a CRLF included', async () => {
    const text =
      'event: stdout\r\ndata: {"type":"stdout","text":"héllo"}\r\n\r\n: comment\n' +
      `event: end\ndata: ${JSON.stringify({ type: 'end', result })}\n\n`
    const chunks = [...new TextEncoder().encode(text)].map((byte) => Uint8Array.of(byte))
    const stream = () => new Response(new Blob(chunks).stream())
    const client = createSandboxClient({ fetch: scripted([stream]).fetch, baseUrl: 'http://s' })
    const events: unknown[] = []
    const answer = await client.execute(
      'ctx-1',
      { code: '1' },
      { onEvent: (e) => void events.push(e) },
    )
    expect(events).toEqual([{ type: 'stdout', text: 'héllo' }])
    expect(answer).toEqual(result)
  })

  it('throws the last error event of a stream that ends without a result', async () => {
    const verdict = { name: 'X', value: 'kernel gone', traceback: '', code: 'UNAVAILABLE' }
    const stream = () =>
      new Response(`data: ${JSON.stringify({ type: 'error', error: verdict })}\n\n`)
    const client = createSandboxClient({ fetch: scripted([stream]).fetch, baseUrl: 'http://s' })
    await expect(
      client.execute('ctx-1', { code: '1' }, { onEvent: () => undefined }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'kernel gone' })
  })
})

describe('files', () => {
  it('sends raw bytes and encodes the path into the query', async () => {
    const { fetch, calls } = scripted([
      () => Response.json({ files: [{ path: 'a b/#1.csv', size: 3 }] }, { status: 201 }),
    ])
    await createSandboxClient({ fetch, baseUrl: 'http://sandbox' }).writeFile(
      'ctx-1',
      'a b/#1.csv',
      bytes(1, 2, 3),
    )
    const [sent] = calls
    expect(sent?.init.method).toBe('PUT')
    expect(sent?.url.pathname).toBe('/api/v1/contexts/ctx-1/files')
    expect(sent?.url.searchParams.get('path')).toBe('a b/#1.csv')
    expect(sent?.init.body).toEqual(bytes(1, 2, 3))
    expect(sent?.init.headers).toMatchObject({ 'content-type': 'application/octet-stream' })
  })

  it('refuses a download over maxBytes, by content-length or while streaming', async () => {
    const client = (answer: () => Response) =>
      createSandboxClient({ fetch: scripted([answer]).fetch, baseUrl: 'http://sandbox' })
    const declared = client(
      () => new Response(new Uint8Array(11), { headers: { 'content-length': '11' } }),
    )
    await expect(declared.readFile('ctx-1', 'f', { maxBytes: 10 })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      reason: 'file_size',
    })
    const streamed = client(
      () => new Response(new Blob([new Uint8Array(6), new Uint8Array(6)]).stream()),
    )
    await expect(streamed.readFile('ctx-1', 'f', { maxBytes: 10 })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    })
    const fits = client(
      () => new Response(bytes(1, 2), { headers: { 'content-type': 'image/png' } }),
    )
    expect(await fits.readFile('ctx-1', 'f', { maxBytes: 2 })).toEqual({
      bytes: Buffer.from([1, 2]),
      size: 2,
      contentType: 'image/png',
    })
  })

  it('reads a range across chunks, under maxBytes even when the file is over it', async () => {
    let cancelled = false
    const body = () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(bytes(0, 1, 2, 3))
            controller.enqueue(bytes(4, 5, 6, 7))
          },
          cancel() {
            cancelled = true
          },
        }),
        { headers: { 'content-length': '100' } },
      )
    const client = createSandboxClient({ fetch: scripted([body]).fetch, baseUrl: 'http://s' })
    const part = await client.readFile('ctx-1', 'f', { offset: 2, length: 4, maxBytes: 4 })
    expect(part).toMatchObject({ bytes: Buffer.from([2, 3, 4, 5]), size: 100 })
    // The rest of the file is never read: the download is cancelled.
    expect(cancelled).toBe(true)
  })

  it('maps the sandbox error envelope, FILE_NOT_FOUND included', async () => {
    const missing = () =>
      Response.json({ error: { code: 'FILE_NOT_FOUND', message: 'No such file' } }, { status: 404 })
    const client = createSandboxClient({ fetch: scripted([missing]).fetch, baseUrl: 'http://s' })
    await expect(client.readFile('ctx-1', 'missing')).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      status: 404,
    })
  })

  it('sends an execute with an absurd timeout, for the sandbox to refuse', async () => {
    const invalid = () =>
      Response.json(
        { error: { code: 'INVALID_PARAMS', message: 'timeout: at most 600' } },
        { status: 400 },
      )
    const { fetch, calls } = scripted([invalid])
    const client = createSandboxClient({ fetch, baseUrl: 'http://s' })
    await expect(client.execute('ctx-1', { code: '1', timeout: 1e12 })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      status: 400,
    })
    expect(calls).toHaveLength(1)
  })
})

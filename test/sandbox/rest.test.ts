import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf, type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox
let ctx: string

function exec(id: string, code: string) {
  return s.client.execute(id, { code })
}

beforeAll(async () => {
  s = await startSandbox({ maxBodyBytes: 1024 * 1024 })
  ctx = (await s.client.createContext({ language: 'python', name: 'main' })).context_id
})
afterAll(() => s?.close())

describe('contexts', () => {
  it('creates a context with the documented shape', async () => {
    const body = await s.client.getContext(ctx)
    expect(body).toMatchObject({
      type: 'jupyter',
      language: 'python',
      name: 'main',
      status: 'active',
      description: '',
    })
    expect(body.context_id).toMatch(/^ctx-[0-9a-f-]{36}$/)
    expect(Date.parse(body.created_at)).not.toBeNaN()
    expect(body.working_dir).toContain(ctx)
  })

  it('lists newest first, gets, deletes; a deleted context is gone', async () => {
    const { context_id: id } = await s.client.createContext({})
    const list = await s.client.listContexts()
    expect(list.total).toBe(list.contexts.length)
    expect(list.contexts[0]?.context_id).toBe(id)
    expect(await s.client.stopContext(id)).toEqual({ context_id: id, status: 'stopped' })
    for (const [call, gone] of [
      ['GET', () => s.client.getContext(id)],
      ['DELETE', () => s.client.stopContext(id)],
      ['POST execute', () => s.client.execute(id, { code: '1' })],
    ] as const) {
      await expect(gone(), call).rejects.toMatchObject({ status: 404, code: 'CONTEXT_NOT_FOUND' })
    }
  })

  it('starts code in its own working dir with the env it was given', async () => {
    const body = await s.client.createContext({
      working_dir: 'projects/demo',
      env: { GREETING: 'hello' },
    })
    const result = await exec(
      body.context_id,
      'import os\nprint(os.getcwd(), os.environ["GREETING"])',
    )
    expect(result.output.stdout).toBe(`${body.working_dir} hello\n`)
    expect(body.working_dir.endsWith('projects/demo')).toBe(true)
    await s.client.stopContext(body.context_id)
  })
})

describe('execute', () => {
  it('keeps state between executes', async () => {
    await exec(ctx, 'x = 100')
    const result = await exec(ctx, 'print(x + 1)')
    expect(result).toMatchObject({ success: true, output: { stdout: '101\n', stderr: '' } })
    expect(result.execution_count).toBeGreaterThan(1)
    expect(result.execution_time).toBeGreaterThan(0)
  })

  it('returns stdout and stderr separately and the last expression as a result', async () => {
    const result = await exec(ctx, 'import sys\nprint("out")\nprint("err", file=sys.stderr)\n6 * 7')
    expect(result.output).toMatchObject({ stdout: 'out\n', stderr: 'err\n', truncated: false })
    expect(result.results).toEqual([{ 'text/plain': '42', is_main_result: true }])
  })

  it('reports an exception with name, value and a plain-text traceback', async () => {
    const result = await exec(ctx, 'def f():\n    return 1 / 0\nf()')
    expect(result.success).toBe(false)
    expect(result.error).toMatchObject({ name: 'ZeroDivisionError', value: 'division by zero' })
    expect(result.error?.traceback).toContain('return 1 / 0')
    expect(result.error?.traceback).not.toContain('\u001b[')
  })

  it('runs an execute sent right after a failing one (no stop-on-error abort)', async () => {
    for (let i = 0; i < 20; i++) {
      expect((await exec(ctx, '1 / 0')).error?.name).toBe('ZeroDivisionError')
      expect((await exec(ctx, `print(${i})`)).output.stdout).toBe(`${i}\n`)
    }
  })

  it('returns a matplotlib figure as image/png and HTML as text/html', async () => {
    const result = await exec(
      ctx,
      'import matplotlib.pyplot as plt\nfrom IPython.display import HTML, display\nplt.plot([1, 2, 3])\nplt.show()\ndisplay(HTML("<b>hi</b>"))',
    )
    expect(result.success).toBe(true)
    const png = result.results.find((r) => r['image/png'])
    expect(Buffer.from(String(png?.['image/png']), 'base64').subarray(1, 4).toString()).toBe('PNG')
    expect(result.results.some((r) => r['text/html'] === '<b>hi</b>')).toBe(true)
  })

  it('streams events over SSE as output is produced', async () => {
    const response = await fetch(`${s.baseUrl}/api/v1/contexts/${ctx}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        code: 'import time\nprint("a", flush=True)\ntime.sleep(1.5)\nprint("b")\n1',
      }),
    })
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const events: { type: string; at: number; data: any }[] = []
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '))
        buffer = buffer.slice(end + 2)
        if (data) {
          const event = JSON.parse(data.slice(6))
          events.push({ type: event.type, at: Date.now(), data: event })
        }
      }
    }
    expect(events.map((e) => e.type)).toEqual(['stdout', 'stdout', 'result', 'end'])
    expect(events[0]?.data.text).toBe('a\n')
    // "a" reached the client while the cell was still sleeping, not with the final result.
    expect((events[3]?.at ?? 0) - (events[0]?.at ?? 0)).toBeGreaterThan(700)
    expect(events[3]?.data.result.output.stdout).toBe('a\nb\n')
  })
})

describe('bad input', () => {
  // Validation, status codes and the error envelope: test/sandbox/*.unit.test.ts (no Jupyter).
  // Here only what needs the real service: its maximum timeout, and a chunked body over HTTP.
  it('rejects a timeout above the maximum', async () => {
    // Raw: the client's own deadline (timeout + its request timeout) cannot express 1e12 s.
    const { status, body } = await s.rawRequest('POST', `/api/v1/contexts/${ctx}/execute`, {
      code: '1',
      timeout: 1e12,
    })
    expect([status, errorOf(body)?.code]).toEqual([400, 'INVALID_PARAMS'])
  })

  it('counts a chunked body (no Content-Length) against the same limit', async () => {
    const chunked = (text: string) =>
      fetch(`${s.baseUrl}/api/v1/contexts/${ctx}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new Blob([text]).stream(),
        duplex: 'half',
      } as RequestInit)
    const small = await chunked(JSON.stringify({ code: '40 + 2' }))
    expect(((await small.json()) as { results: unknown }).results).toEqual([
      { 'text/plain': '42', is_main_result: true },
    ])
    const large = await chunked(JSON.stringify({ code: 'x=1\n'.repeat(500_000) }))
    const refused = (await large.json()) as { error: { reason: string } }
    expect([large.status, refused.error.reason]).toEqual([413, 'request_size'])
  })
})

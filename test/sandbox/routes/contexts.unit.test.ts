/**
 * The /api/v1/contexts routes (sandbox/routes/contexts.ts) without Jupyter: what reaches the
 * context service, the status and shape of each answer, and every request refused before it gets
 * there (HOSTILE.md E1–E6, C2), over a stand-in service (test/helpers/app.ts).
 */
import { describe, expect, it } from 'vitest'
import { CANNED_CONTEXT, CANNED_RESULT, fakeApp, KNOWN_ID, postJson } from '../../helpers/app.js'

const EXECUTE = `/api/v1/contexts/${KNOWN_ID}/execute`
// biome-ignore lint/suspicious/noExplicitAny: tests read loosely-typed JSON bodies
const json = async (response: Response): Promise<any> => response.json()

describe('contexts', () => {
  it('create: 201 with the context; the service gets the body with its defaults', async () => {
    const { app, contexts } = fakeApp()
    const response = await app.request(
      '/api/v1/contexts',
      postJson({ language: 'javascript', name: 'n', env: { A: '1' } }),
    )
    expect([response.status, await json(response)]).toEqual([201, CANNED_CONTEXT])
    expect(contexts.create).toHaveBeenCalledWith({
      type: 'jupyter',
      language: 'javascript',
      name: 'n',
      env: { A: '1' },
    })
  })

  it('create without a body (and without a Content-Type) takes every default', async () => {
    const { app, contexts } = fakeApp()
    expect((await app.request('/api/v1/contexts', { method: 'POST' })).status).toBe(201)
    expect(contexts.create).toHaveBeenCalledWith({ type: 'jupyter', language: 'python' })
  })

  it('list, get, delete, interrupt, restart: 200 with the documented shapes', async () => {
    const { app, contexts } = fakeApp()
    expect(await json(await app.request('/api/v1/contexts'))).toEqual({
      contexts: [CANNED_CONTEXT],
      total: 1,
    })
    expect(await json(await app.request(`/api/v1/contexts/${KNOWN_ID}`))).toEqual(CANNED_CONTEXT)
    for (const action of ['interrupt', 'restart'] as const) {
      const response = await app.request(`/api/v1/contexts/${KNOWN_ID}/${action}`, {
        method: 'POST',
      })
      expect([response.status, await json(response)]).toEqual([200, CANNED_CONTEXT])
      expect(contexts[action]).toHaveBeenCalledWith(KNOWN_ID)
    }
    const removed = await app.request(`/api/v1/contexts/${KNOWN_ID}`, { method: 'DELETE' })
    expect([removed.status, await json(removed)]).toEqual([
      200,
      { context_id: KNOWN_ID, status: 'stopped' },
    ])
  })

  it('E4: unknown or hostile ids are 404 CONTEXT_NOT_FOUND, reaching the service as sent', async () => {
    const { app, contexts } = fakeApp()
    for (const [sent, decoded] of [
      ['ctx-doesnotexist', 'ctx-doesnotexist'],
      ['..%2F..%2Fetc', '../../etc'],
      ['x'.repeat(10_000), 'x'.repeat(10_000)],
      ['ctx-%00', 'ctx-\u0000'],
      ['ctx-%C3%BC', 'ctx-ü'],
    ] as const) {
      for (const [method, path] of [
        ['GET', `/api/v1/contexts/${sent}`],
        ['DELETE', `/api/v1/contexts/${sent}`],
        ['POST', `/api/v1/contexts/${sent}/restart`],
        ['GET', `/api/v1/contexts/${sent}/files`],
      ] as const) {
        const response = await app.request(path, { method })
        const body = await json(response)
        expect([response.status, body.error.code], `${method} ${sent.slice(0, 20)}`).toEqual([
          404,
          'CONTEXT_NOT_FOUND',
        ])
        expect(body.error.message.length).toBeLessThan(200)
      }
      expect(contexts.get).toHaveBeenLastCalledWith(decoded)
    }
  })
})

describe('execute', () => {
  it('passes code and timeout on and answers 200 with the result', async () => {
    const { app, contexts } = fakeApp()
    const response = await app.request(EXECUTE, postJson({ code: 'print(1)', timeout: 2.5 }))
    expect([response.status, await json(response)]).toEqual([200, CANNED_RESULT])
    expect(contexts.execute).toHaveBeenCalledWith(
      KNOWN_ID,
      { code: 'print(1)', timeout: 2.5 },
      expect.objectContaining({ signal: expect.any(AbortSignal) }),
    )
  })

  it('code that raises is a 200 with success: false (data, not an HTTP error)', async () => {
    const { app, contexts } = fakeApp()
    const failed = {
      ...CANNED_RESULT,
      success: false,
      error: { name: 'ZeroDivisionError', value: 'division by zero', traceback: 'tb' },
    }
    contexts.execute.mockResolvedValue(failed)
    const response = await app.request(EXECUTE, postJson({ code: '1/0' }))
    expect([response.status, await json(response)]).toEqual([200, failed])
  })

  it('an unknown context is 404 before anything runs', async () => {
    const { app, contexts } = fakeApp()
    const response = await app.request('/api/v1/contexts/ctx-x/execute', postJson({ code: '1' }))
    expect(response.status).toBe(404)
    expect(contexts.execute).not.toHaveBeenCalled()
  })
})

describe('bad input (none of it reaches the service)', () => {
  const refused = async (init: RequestInit, path = EXECUTE, overrides = {}) => {
    const { app, contexts } = fakeApp(overrides)
    const response = await app.request(path, init)
    const text = await response.text()
    expect(contexts.execute).not.toHaveBeenCalled()
    expect(contexts.create).not.toHaveBeenCalled()
    // E1: no stack trace in any refusal.
    expect(text).not.toMatch(/\bat \S+:\d+/)
    return { status: response.status, body: JSON.parse(text), headers: response.headers }
  }

  it('E1: malformed JSON is 400 INVALID_PARAMS', async () => {
    for (const body of ['{"code": "print(1)"', '{code: 1}', 'not json', '']) {
      const { status, body: error } = await refused(postJson(body))
      expect([status, error.error.code], body).toEqual([400, 'INVALID_PARAMS'])
    }
  })

  it('E2: wrong types are 400 INVALID_PARAMS naming the field', async () => {
    for (const body of [{ code: 123 }, { code: ['a'] }, { code: null }, {}, [], 'null', '"x"']) {
      const { status, body: error } = await refused(postJson(body))
      expect([status, error.error.code], JSON.stringify(body)).toEqual([400, 'INVALID_PARAMS'])
      if (typeof body === 'object' && !Array.isArray(body)) {
        expect(error.error.message).toContain('code')
        expect(error.error.issues).toEqual([expect.objectContaining({ path: 'code' })])
      }
    }
  })

  it('E2: wrong types at create name the field too', async () => {
    for (const [body, field] of [
      [{ name: 5 }, 'name'],
      [{ env: { 'BAD NAME': 'x' } }, 'env'],
      [{ env: { A: 1 } }, 'env'],
      [{ working_dir: '' }, 'working_dir'],
      [{ type: 'docker' }, 'type'],
      [{ limits: { memory_mb: 1 } }, 'limits'],
      [{ limits: { unknown: 1 } }, 'limits'],
    ] as const) {
      const { status, body: error } = await refused(postJson(body), '/api/v1/contexts')
      expect([status, error.error.code], JSON.stringify(body)).toEqual([400, 'INVALID_PARAMS'])
      expect(error.error.message).toContain(field)
    }
  })

  it('E3: unsupported languages are 400 INVALID_LANGUAGE, case and spaces included', async () => {
    for (const language of ['ruby', 'cobol', 'Python', 'python ', 'PYTHON', '', 42, null]) {
      const { status, body } = await refused(postJson({ language }), '/api/v1/contexts')
      expect([status, body.error.code], String(language)).toEqual([400, 'INVALID_LANGUAGE'])
    }
  })

  it('E5: a wrong content type is 400 INVALID_PARAMS', async () => {
    for (const headers of [
      { 'content-type': 'text/plain' },
      { 'content-type': 'multipart/form-data; boundary=x' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      {},
    ] as Record<string, string>[]) {
      const { status, body } = await refused({ method: 'POST', headers, body: '{"code":"1"}' })
      expect([status, body.error.code], JSON.stringify(headers)).toEqual([400, 'INVALID_PARAMS'])
    }
  })

  it('E6: a body over SANDBOX_MAX_BODY_BYTES is 413 LIMIT_EXCEEDED request_size', async () => {
    const code = JSON.stringify({ code: 'x=1\n'.repeat(500_000) })
    // What an HTTP server sees from a client; app.request sends no Content-Length by itself.
    const length = { 'content-length': String(Buffer.byteLength(code)) }
    const { status, body, headers } = await refused(postJson(code, length), EXECUTE, {
      maxBodyBytes: 1024 * 1024,
    })
    expect([status, body.error.code, body.error.reason]).toEqual([
      413,
      'LIMIT_EXCEEDED',
      'request_size',
    ])
    expect(body.error.message).toContain('SANDBOX_MAX_BODY_BYTES')
    expect(headers.get('connection')).toBe('close')
  })

  it('C2: a timeout that is not a positive finite number of seconds is 400 INVALID_PARAMS', async () => {
    for (const timeout of ['0', '-1', '"5"', 'null', 'NaN', '1e999', '-1e999', 'true', '[]']) {
      const { status, body } = await refused(postJson(`{"code": "1", "timeout": ${timeout}}`))
      expect([status, body.error.code], timeout).toEqual([400, 'INVALID_PARAMS'])
      // NaN is not JSON: refused as malformed rather than as a timeout.
      if (timeout !== 'NaN') expect(body.error.message, timeout).toContain('timeout')
    }
  })

  // An in-process caller (app.request / app.fetch, as the MCP server's embedded mode uses) sends
  // no Content-Length and no Transfer-Encoding: requestBodyLimit decides from those headers only,
  // so the body reaches the route uncounted. Expected to fail until the limit counts such bodies.
  it.fails('E6: an in-process request without Content-Length is capped too', async () => {
    const { status } = await refused(postJson({ code: 'x=1\n'.repeat(500_000) }), EXECUTE, {
      maxBodyBytes: 1024 * 1024,
    })
    expect(status).toBe(413)
  })
})

/**
 * The app's front door without Jupyter (sandbox/app.ts and sandbox/middleware/): /health, the
 * Host check (DNS rebinding), the API key (HOSTILE.md G1, G2, G5), /openapi.json and unknown
 * routes, over a stand-in context service (test/helpers/app.ts).
 */
import { describe, expect, it } from 'vitest'
import { fakeApp, KNOWN_ID } from '../helpers/app.js'

/** Every route of the API, with a body that passes validation. */
const ROUTES: [method: string, path: string, body?: unknown][] = [
  ['GET', '/api/v1/contexts'],
  ['POST', '/api/v1/contexts', {}],
  ['GET', `/api/v1/contexts/${KNOWN_ID}`],
  ['DELETE', `/api/v1/contexts/${KNOWN_ID}`],
  ['POST', `/api/v1/contexts/${KNOWN_ID}/execute`, { code: '1' }],
  ['POST', `/api/v1/contexts/${KNOWN_ID}/interrupt`],
  ['POST', `/api/v1/contexts/${KNOWN_ID}/restart`],
  ['GET', `/api/v1/contexts/${KNOWN_ID}/files`],
  ['GET', `/api/v1/contexts/${KNOWN_ID}/files/content?path=a.txt`],
  ['PUT', `/api/v1/contexts/${KNOWN_ID}/files?path=a.txt`, 'x'],
  ['POST', `/api/v1/contexts/${KNOWN_ID}/files`, new FormData()],
  ['DELETE', `/api/v1/contexts/${KNOWN_ID}/files?path=a.txt`],
  ['POST', '/api/v1/execute', { code: '1' }],
  ['GET', '/metrics'],
]

function init(method: string, body: unknown, headers: Record<string, string>): RequestInit {
  if (body === undefined) return { method, headers }
  if (typeof body === 'string' || body instanceof FormData) return { method, headers, body }
  return {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }
}

describe('/health', () => {
  it('answers OK without a key, whatever the Host', async () => {
    const { app } = fakeApp({ apiKey: 'sekret' })
    const response = await app.request('/health', { headers: { host: '0.0.0.0' } })
    expect([response.status, await response.text()]).toEqual([200, 'OK'])
  })

  it('answers 503 while the runtime is not healthy', async () => {
    const { app } = fakeApp({}, { healthy: false })
    const response = await app.request('/health')
    expect([response.status, await response.text()]).toEqual([503, 'UNAVAILABLE'])
  })
})

describe('API key', () => {
  const { app, contexts } = fakeApp({ apiKey: 'sekret' })

  it('G1: every API route and /metrics answer 401 UNAUTHORIZED without the key', async () => {
    for (const [method, path, body] of ROUTES) {
      const response = await app.request(path, init(method, body, {}))
      const text = await response.text()
      expect([response.status, JSON.parse(text).error.code], `${method} ${path}`).toEqual([
        401,
        'UNAUTHORIZED',
      ])
    }
    expect(contexts.create).not.toHaveBeenCalled()
    expect(contexts.execute).not.toHaveBeenCalled()
    expect(contexts.workspace).not.toHaveBeenCalled()
  })

  it('G1: the OpenAPI document lists no route this test does not cover', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const covered = ROUTES.map(
      ([method, path]) => `${method} ${path.replace(KNOWN_ID, '{id}').replace(/\?.*/, '')}`,
    )
    for (const route of documented) expect(covered, route).toContain(route)
  })

  it('G2: refuses a wrong key, another case, an empty Bearer, other schemes, the key in the query, two headers', async () => {
    const basic = (password: string) =>
      `Basic ${Buffer.from(`user:${password}`).toString('base64')}`
    // Headers trims values, so "Bearer sekret " cannot be sent from here (nor through fetch).
    for (const authorization of [
      'Bearer wrong',
      'Bearer SEKRET',
      'bearer sekre',
      'Bearer ',
      'sekret',
      'Token sekret',
      basic('wrong'),
      'Bearer wrong, Bearer sekret',
    ]) {
      const response = await app.request('/api/v1/contexts', { headers: { authorization } })
      expect(response.status, authorization).toBe(401)
    }
    const both = new Headers([
      ['authorization', 'Bearer wrong'],
      ['authorization', 'Bearer sekret'],
    ])
    expect((await app.request('/api/v1/contexts', { headers: both })).status).toBe(401)
    expect((await app.request('/api/v1/contexts?api_key=sekret')).status).toBe(401)
    expect((await app.request('/api/v1/contexts?token=sekret')).status).toBe(401)
  })

  it('accepts the key as Bearer, in any scheme case, and as the Basic password', async () => {
    for (const authorization of [
      'Bearer sekret',
      'bearer sekret',
      `Basic ${Buffer.from('user:sekret').toString('base64')}`,
    ]) {
      const response = await app.request('/api/v1/contexts', { headers: { authorization } })
      expect(response.status, authorization).toBe(200)
    }
  })

  it('G5: a 401 carries no stack, path, version or echo of the presented key', async () => {
    const response = await app.request('/api/v1/contexts', {
      headers: { authorization: 'Bearer sekret-but-wrong' },
    })
    const text = await response.text()
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(JSON.parse(text)).toEqual({
      error: { code: 'UNAUTHORIZED', message: expect.stringContaining('SANDBOX_API_KEY') },
    })
    expect(text).not.toContain('sekret')
    expect(text).not.toMatch(/\bat \S+:\d+|node_modules|\/sandbox\/|v\d+\.\d+\.\d+/)
  })

  it('serves /openapi.json without a key, and says the API needs one', async () => {
    const response = await app.request('/openapi.json')
    expect(response.status).toBe(200)
    expect(((await response.json()) as { security: unknown }).security).toEqual([{ apiKey: [] }])
  })
})

describe('no API key configured', () => {
  it('serves every route without one', async () => {
    const { app } = fakeApp()
    for (const [method, path, body] of ROUTES.filter(([, path]) => !path.endsWith('/files'))) {
      const response = await app.request(path, init(method, body, {}))
      expect(response.status, `${method} ${path}`).toBeLessThan(300)
    }
  })
})

describe('Host check (DNS rebinding)', () => {
  it('serves loopback Host names and SANDBOX_ALLOWED_HOSTS only', async () => {
    const { app } = fakeApp({ allowedHosts: ['sandbox'] })
    const get = (host: string) => app.request('/api/v1/contexts', { headers: { host } })
    for (const host of ['127.0.0.1:8080', 'localhost', 'LOCALHOST:1', '[::1]:80', 'sandbox:8080'])
      expect((await get(host)).status, host).toBe(200)
    for (const host of ['attacker.example', 'sandbox.attacker.example', '127.0.0.2', 'x:y:z']) {
      const refused = await get(host)
      expect(refused.status, host).toBe(403)
      expect(await refused.json()).toMatchObject({ error: { code: 'FORBIDDEN' } })
    }
    // Docker's HEALTHCHECK sends no Host header at all.
    expect((await app.request('/health', { headers: { host: '0.0.0.0' } })).status).toBe(200)
    // The document too is only served to allowed hosts.
    expect((await app.request('/openapi.json', { headers: { host: 'evil.example' } })).status).toBe(
      403,
    )
  })

  it('serves any Host with SANDBOX_ALLOWED_HOSTS=*', async () => {
    const { app } = fakeApp({ allowedHosts: ['*'] })
    const response = await app.request('/api/v1/contexts', {
      headers: { host: 'anything.example' },
    })
    expect(response.status).toBe(200)
  })
})

describe('routes', () => {
  it('serves an OpenAPI document generated from the schemas', async () => {
    const { app } = fakeApp()
    const response = await app.request('/openapi.json')
    expect(response.status).toBe(200)
    const body = (await response.json()) as { paths: Record<string, unknown> }
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/contexts',
        '/api/v1/contexts/{id}',
        '/api/v1/contexts/{id}/execute',
        '/api/v1/contexts/{id}/files',
        '/api/v1/execute',
      ]),
    )
  })

  it('answers an unknown route with 404 NOT_FOUND pointing at /openapi.json', async () => {
    const { app } = fakeApp()
    for (const [method, path] of [
      ['GET', '/api/v2/contexts'],
      ['PATCH', `/api/v1/contexts/${KNOWN_ID}`],
      ['GET', '/'],
    ] as const) {
      const response = await app.request(path, { method })
      expect(response.status, `${method} ${path}`).toBe(404)
      expect(await response.json()).toEqual({
        error: { code: 'NOT_FOUND', message: expect.stringContaining('/openapi.json') },
      })
    }
  })

  it('serves Prometheus metrics', async () => {
    const { app } = fakeApp()
    const response = await app.request('/metrics')
    expect(response.headers.get('content-type')).toContain('text/plain')
    expect(await response.text()).toContain('sandbox_contexts 0')
  })
})

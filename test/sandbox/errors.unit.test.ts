/**
 * sandbox/errors.ts as clients see it: every error code's HTTP status and the one envelope
 * `{error: {code, message, reason?, issues?}}`, rendered by the app's onError for an error thrown
 * anywhere below a route; Retry-After on 429; an opaque 500 for anything unexpected.
 */
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, type ErrorCode } from '../../sandbox/api.js'
import { SandboxError } from '../../sandbox/errors.js'
import { fakeApp, KNOWN_ID } from '../helpers/app.js'

/** Pinned here on purpose, not read from STATUS_BY_CODE: clients depend on these numbers. */
const EXPECTED_STATUS: Record<ErrorCode, number> = {
  INVALID_PARAMS: 400,
  INVALID_LANGUAGE: 400,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONTEXT_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  LIMIT_EXCEEDED: 429,
  EXECUTION_TIMEOUT: 504,
  EXECUTION_FAILED: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
}

/** A GET of the known context whose service call throws `error`. */
async function throwing(error: unknown) {
  const { app, contexts, metrics } = fakeApp()
  contexts.get.mockImplementation(() => {
    throw error
  })
  const response = await app.request(`/api/v1/contexts/${KNOWN_ID}`)
  return { response, body: (await response.json()) as { error: Record<string, unknown> }, metrics }
}

describe('error envelope', () => {
  it('covers every code of the contract', () => {
    expect(Object.keys(EXPECTED_STATUS).sort()).toEqual([...ERROR_CODES].sort())
  })

  it.each(ERROR_CODES)('%s: its status and {error: {code, message}}', async (code) => {
    const { response, body } = await throwing(new SandboxError(code, `${code} happened`))
    expect(response.status).toBe(EXPECTED_STATUS[code])
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(body).toEqual({ error: { code, message: `${code} happened` } })
  })

  it('carries the reason and the issues when the error has them', async () => {
    const issues = [{ path: 'code', message: 'Expected string' }]
    const { body } = await throwing(
      new SandboxError('INVALID_PARAMS', 'bad', { reason: 'why', issues }),
    )
    expect(body).toEqual({
      error: { code: 'INVALID_PARAMS', message: 'bad', reason: 'why', issues },
    })
  })

  it('LIMIT_EXCEEDED: 429 with Retry-After when the error gives one, counted by reason', async () => {
    const { response, body, metrics } = await throwing(
      new SandboxError('LIMIT_EXCEEDED', 'too many', { reason: 'contexts', retryAfterS: 5 }),
    )
    expect([response.status, response.headers.get('retry-after')]).toEqual([429, '5'])
    expect(body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', reason: 'contexts' })
    expect(await metrics.registry.metrics()).toContain(
      'sandbox_limits_hit_total{reason="contexts"} 1',
    )
  })

  it('no Retry-After on an error that does not set one', async () => {
    const { response } = await throwing(new SandboxError('UNAVAILABLE', 'down'))
    expect(response.headers.get('retry-after')).toBeNull()
  })

  it.each(['request_size', 'file_size'])(
    'LIMIT_EXCEEDED %s: 413, and the connection is closed',
    async (reason) => {
      const { response, body } = await throwing(
        new SandboxError('LIMIT_EXCEEDED', 'too big', { reason }),
      )
      expect([response.status, response.headers.get('connection')]).toEqual([413, 'close'])
      expect(body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', reason })
    },
  )

  it('an unexpected error is an opaque 500 INTERNAL: no message, stack or path of ours', async () => {
    const error = new Error('ENOENT: /srv/secret/path at Object.<anonymous> (/app/x.js:1:2)')
    const { response, body } = await throwing(error)
    expect(response.status).toBe(500)
    expect(body).toEqual({
      error: { code: 'INTERNAL', message: 'Internal error; the service log has details' },
    })
  })
})

/**
 * POST /api/v1/execute, the one-shot route (sandbox/routes/execute.ts), without Jupyter: what
 * reaches the service and what is refused before it, over a stand-in service.
 */
import { describe, expect, it } from 'vitest'
import { CANNED_RESULT, fakeApp, postJson } from '../../helpers/app.js'

describe('one-shot execute', () => {
  it('passes code, language, timeout and inline files on, with their defaults', async () => {
    const { app, contexts } = fakeApp()
    const response = await app.request(
      '/api/v1/execute',
      postJson({ code: '1', timeout: 3, files: [{ path: 'a.txt', content: 'x' }] }),
    )
    expect([response.status, await response.json()]).toEqual([200, CANNED_RESULT])
    expect(contexts.runOnce).toHaveBeenCalledWith(
      {
        code: '1',
        timeout: 3,
        language: 'python',
        files: [{ path: 'a.txt', content: 'x', encoding: 'utf-8' }],
      },
      expect.objectContaining({ signal: expect.any(AbortSignal) }),
    )
  })

  it('refuses bad input like the context API', async () => {
    const { app, contexts } = fakeApp()
    for (const [body, code] of [
      [{ language: 'cobol', code: '1' }, 'INVALID_LANGUAGE'],
      [{ language: 'python' }, 'INVALID_PARAMS'],
      [{ code: 1 }, 'INVALID_PARAMS'],
      [{ code: '1', timeout: 0 }, 'INVALID_PARAMS'],
      [{ code: '1', files: [{ path: '', content: 'x' }] }, 'INVALID_PARAMS'],
      [{ code: '1', files: [{ path: 'a', content: 'x', encoding: 'hex' }] }, 'INVALID_PARAMS'],
      [{ code: '1', files: 'a.txt' }, 'INVALID_PARAMS'],
      ['{"code": ', 'INVALID_PARAMS'],
    ] as const) {
      const response = await app.request('/api/v1/execute', postJson(body))
      const error = (await response.json()) as { error: { code: string } }
      expect([response.status, error.error.code], JSON.stringify(body)).toEqual([400, code])
    }
    expect(contexts.runOnce).not.toHaveBeenCalled()
  })
})

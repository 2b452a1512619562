/**
 * The files routes (sandbox/routes/files.ts) without Jupyter: the calls that reach a context's
 * workspace, their answers, and what is refused before (the path confinement itself is the
 * runtime's and is tested against both runtimes in test/shared/files.suite.ts).
 */
import { describe, expect, it } from 'vitest'
import { SandboxError } from '../../../sandbox/errors.js'
import { fakeApp, KNOWN_ID } from '../../helpers/app.js'

const FILES = `/api/v1/contexts/${KNOWN_ID}/files`

describe('files', () => {
  it('lists with the default limit, or the one asked for', async () => {
    const { app, contexts } = fakeApp()
    const listing = await app.request(FILES)
    expect(await listing.json()).toMatchObject({
      path: '.',
      entries: [{ name: 'a.txt' }],
      truncated: false,
    })
    expect(contexts.files.list).toHaveBeenLastCalledWith(undefined, 1000)
    await app.request(`${FILES}?path=d&limit=5`)
    expect(contexts.files.list).toHaveBeenLastCalledWith('d', 5)
  })

  it('downloads with a Content-Type from the name and a Content-Length', async () => {
    const { app } = fakeApp()
    const response = await app.request(`${FILES}/content?path=out/t.csv`)
    expect(response.headers.get('content-type')).toContain('text/csv')
    expect(response.headers.get('content-length')).toBe('1')
    expect(await response.text()).toBe('x')
  })

  it('uploads a raw body (201) beyond SANDBOX_MAX_BODY_BYTES, under SANDBOX_MAX_FILE_BYTES', async () => {
    const { app, contexts } = fakeApp({ maxBodyBytes: 10, maxFileBytes: 1000 })
    const response = await app.request(`${FILES}?path=a.bin`, {
      method: 'PUT',
      headers: { 'content-length': '100' },
      body: 'y'.repeat(100),
    })
    expect([response.status, await response.json()]).toEqual([
      201,
      { files: [{ path: 'a.bin', size: 100 }] },
    ])
    expect(contexts.files.write).toHaveBeenCalledWith('a.bin', expect.anything(), 1000)
  })

  it('uploads every file field of a multipart form under its "path" directory', async () => {
    const { app } = fakeApp()
    const form = new FormData()
    form.append('path', 'uploads')
    form.append('a', new Blob(['hello']), 'a.txt')
    form.append('b', new Blob(['{}']), 'b.json')
    const response = await app.request(FILES, { method: 'POST', body: form })
    expect([response.status, await response.json()]).toEqual([
      201,
      {
        files: [
          { path: 'uploads/a.txt', size: 5 },
          { path: 'uploads/b.json', size: 2 },
        ],
      },
    ])
  })

  it('refuses a form without a file, a form path outside the working dir, and a non-form body', async () => {
    const { app, contexts } = fakeApp()
    const empty = new FormData()
    empty.append('path', 'x')
    const escaping = new FormData()
    escaping.append('path', '../x')
    escaping.append('a', new Blob(['x']), 'a.txt')
    for (const init of [
      { method: 'POST', body: empty },
      { method: 'POST', body: escaping },
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' },
    ]) {
      const response = await app.request(FILES, init)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: { code: 'INVALID_PARAMS' } })
    }
    expect(contexts.files.write).not.toHaveBeenCalled()
  })

  it('refuses a missing, empty or over-long path, and a bad limit', async () => {
    const { app } = fakeApp()
    for (const [method, query] of [
      ['GET', '/content'],
      ['GET', '/content?path='],
      ['GET', `/content?path=${'x'.repeat(5000)}`],
      ['PUT', ''],
      ['DELETE', ''],
      ['GET', '?limit=0'],
      ['GET', '?limit=x'],
      ['GET', '?limit=100000'],
    ] as const) {
      const response = await app.request(`${FILES}${query}`, { method })
      expect(response.status, `${method} ${query.slice(0, 30)}`).toBe(400)
    }
  })

  it('deletes and answers with the path; FILE_NOT_FOUND from the workspace is a 404', async () => {
    const { app, contexts } = fakeApp()
    const removed = await app.request(`${FILES}?path=gone.txt`, { method: 'DELETE' })
    expect([removed.status, await removed.json()]).toEqual([200, { path: 'gone.txt' }])
    contexts.files.read.mockRejectedValue(new SandboxError('FILE_NOT_FOUND', 'No file gone.txt'))
    const missing = await app.request(`${FILES}/content?path=gone.txt`)
    expect([
      missing.status,
      ((await missing.json()) as { error: { code: string } }).error.code,
    ]).toEqual([404, 'FILE_NOT_FOUND'])
  })
})

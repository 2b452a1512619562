/**
 * How an execution is answered (sandbox/routes/execution-response.ts), for both execute routes,
 * without Jupyter: one JSON result, or with `Accept: text/event-stream` SSE frames (`event:` the
 * type, `data:` the JSON event) ending with `end`, or `error` when the request failed mid-stream;
 * and the request's signal reaches the service, so a client that goes away interrupts the cell.
 */
import { describe, expect, it } from 'vitest'
import { SandboxError } from '../../../sandbox/errors.js'
import { CANNED_EVENTS, CANNED_RESULT, fakeApp, KNOWN_ID, postJson } from '../../helpers/app.js'

const SSE = { accept: 'text/event-stream' }

/** The frames of an SSE body: each `event:` name and its parsed `data:`. */
function frames(text: string): { event?: string; data: unknown }[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const lines = frame.split('\n')
      const field = (name: string) =>
        lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
      return { event: field('event'), data: JSON.parse(field('data') ?? 'null') }
    })
}

describe.each([
  ['context execute', `/api/v1/contexts/${KNOWN_ID}/execute`, 'execute'],
  ['one-shot execute', '/api/v1/execute', 'runOnce'],
] as const)('%s', (_name, path, method) => {
  it('answers JSON without Accept: text/event-stream', async () => {
    const { app } = fakeApp()
    const response = await app.request(path, postJson({ code: '1' }))
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(await response.json()).toEqual(CANNED_RESULT)
  })

  it('streams every event as one SSE frame named by its type, ending with end', async () => {
    const { app } = fakeApp()
    const response = await app.request(path, postJson({ code: '1' }, SSE))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const text = await response.text()
    expect(frames(text)).toEqual(CANNED_EVENTS.map((event) => ({ event: event.type, data: event })))
    expect(text.endsWith('\n\n')).toBe(true)
  })

  it('ends a stream whose run failed with an error event carrying the code', async () => {
    const { app, contexts } = fakeApp()
    contexts[method].mockImplementation(async (...args: unknown[]) => {
      const options = args.at(-1) as { onEvent?: (event: unknown) => void }
      options.onEvent?.({ type: 'stdout', text: 'partial\n' })
      throw new SandboxError('UNAVAILABLE', 'kernel runtime gone')
    })
    const response = await app.request(path, postJson({ code: '1' }, SSE))
    expect(response.status).toBe(200)
    expect(frames(await response.text())).toEqual([
      { event: 'stdout', data: { type: 'stdout', text: 'partial\n' } },
      {
        event: 'error',
        data: {
          type: 'error',
          error: {
            name: 'UNAVAILABLE',
            value: 'kernel runtime gone',
            traceback: '',
            code: 'UNAVAILABLE',
          },
        },
      },
    ])
  })

  it('hands the request signal to the service: a client that goes away aborts it', async () => {
    const { app, contexts } = fakeApp()
    const controller = new AbortController()
    let seen: AbortSignal | undefined
    contexts[method].mockImplementation(async (...args: unknown[]) => {
      seen = (args.at(-1) as { signal: AbortSignal }).signal
      controller.abort()
      return CANNED_RESULT
    })
    await app.request(path, { ...postJson({ code: '1' }), signal: controller.signal })
    expect(seen?.aborted).toBe(true)
  })
})

describe('SSE for an unknown context', () => {
  it('is a plain 404 JSON error, not a stream', async () => {
    const { app } = fakeApp()
    const response = await app.request(
      '/api/v1/contexts/ctx-x/execute',
      postJson({ code: '1' }, SSE),
    )
    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toContain('application/json')
  })
})

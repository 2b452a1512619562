import type { Context as HonoContext } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { ExecutionEvent, ExecutionResult } from '../api.js'
import { describeError } from '../errors.js'

type Run = (options: {
  signal: AbortSignal
  onEvent?: (event: ExecutionEvent) => void
}) => Promise<ExecutionResult>

/**
 * Answers an execute request: one JSON result, or with `Accept: text/event-stream` the events as
 * output arrives, ending with `end` (or `error` when the request itself failed mid-stream).
 * The request's signal is passed on, so a client that goes away interrupts the cell.
 */
export async function respondWithExecution(c: HonoContext, run: Run): Promise<Response> {
  const signal = c.req.raw.signal
  if (!(c.req.header('accept') ?? '').includes('text/event-stream')) {
    return c.json(await run({ signal }), 200)
  }
  return streamSSE(c, async (stream) => {
    const writes: Promise<void>[] = []
    const onEvent = (event: ExecutionEvent) => {
      writes.push(stream.writeSSE({ event: event.type, data: JSON.stringify(event) }))
    }
    try {
      await run({ signal, onEvent })
    } catch (error) {
      const { code, message } = describeError(error).body.error
      onEvent({ type: 'error', error: { name: code, value: message, traceback: '', code } })
    }
    await Promise.all(writes)
  })
}

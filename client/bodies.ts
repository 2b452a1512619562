/** Reading the bodies that are more than one JSON value: the execute event stream, file downloads. */
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { type ExecutionError, ExecutionEvent, type ExecutionResult } from '../sandbox/api.js'
import { parse, SandboxApiError } from './errors.js'
import type { ExecuteOptions, FileContent, ReadFileOptions } from './sandbox-client.js'

/**
 * Reads an execute's event stream, handing every event but the last to `onEvent`.
 * @returns the result of the final `end` event
 */
export async function readEvents(
  response: Response,
  onEvent: NonNullable<ExecuteOptions['onEvent']>,
): Promise<ExecutionResult> {
  if (!response.body) throw new SandboxApiError('INTERNAL', 'The sandbox sent no event stream')
  const messages = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
  let failure: ExecutionError | undefined
  // Leaving the loop early (a throw in onEvent) cancels the stream, and so the request.
  for await (const { data } of messages) {
    const event = parse(ExecutionEvent, data)
    if (event.type === 'end') return event.result
    if (event.type === 'error') failure = event.error
    await onEvent(event)
  }
  // Without an end event, the last error event is the sandbox's verdict on the request.
  if (failure?.code) {
    throw new SandboxApiError(failure.code, failure.value, { reason: failure.reason })
  }
  throw new SandboxApiError('UNAVAILABLE', 'The sandbox ended the output stream early')
}

/**
 * Buffers `length` bytes of a download from `offset`, refusing a read over `maxBytes` as soon as
 * it is known: from content-length when sent, else while reading, so a huge file is never held in
 * memory. The stream is cancelled once the range is read, which closes the file on the sandbox.
 * @throws SandboxApiError LIMIT_EXCEEDED (reason file_size)
 */
export async function readRange(
  response: Response,
  path: string,
  {
    offset = 0,
    length = Number.POSITIVE_INFINITY,
    maxBytes = Number.POSITIVE_INFINITY,
  }: ReadFileOptions,
): Promise<FileContent> {
  const contentType = response.headers.get('content-type') ?? 'application/octet-stream'
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  const tooLarge = (size: string) =>
    new SandboxApiError(
      'LIMIT_EXCEEDED',
      `${path} is ${size} bytes, over the limit of ${maxBytes} bytes for one read`,
      { reason: 'file_size' },
    )
  if (Math.min(length, declared - offset) > maxBytes) {
    await response.body?.cancel()
    throw tooLarge(String(declared))
  }
  const chunks: Uint8Array[] = []
  let position = 0
  let kept = 0
  if (response.body) {
    for await (const chunk of response.body) {
      const from = Math.max(offset - position, 0)
      position += chunk.byteLength
      if (from >= chunk.byteLength) continue
      const part = chunk.subarray(from, from + Math.min(chunk.byteLength - from, length - kept))
      kept += part.byteLength
      if (kept > maxBytes) throw tooLarge(`more than ${maxBytes}`)
      chunks.push(part)
      // Breaking out cancels the body: the rest of the file is never sent.
      if (kept >= length) break
    }
  }
  const size = Number.isNaN(declared) ? position : declared
  return { bytes: Buffer.concat(chunks), size, contentType }
}

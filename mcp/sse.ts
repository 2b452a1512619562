/** One server-sent event: its `event:` name and its `data:` lines joined. */
export type ServerSentEvent = { event: string; data: string }

/**
 * Parses a `text/event-stream` body into events as they arrive. Comments, `id:` and `retry:` are
 * ignored: the sandbox's execute stream does not use them.
 * @param body - a response body; cancelled if iteration stops before its end
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  let event = 'message'
  let data: string[] = []
  for await (const line of readLines(body)) {
    if (line === '') {
      if (data.length) yield { event, data: data.join('\n') }
      event = 'message'
      data = []
    } else if (line.startsWith('data:')) data.push(fieldValue(line, 5))
    else if (line.startsWith('event:')) event = fieldValue(line, 6)
  }
  if (data.length) yield { event, data: data.join('\n') }
}

/** Splits a byte stream into lines (LF or CRLF), decoding UTF-8 across chunk boundaries. */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let finished = false
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) {
        finished = true
        break
      }
      // Search only the new text: an image's base64 line can span many chunks.
      let searchFrom = buffer.length
      buffer += value
      let end = buffer.indexOf('\n', searchFrom)
      while (end !== -1) {
        yield buffer.slice(0, end).replace(/\r$/, '')
        buffer = buffer.slice(end + 1)
        searchFrom = 0
        end = buffer.indexOf('\n', searchFrom)
      }
    }
    if (buffer) yield buffer
  } finally {
    // A consumer that stops early must not leave the response (and its connection) open.
    if (!finished) await reader.cancel().catch(() => undefined)
    reader.releaseLock()
  }
}

function fieldValue(line: string, nameLength: number): string {
  const value = line.slice(nameLength)
  return value.startsWith(' ') ? value.slice(1) : value
}

import { describe, expect, it } from 'vitest'
import { readServerSentEvents } from '../../mcp/sse.js'

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })
}

async function collect(stream: ReadableStream<Uint8Array>) {
  const events = []
  for await (const event of readServerSentEvents(stream)) events.push(event)
  return events
}

describe('readServerSentEvents', () => {
  it('parses events split anywhere, including inside a UTF-8 character and a CRLF', async () => {
    const bytes = new TextEncoder().encode(
      'event: stdout\r\ndata: {"text":"héllo"}\r\n\r\n: comment\nevent: end\ndata: a\ndata: b\n\n',
    )
    const chunks = [...bytes].map((byte) => Uint8Array.of(byte))
    expect(await collect(streamOf(chunks))).toEqual([
      { event: 'stdout', data: '{"text":"héllo"}' },
      { event: 'end', data: 'a\nb' },
    ])
  })

  it('cancels the body when the consumer stops early', async () => {
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: 1\n\ndata: 2\n\n'))
      },
      cancel() {
        cancelled = true
      },
    })
    for await (const event of readServerSentEvents(stream)) {
      expect(event.data).toBe('1')
      break
    }
    expect(cancelled).toBe(true)
  })
})
